//! The reading side (docs/operators.md "Tailing log files"), on a thread of its own: finds files by
//! glob (searched again every scan interval), follows each by its open handle, so a file renamed
//! away (rotation by rename) is read to its end while the new file at the path is read from its
//! start; sees a file shorter than what was read, or whose first line changed, as truncated
//! (copy-truncate) and reads it again from 0 under a new generation. Complete lines go through the
//! [`Joiner`]; records go to the shipper through a bounded channel, so reading pauses while it is
//! full and nothing is dropped. Offsets advance in the checkpoint only when the shipper has the
//! gateway's acknowledgement.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::checkpoint::{Checkpoints, Position};
use crate::config::{ReadFrom, TailArgs, WatchSpec};
use crate::identity::{fingerprint, FileId, FINGERPRINT_BYTES};
use crate::multiline::{Joined, Joiner, Start};
use crate::parse::JsonKeys;
use crate::patterns::Patterns;
use crate::record::{build, Outgoing, Source};

/// Bytes read from one file per pass, so one busy file cannot starve the others.
const READ_CHUNK: usize = 256 * 1024;

/// What stays the same while the tailer runs.
pub struct TailContext {
    pub watches: Vec<WatchSpec>,
    pub args: TailArgs,
    pub start: Start,
    pub keys: JsonKeys,
    pub patterns: Arc<Patterns>,
    pub checkpoints: Arc<Mutex<Checkpoints>>,
    pub tx: mpsc::Sender<Outgoing>,
    pub stop: Arc<std::sync::atomic::AtomicBool>,
}

/// The channel to the shipper is closed: stop.
struct Closed;

/// One open file.
struct Tracked {
    service: Arc<str>,
    path: PathBuf,
    path_text: String,
    file: File,
    dev: u64,
    ino: u64,
    /// `None` until the file has a first line to fingerprint.
    id: Option<FileId>,
    generation: u32,
    /// Bytes consumed from the file (complete lines and the partial line in `carry`).
    read_pos: u64,
    /// The partial last line (at most the record size) and where it starts.
    carry: Vec<u8>,
    carry_start: u64,
    joiner: Joiner,
    last_data: Instant,
    /// When its path stopped leading to it (renamed or deleted).
    gone_since: Option<Instant>,
    /// Set after a truncation: the next identification starts at 0 whatever the checkpoint says.
    truncated: bool,
    /// Found by the first scan (for `--read-from end`).
    at_startup: bool,
    /// Everything was read and flushed; waiting for the acknowledgements before closing.
    drained: bool,
    /// The last read found nothing: before reading what arrives next, the first line is checked
    /// (a file truncated and rewritten past the old offset in between).
    at_eof: bool,
}

pub struct Tailer {
    cx: TailContext,
    files: Vec<Tracked>,
    chunk: Vec<u8>,
    first_scan: bool,
    lines_since: u64,
    rate_since: Instant,
}

impl Tailer {
    pub fn new(cx: TailContext) -> Self {
        Tailer {
            cx,
            files: Vec::new(),
            chunk: vec![0; READ_CHUNK],
            first_scan: true,
            lines_since: 0,
            rate_since: Instant::now(),
        }
    }

    /// Runs until `stop` is set or the shipper is gone.
    pub fn run(mut self) {
        let poll_max = Duration::from_millis(self.cx.args.poll_max_ms.max(1));
        let mut idle = Duration::from_millis(1);
        let mut next_scan = Instant::now();
        while !self.cx.stop.load(std::sync::atomic::Ordering::Relaxed) {
            if Instant::now() >= next_scan {
                if self.scan().is_err() {
                    return;
                }
                next_scan = Instant::now() + self.cx.args.scan_interval();
            }
            let mut progressed = false;
            for i in 0..self.files.len() {
                match self.poll(i) {
                    Ok(n) => progressed |= n > 0,
                    Err(Closed) => return,
                }
            }
            if self.finish_quiet().is_err() {
                return;
            }
            if progressed {
                idle = Duration::from_millis(1);
            } else {
                std::thread::sleep(idle);
                idle = (idle * 2).min(poll_max);
            }
        }
    }

    /// Searches the globs: opens new files, notes files whose path no longer leads to them,
    /// checks fingerprints (a truncated and rewritten file), updates the lag gauges.
    fn scan(&mut self) -> Result<(), Closed> {
        let mut seen: HashMap<(u64, u64), ()> = HashMap::new();
        for w in &self.cx.watches {
            let paths = match glob::glob(&w.glob) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(glob = %w.glob, error = %e, "bad glob");
                    continue;
                }
            };
            for path in paths.flatten() {
                let Ok(meta) = std::fs::metadata(&path) else { continue };
                if !meta.is_file() {
                    continue;
                }
                let key = (meta.dev(), meta.ino());
                if seen.insert(key, ()).is_some() {
                    continue;
                }
                if let Some(t) = self.files.iter_mut().find(|t| (t.dev, t.ino) == key) {
                    if t.path != path {
                        tracing::info!(from = %t.path.display(), to = %path.display(), "file renamed");
                        t.path_text = path.display().to_string();
                        t.path = path;
                    }
                    t.gone_since = None;
                    continue;
                }
                let Ok(file) = File::open(&path) else { continue };
                tracing::info!(path = %path.display(), service = %w.service, "watching");
                self.files.push(Tracked {
                    service: Arc::from(w.service.as_str()),
                    path_text: path.display().to_string(),
                    path,
                    file,
                    dev: key.0,
                    ino: key.1,
                    id: None,
                    generation: 0,
                    read_pos: 0,
                    carry: Vec::new(),
                    carry_start: 0,
                    joiner: Joiner::new(self.cx.start.clone(), self.cx.args.max_record_bytes),
                    last_data: Instant::now(),
                    gone_since: None,
                    truncated: false,
                    at_startup: self.first_scan,
                    drained: false,
                    at_eof: false,
                });
            }
        }
        let now = Instant::now();
        for i in 0..self.files.len() {
            let Some(t) = self.files.get_mut(i) else { continue };
            if !seen.contains_key(&(t.dev, t.ino)) && t.gone_since.is_none() {
                tracing::info!(path = %t.path.display(), "file rotated away; reading it to its end");
                metrics::counter!("friction_logwatch_rotations_total", "kind" => "rename").increment(1);
                t.gone_since = Some(now);
            }
            if t.id.is_none() {
                self.identify(i);
            } else if t.gone_since.is_none() && self.first_line_changed(i) {
                // A file truncated and written past the old offset between two looks.
                self.truncate(i)?;
            }
        }
        // Checkpoints of files no longer open are forgotten.
        let open: Vec<FileId> = self.files.iter().filter_map(|t| t.id).collect();
        let checkpoints = self.cx.checkpoints.clone();
        if let Ok(mut c) = checkpoints.lock() {
            c.retain(|id| open.contains(id));
            self.report(&c);
        }
        self.first_scan = false;
        metrics::gauge!("friction_logwatch_files_watched").set(self.files.len() as f64);
        Ok(())
    }

    /// Lag per file (bytes not yet acknowledged) and the read rate.
    fn report(&mut self, c: &Checkpoints) {
        for t in &self.files {
            let size = t.file.metadata().map(|m| m.len()).unwrap_or(0);
            let acked = t.id.and_then(|id| c.get(&id)).map(|p| p.offset).unwrap_or(0);
            metrics::gauge!("friction_logwatch_lag_bytes", "service" => t.service.to_string(), "file" => t.path_text.clone())
                .set(size.saturating_sub(acked) as f64);
        }
        let elapsed = self.rate_since.elapsed().as_secs_f64();
        if elapsed > 0.0 {
            metrics::gauge!("friction_logwatch_lines_per_second").set(self.lines_since as f64 / elapsed);
        }
        self.lines_since = 0;
        self.rate_since = Instant::now();
    }

    /// The file's first line is no longer the one it was identified by.
    fn first_line_changed(&self, i: usize) -> bool {
        let Some(t) = self.files.get(i) else { return false };
        let Some(id) = t.id else { return false };
        let mut head = [0u8; FINGERPRINT_BYTES];
        let n = t.file.read_at(&mut head, 0).unwrap_or(0);
        fingerprint(head.get(..n).unwrap_or(&[])).is_some_and(|fp| fp != id.fingerprint)
    }

    /// Gives a file its identity once it has a first line, and its position from the checkpoint.
    fn identify(&mut self, i: usize) {
        let Some(t) = self.files.get_mut(i) else { return };
        let mut head = [0u8; FINGERPRINT_BYTES];
        let n = t.file.read_at(&mut head, 0).unwrap_or(0);
        let Some(fp) = fingerprint(head.get(..n).unwrap_or(&[])) else { return };
        let id = FileId { dev: t.dev, ino: t.ino, fingerprint: fp };
        let size = t.file.metadata().map(|m| m.len()).unwrap_or(0);
        let Ok(mut c) = self.cx.checkpoints.lock() else { return };
        let position = match c.get(&id) {
            Some(p) if !t.truncated && p.offset <= size => p.clone(),
            Some(p) => {
                Position { generation: p.generation.max(t.generation) + 1, offset: 0, path: t.path_text.clone() }
            }
            None if t.truncated => Position { generation: t.generation, offset: 0, path: t.path_text.clone() },
            None if t.at_startup && self.cx.args.read_from == ReadFrom::End => {
                // Start at the end of the last complete line.
                let offset = last_line_end(&t.file, size);
                Position { generation: 0, offset, path: t.path_text.clone() }
            }
            None => Position { generation: 0, offset: 0, path: t.path_text.clone() },
        };
        if position.offset > 0 {
            tracing::info!(path = %t.path.display(), offset = position.offset, "resuming from the checkpoint");
        }
        t.id = Some(id);
        t.generation = position.generation;
        t.read_pos = position.offset;
        t.carry_start = position.offset;
        t.carry.clear();
        t.truncated = false;
        c.set(id, Position { path: t.path_text.clone(), ..position });
    }

    /// Reads what a file has beyond its position; returns the bytes read.
    fn poll(&mut self, i: usize) -> Result<usize, Closed> {
        let Some(t) = self.files.get_mut(i) else { return Ok(0) };
        if t.drained {
            return Ok(0);
        }
        if t.id.is_none() {
            self.identify(i);
        }
        let Some(t) = self.files.get_mut(i) else { return Ok(0) };
        if t.id.is_none() {
            return Ok(0);
        }
        if t.at_eof {
            let size = t.file.metadata().map(|m| m.len()).unwrap_or(0);
            if size == t.read_pos {
                return Ok(0);
            }
            if size < t.read_pos || t.gone_since.is_none() && self.first_line_changed(i) {
                self.truncate(i)?;
            }
        }
        let Some(t) = self.files.get_mut(i) else { return Ok(0) };
        if t.id.is_none() {
            return Ok(0);
        }
        let n = match t.file.read_at(&mut self.chunk, t.read_pos) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(path = %t.path.display(), error = %e, "read failed");
                return Ok(0);
            }
        };
        if n == 0 {
            t.at_eof = true;
            let size = t.file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
            if size < t.read_pos {
                self.truncate(i)?;
            }
            return Ok(0);
        }
        t.at_eof = false;
        t.last_data = Instant::now();
        let chunk = self.chunk.get(..n).unwrap_or(&[]);
        let mut lines = 0u64;
        let mut from = 0usize;
        let chunk_start = t.read_pos;
        let max = self.cx.args.max_record_bytes.max(64);
        let mut records: Vec<Joined> = Vec::new();
        while let Some(nl) = chunk.get(from..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
            let piece = chunk.get(from..from + nl).unwrap_or(&[]);
            let end = chunk_start + (from + nl + 1) as u64;
            let line: &[u8] = if t.carry.is_empty() {
                piece
            } else {
                let room = max.saturating_sub(t.carry.len());
                t.carry.extend_from_slice(piece.get(..room.min(piece.len())).unwrap_or(&[]));
                &t.carry
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let text = String::from_utf8_lossy(line.get(..max.min(line.len())).unwrap_or(line));
            records.extend(t.joiner.push(&text, t.carry_start, end));
            t.carry.clear();
            t.carry_start = end;
            lines += 1;
            from += nl + 1;
        }
        let rest = chunk.get(from..).unwrap_or(&[]);
        let room = max.saturating_sub(t.carry.len());
        t.carry.extend_from_slice(rest.get(..room.min(rest.len())).unwrap_or(&[]));
        t.read_pos += n as u64;
        self.lines_since += lines;
        metrics::counter!("friction_logwatch_lines_read_total", "service" => t.service.to_string()).increment(lines);
        metrics::counter!("friction_logwatch_records_total", "service" => t.service.to_string())
            .increment(records.len() as u64);
        for r in records {
            self.send(i, &r)?;
        }
        if let Some(t) = self.files.get_mut(i) {
            t.last_data = Instant::now();
        }
        Ok(n)
    }

    /// Hands a record to the shipper; blocks while the buffer is full.
    fn send(&self, i: usize, record: &Joined) -> Result<(), Closed> {
        let Some(t) = self.files.get(i) else { return Ok(()) };
        let Some(id) = t.id else { return Ok(()) };
        let source = Source { service: &t.service, path: &t.path_text, file: id, generation: t.generation };
        let out = build(&source, record, friction_runtime::now_ms(), &self.cx.keys, &self.cx.patterns);
        self.cx.tx.blocking_send(out).map_err(|_| Closed)
    }

    /// [`Self::send`] for a record ended outside a read (quiet file, rotation, truncation), counted.
    fn send_counted(&self, i: usize, record: &Joined) -> Result<(), Closed> {
        if let Some(t) = self.files.get(i) {
            metrics::counter!("friction_logwatch_records_total", "service" => t.service.to_string()).increment(1);
        }
        self.send(i, record)
    }

    /// Ends the records of quiet files; closes files renamed away once read, flushed and acknowledged.
    fn finish_quiet(&mut self) -> Result<(), Closed> {
        let timeout = Duration::from_millis(self.cx.args.multiline_timeout_ms);
        let rotate_wait = Duration::from_millis(self.cx.args.rotate_wait_ms);
        let mut i = 0;
        while i < self.files.len() {
            let Some(t) = self.files.get_mut(i) else { break };
            let quiet = t.last_data.elapsed();
            // Only a file read to its end can be quiet: unread bytes may continue the record.
            if t.joiner.has_pending() && t.at_eof && quiet >= timeout {
                if let Some(r) = t.joiner.flush() {
                    self.send_counted(i, &r)?;
                }
            }
            let Some(t) = self.files.get_mut(i) else { break };
            let gone_long = t.gone_since.is_some_and(|g| g.elapsed() >= rotate_wait) && quiet >= rotate_wait;
            if gone_long && !t.drained {
                // Its partial last line is all there will be.
                if !t.carry.is_empty() {
                    let text = String::from_utf8_lossy(&t.carry).into_owned();
                    let record = t.joiner.push(&text, t.carry_start, t.read_pos);
                    t.carry.clear();
                    t.carry_start = t.read_pos;
                    if let Some(r) = record {
                        self.send_counted(i, &r)?;
                    }
                }
                let Some(t) = self.files.get_mut(i) else { break };
                if let Some(r) = t.joiner.flush() {
                    self.send_counted(i, &r)?;
                }
                let Some(t) = self.files.get_mut(i) else { break };
                t.drained = true;
            }
            let Some(t) = self.files.get(i) else { break };
            let acked = match (t.id, self.cx.checkpoints.lock()) {
                (Some(id), Ok(c)) => c.get(&id).is_some_and(|p| p.offset >= t.read_pos),
                (None, _) => true,
                (_, Err(_)) => false,
            };
            if (t.drained && acked) || (t.id.is_none() && gone_long) {
                tracing::info!(path = %t.path.display(), "closing a rotated file: read and delivered");
                if let (Some(id), Ok(mut c)) = (t.id, self.cx.checkpoints.lock()) {
                    c.retain(|x| *x != id);
                }
                self.files.swap_remove(i);
                continue;
            }
            i += 1;
        }
        Ok(())
    }

    /// A file is shorter than what was read, or starts differently: copy-truncate. What was
    /// pending is sent; reading starts again at 0 under the next generation.
    fn truncate(&mut self, i: usize) -> Result<(), Closed> {
        let Some(t) = self.files.get_mut(i) else { return Ok(()) };
        tracing::info!(path = %t.path.display(), read = t.read_pos, "file truncated; reading it from the start");
        metrics::counter!("friction_logwatch_rotations_total", "kind" => "truncate").increment(1);
        let pending = t.joiner.flush();
        if let Some(r) = pending {
            self.send_counted(i, &r)?;
        }
        let Some(t) = self.files.get_mut(i) else { return Ok(()) };
        if let (Some(old), Ok(mut c)) = (t.id, self.cx.checkpoints.lock()) {
            c.retain(|x| *x != old);
        }
        t.id = None;
        t.generation += 1;
        t.truncated = true;
        t.read_pos = 0;
        t.carry.clear();
        t.carry_start = 0;
        self.identify(i);
        Ok(())
    }
}

/// The offset just past the last newline before `size` (0 when there is none).
fn last_line_end(file: &File, size: u64) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut end = size;
    while end > 0 {
        let from = end.saturating_sub(buf.len() as u64);
        let len = (end - from) as usize;
        let Some(slice) = buf.get_mut(..len) else { return 0 };
        if file.read_exact_at(slice, from).is_err() {
            return 0;
        }
        if let Some(nl) = slice.iter().rposition(|&b| b == b'\n') {
            return from + nl as u64 + 1;
        }
        end = from;
    }
    0
}
