//! Joining lines into records (docs/operators.md "Tailing log files"): a stack trace belongs to the
//! line that started it. Pure: lines in, records out, no I/O and no clock (the tailer decides when a
//! quiet file's pending record is flushed).
//!
//! Without a start pattern ([`Start::Auto`]), a line continues the pending record when it is
//! indented or blank (Java `\tat ...`, Node `    at ...`, Python's `  File ...`, Rust backtrace
//! frames), when it is a Java `Caused by:` / `... N more`, Rust's `stack backtrace:` / `note: ...`
//! or the message line after `panicked at file:line:col:`, Python's chaining lines and the
//! exception line that ends a traceback; and, when the pending record is one line that looks like
//! an error, a `Traceback (most recent call last):` or an exception line
//! (`java.lang.IllegalStateException: x`, `TypeError: x`). Everything else starts a record. With [`Start::Pattern`], a line starts a record
//! exactly when it matches.
//!
//! Where a record starts depends only on the lines since the previous record's start, so reading
//! again from a record boundary (after a restart) yields the same records at the same offsets.

use regex::Regex;

/// How the start of a record is recognised.
#[derive(Debug, Clone)]
pub enum Start {
    /// The built-in rules for Java, Python, Node and Rust traces (module docs).
    Auto,
    /// A line starts a record exactly when it matches (`^` makes every line a record).
    Pattern(Regex),
}

/// A joined record: its text (lines joined by `\n`) and the bytes of the file it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub text: String,
    /// Offset of its first byte.
    pub start: u64,
    /// Offset just past its last line's newline.
    pub end: u64,
    pub lines: u32,
    /// Lines or bytes were left out to stay within the record size.
    pub truncated: bool,
}

/// What the rules remember between lines of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trace {
    None,
    /// After `Traceback (most recent call last):`: the first line that is not indented is the
    /// exception line and still belongs to the record.
    Python,
    /// After Python's "During handling of the above exception..." / "The above exception was...":
    /// the next `Traceback` continues the record.
    PythonChain,
    /// After `thread '...' panicked at src/x.rs:1:2:`: the next line is the panic message.
    RustPanic,
}

/// Joins a file's lines into records.
#[derive(Debug)]
pub struct Joiner {
    start: Start,
    max_bytes: usize,
    pending: Option<Joined>,
    /// The pending record's first line looks like an error (decides whether a traceback or an
    /// exception line joins it).
    pending_is_error: bool,
    trace: Trace,
}

impl Joiner {
    /// A joiner keeping at most `max_bytes` of text per record (at least 64).
    pub fn new(start: Start, max_bytes: usize) -> Self {
        Joiner { start, max_bytes: max_bytes.max(64), pending: None, pending_is_error: false, trace: Trace::None }
    }

    /// True when a record is waiting for more lines.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Feeds one line (without its newline) covering bytes `start..end`; returns the previous record
    /// when this line starts a new one.
    pub fn push(&mut self, line: &str, start: u64, end: u64) -> Option<Joined> {
        let continues = self.pending.is_some() && self.continues(line);
        if continues {
            if let Some(p) = self.pending.as_mut() {
                append(p, line, self.max_bytes);
                p.end = end;
                p.lines += 1;
            }
            self.trace = next_trace(self.trace, line);
            return None;
        }
        let done = self.flush();
        let mut record = Joined { text: String::new(), start, end, lines: 1, truncated: false };
        append(&mut record, line, self.max_bytes);
        self.pending_is_error = looks_like_error(line);
        self.trace = next_trace(Trace::None, line);
        self.pending = Some(record);
        done
    }

    /// The pending record, if any, ended (trailing blank lines removed from its text).
    pub fn flush(&mut self) -> Option<Joined> {
        self.trace = Trace::None;
        let mut record = self.pending.take()?;
        let kept = record.text.trim_end().len();
        record.text.truncate(kept);
        Some(record)
    }

    fn continues(&self, line: &str) -> bool {
        match &self.start {
            Start::Pattern(re) => !re.is_match(line),
            Start::Auto => self.continues_auto(line),
        }
    }

    fn continues_auto(&self, line: &str) -> bool {
        let first = line.as_bytes().first().copied();
        if matches!(first, None | Some(b' ' | b'\t')) || line.trim().is_empty() {
            return true;
        }
        match self.trace {
            Trace::Python | Trace::RustPanic => return true,
            Trace::PythonChain if line.starts_with(TRACEBACK) => return true,
            _ => {}
        }
        if line.starts_with("Caused by: ")
            || line.starts_with("Suppressed: ")
            || line.starts_with("stack backtrace:")
            || line.starts_with("note: ")
            || line.starts_with(PY_CHAIN_1)
            || line.starts_with(PY_CHAIN_2)
            || is_more_frames(line)
        {
            return true;
        }
        // Only right after a single error line: `log.error("...", e)` writes the line, then the
        // exception; after a trace that already ended, `Error: x` starts the next record.
        let single_error_line = self.pending_is_error && self.pending.as_ref().is_some_and(|p| p.lines == 1);
        single_error_line && (line.starts_with(TRACEBACK) || is_exception_line(line))
    }
}

const TRACEBACK: &str = "Traceback (most recent call last):";
const PY_CHAIN_1: &str = "During handling of the above exception";
const PY_CHAIN_2: &str = "The above exception was the direct cause";

fn next_trace(current: Trace, line: &str) -> Trace {
    if line.starts_with(TRACEBACK) {
        return Trace::Python;
    }
    if line.starts_with(PY_CHAIN_1) || line.starts_with(PY_CHAIN_2) {
        return Trace::PythonChain;
    }
    if is_panic_header(line) {
        return Trace::RustPanic;
    }
    let indented_or_blank = matches!(line.as_bytes().first(), None | Some(b' ' | b'\t')) || line.trim().is_empty();
    match current {
        // Frames and blank lines keep a traceback open; its exception line closes it.
        Trace::Python if indented_or_blank => Trace::Python,
        Trace::PythonChain if line.trim().is_empty() => Trace::PythonChain,
        _ => Trace::None,
    }
}

/// `thread 'main' panicked at src/main.rs:5:5:` (Rust ≥ 1.73 puts the message on the next line).
fn is_panic_header(line: &str) -> bool {
    line.starts_with("thread '") && line.contains("' panicked at ") && line.trim_end().ends_with(':')
}

/// Java's `... 12 more` (usually indented, sometimes not).
fn is_more_frames(line: &str) -> bool {
    line.strip_prefix("... ")
        .and_then(|rest| rest.strip_suffix(" more"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `java.lang.IllegalStateException: boom`, `TypeError: x is undefined`, `ValueError`:
/// an identifier (dots allowed) ending in `Exception`, `Error` or `Throwable`, then `:` or nothing.
fn is_exception_line(line: &str) -> bool {
    let name_end = line.find(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '$'))).unwrap_or(line.len());
    let name = line.get(..name_end).unwrap_or("");
    let rest = line.get(name_end..).unwrap_or("");
    (name.ends_with("Exception") || name.ends_with("Error") || name.ends_with("Throwable"))
        && (rest.is_empty() || rest.starts_with(':'))
}

/// The first line of a record that a traceback or an exception line may belong to.
fn looks_like_error(line: &str) -> bool {
    let head = line.get(..line.len().min(200)).unwrap_or(line);
    ["ERROR", "Error", "error", "SEVERE", "FATAL", "Fatal", "CRITICAL", "Exception", "exception", "panic", "PANIC"]
        .iter()
        .any(|w| head.contains(w))
}

/// Appends a line (after a `\n` unless it is the first), within `max` bytes of text.
fn append(record: &mut Joined, line: &str, max: usize) {
    let sep = usize::from(!record.text.is_empty() || record.lines > 1);
    let room = max.saturating_sub(record.text.len() + sep);
    if room == 0 {
        record.truncated = true;
        return;
    }
    if sep == 1 {
        record.text.push('\n');
    }
    if line.len() <= room {
        record.text.push_str(line);
    } else {
        let mut cut = room;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        record.text.push_str(line.get(..cut).unwrap_or(""));
        record.truncated = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `text` into lines with offsets and joins them; returns the records' texts.
    fn join(start: Start, text: &str) -> Vec<Joined> {
        let mut j = Joiner::new(start, 32 * 1024);
        let mut out = Vec::new();
        let mut offset = 0u64;
        for line in text.split_inclusive('\n') {
            let end = offset + line.len() as u64;
            out.extend(j.push(line.trim_end_matches('\n'), offset, end));
            offset = end;
        }
        out.extend(j.flush());
        out
    }

    fn texts(start: Start, text: &str) -> Vec<String> {
        join(start, text).into_iter().map(|r| r.text).collect()
    }

    #[test]
    fn java_traces_join_their_log_line() {
        let log = "2024-01-15 10:00:00 ERROR Checkout failed\n\
                   java.lang.IllegalStateException: MISSING_PRICE\n\
                   \tat com.pos.Cart.total(Cart.java:42)\n\
                   \tat com.pos.Checkout.run(Checkout.java:7)\n\
                   Caused by: java.lang.NullPointerException\n\
                   \t... 3 more\n\
                   2024-01-15 10:00:01 INFO next\n";
        let r = join(Start::Auto, log);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].lines, 6);
        assert!(r[0].text.ends_with("\t... 3 more"));
        assert_eq!((r[0].start, r[1].end), (0, log.len() as u64));
        assert_eq!(r[0].end, r[1].start);
    }

    #[test]
    fn python_tracebacks_join_with_their_exception_line_and_chains() {
        let log = "ERROR:root:charge failed\n\
                   Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    f()\n\
                   KeyError: 'price'\n\
                   \n\
                   During handling of the above exception, another exception occurred:\n\
                   \n\
                   Traceback (most recent call last):\n  File \"a.py\", line 3, in <module>\n\
                   ValueError: no price\n\
                   INFO:root:next\n";
        let t = texts(Start::Auto, log);
        assert_eq!(t.len(), 2, "{t:#?}");
        assert!(t[0].starts_with("ERROR:root:charge failed\nTraceback"));
        assert!(t[0].ends_with("ValueError: no price"));
        // A traceback on its own (uncaught, on stderr) is a record of its own.
        let t =
            texts(Start::Auto, "INFO:root:started\nTraceback (most recent call last):\n  File \"x\"\nKeyError: 1\n");
        assert_eq!(t.len(), 2, "{t:#?}");
        assert_eq!(t[1].lines().count(), 3);
    }

    #[test]
    fn node_and_rust_traces_join() {
        let node = "Error: MISSING_PRICE for product 999\n    at total (/app/cart.js:10:5)\n    at main (/app/index.js:3:1)\nlistening\n";
        assert_eq!(texts(Start::Auto, node).len(), 2);
        let rust = "thread 'main' panicked at src/cart.rs:42:9:\n\
                    no price for product 999\n\
                    stack backtrace:\n   0: rust_begin_unwind\n             at /rustc/x/library/std/src/panicking.rs:645:5\n\
                    note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n\
                    server started\n";
        let t = texts(Start::Auto, rust);
        assert_eq!(t.len(), 2, "{t:#?}");
        assert!(t[0].contains("no price for product 999"));
        assert_eq!(t[1], "server started");
    }

    #[test]
    fn exception_lines_join_only_error_records() {
        let t = texts(Start::Auto, "INFO ready\nTypeError: x\n");
        assert_eq!(t.len(), 2);
        let t = texts(Start::Auto, "ERROR boom\nTypeError: x\n");
        assert_eq!(t.len(), 1);
        // After a trace that ended, an exception line is the next record.
        let t = texts(
            Start::Auto,
            "ERROR boom\nTraceback (most recent call last):\n  File x\nKeyError: 1\nError: next\n    at x\n",
        );
        assert_eq!(t.len(), 2, "{t:#?}");
    }

    #[test]
    fn a_start_pattern_decides_alone() {
        let re = Regex::new(r"^\d{4}-").expect("regex");
        let t = texts(Start::Pattern(re), "2024-01-01 a\nplain continuation\n2024-01-02 b\n");
        assert_eq!(t, vec!["2024-01-01 a\nplain continuation", "2024-01-02 b"]);
        let every = Regex::new("^").expect("regex");
        assert_eq!(texts(Start::Pattern(every), "a\n\tb\n").len(), 2);
    }

    #[test]
    fn records_are_bounded() {
        let mut j = Joiner::new(Start::Auto, 100);
        assert!(j.push("ERROR start", 0, 12).is_none());
        for i in 0..50u64 {
            assert!(j.push("\tat frame.with.a.long.name(File.java:1)", 12 + i * 40, 52 + i * 40).is_none());
        }
        let r = j.flush().expect("record");
        assert!(r.text.len() <= 100 && r.truncated && r.lines == 51);
        assert_eq!(r.end, 52 + 49 * 40);
        let mut j = Joiner::new(Start::Auto, 64);
        j.push(&"é".repeat(100), 0, 201);
        let r = j.flush().expect("record");
        assert!(r.text.len() <= 64 && r.truncated);
    }

    #[test]
    fn restarting_at_a_record_boundary_gives_the_same_records() {
        let log =
            "ERROR a\n\tat x\nINFO b\nERROR c\nTraceback (most recent call last):\n  File x\nKeyError: 1\nINFO d\n";
        let all = join(Start::Auto, log);
        for r in &all {
            let rest = &log[r.start as usize..];
            let again: Vec<_> = join(Start::Auto, rest)
                .into_iter()
                .map(|mut x| {
                    x.start += r.start;
                    x.end += r.start;
                    x
                })
                .collect();
            let tail: Vec<_> = all.iter().filter(|x| x.start >= r.start).cloned().collect();
            assert_eq!(again, tail);
        }
    }
}
