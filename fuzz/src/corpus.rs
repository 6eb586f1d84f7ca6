//! The corpus on disk: `fuzz/corpus/<target>/<file>`, one input per file. Seeds are named
//! `seed-<what>`, inputs that once made a target panic `crash-<hash>` (kept after the fix, as
//! regression inputs), inputs that took too long `slow-<hash>`.

use std::path::{Path, PathBuf};

/// The corpus kept in the repository, next to this crate.
pub fn default_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// Every input of `target` under `root`, sorted by file name; none when the folder is missing.
pub fn load(root: &Path, target: &str) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let dir = root.join(target);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "README.md" {
                continue;
            }
            out.push((name, std::fs::read(entry.path())?));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// FNV-1a, 64 bits: a stable name for an input.
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// Writes `bytes` as `<root>/<target>/<prefix>-<hash>`; returns the path.
pub fn save(root: &Path, target: &str, prefix: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{prefix}-{:016x}", fnv64(bytes)));
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// An input as text for a log line: printable ASCII as is, everything else `\xNN`, at most `max`
/// bytes of it.
pub fn escape(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(max) {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7E => out.push(char::from(b)),
            b'\n' => out.push_str("\\n"),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > max {
        out.push_str(&format!("... ({} bytes in all)", bytes.len()));
    }
    out
}
