//! The durable checkpoint: per file identity, the generation and the byte offset up to which the
//! gateway acknowledged every record. Written atomically (temporary file, fsync, rename, fsync of
//! the directory), so a crash at any moment leaves the previous or the new checkpoint, never a
//! torn one (docs/operators.md "Tailing log files").

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::identity::FileId;

/// The checkpoint file's name inside the checkpoint directory.
pub const FILE_NAME: &str = "checkpoints.json";
const TMP_NAME: &str = "checkpoints.json.tmp";
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a checkpoint file (version {VERSION}): {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Where a file stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Truncations seen (part of every event id).
    pub generation: u32,
    /// Bytes acknowledged: everything before this offset reached the gateway.
    pub offset: u64,
    /// The path it was last seen at (for people reading the file; identity is what counts).
    pub path: String,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    files: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    id: FileId,
    #[serde(flatten)]
    position: Position,
}

/// The checkpoints of every watched file, and where they are stored.
#[derive(Debug)]
pub struct Checkpoints {
    dir: PathBuf,
    files: HashMap<FileId, Position>,
    dirty: bool,
}

impl Checkpoints {
    /// Reads `dir/checkpoints.json` (none yet: empty), creating `dir` if needed. A leftover
    /// temporary file is from a write that did not finish and is ignored.
    pub fn load(dir: &Path) -> Result<Self, CheckpointError> {
        fs::create_dir_all(dir).map_err(|source| CheckpointError::Dir { path: dir.to_path_buf(), source })?;
        let path = dir.join(FILE_NAME);
        let files = match fs::read(&path) {
            Ok(bytes) => {
                let disk: OnDisk = serde_json::from_slice(&bytes)
                    .map_err(|source| CheckpointError::Parse { path: path.clone(), source })?;
                disk.files.into_iter().map(|e| (e.id, e.position)).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(source) => return Err(CheckpointError::Read { path, source }),
        };
        Ok(Checkpoints { dir: dir.to_path_buf(), files, dirty: false })
    }

    pub fn get(&self, id: &FileId) -> Option<&Position> {
        self.files.get(id)
    }

    /// Sets a file's position (a file found, or truncated).
    pub fn set(&mut self, id: FileId, position: Position) {
        if self.files.get(&id) != Some(&position) {
            self.files.insert(id, position);
            self.dirty = true;
        }
    }

    /// Moves a file's acknowledged offset forward; ignored for a file no longer tracked or for an
    /// older generation (an acknowledgement that arrives after a truncation).
    pub fn acknowledge(&mut self, id: &FileId, generation: u32, offset: u64) {
        if let Some(p) = self.files.get_mut(id) {
            if p.generation == generation && offset > p.offset {
                p.offset = offset;
                self.dirty = true;
            }
        }
    }

    /// Forgets every file for which `keep` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(&FileId) -> bool) {
        let before = self.files.len();
        self.files.retain(|id, _| keep(id));
        self.dirty |= self.files.len() != before;
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Writes the checkpoint if it changed since the last write.
    pub fn save_if_changed(&mut self) -> Result<(), CheckpointError> {
        if self.dirty {
            self.save()?;
        }
        Ok(())
    }

    /// Writes the checkpoint: temporary file, fsync, rename over the old one, fsync the directory.
    pub fn save(&mut self) -> Result<(), CheckpointError> {
        let mut files: Vec<Entry> =
            self.files.iter().map(|(id, position)| Entry { id: *id, position: position.clone() }).collect();
        files.sort_by(|a, b| a.position.path.cmp(&b.position.path));
        let body = serde_json::to_vec_pretty(&OnDisk { version: VERSION, files })
            .map_err(|e| CheckpointError::Write { path: self.dir.join(TMP_NAME), source: e.into() })?;
        let tmp = self.dir.join(TMP_NAME);
        let write = |tmp: &Path| -> std::io::Result<()> {
            let mut f = File::create(tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            drop(f);
            fs::rename(tmp, self.dir.join(FILE_NAME))?;
            File::open(&self.dir)?.sync_all()
        };
        write(&tmp).map_err(|source| CheckpointError::Write { path: tmp.clone(), source })?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_survive_a_reload_and_ignore_stale_acknowledgements() {
        let dir = tempfile::tempdir().expect("tmp");
        let id = FileId { dev: 1, ino: 2, fingerprint: u64::MAX };
        let mut c = Checkpoints::load(dir.path()).expect("load");
        assert!(c.is_empty());
        c.set(id, Position { generation: 1, offset: 0, path: "/a.log".into() });
        c.acknowledge(&id, 1, 120);
        c.acknowledge(&id, 0, 500); // an older generation
        c.acknowledge(&id, 1, 100); // never backwards
        c.acknowledge(&FileId { ino: 3, ..id }, 1, 7); // unknown file
        c.save_if_changed().expect("save");
        // A torn temporary file from a crashed write is ignored.
        fs::write(dir.path().join(TMP_NAME), b"{\"vers").expect("tmp");
        let again = Checkpoints::load(dir.path()).expect("reload");
        assert_eq!(again.get(&id), Some(&Position { generation: 1, offset: 120, path: "/a.log".into() }));
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn a_corrupt_checkpoint_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().expect("tmp");
        fs::write(dir.path().join(FILE_NAME), b"garbage").expect("write");
        assert!(matches!(Checkpoints::load(dir.path()), Err(CheckpointError::Parse { .. })));
    }
}
