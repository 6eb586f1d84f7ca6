//! The allocator's settings that must be in place when the process starts.
//!
//! mimalloc (the global allocator, see the crate root) returns memory that has been free for a
//! second to the OS (v3's `purge_delay`, 1,000 ms). A stage frees and allocates all the time
//! (windows slide, sessions close), so it kept giving pages back and faulting them in again,
//! zeroed by the kernel: ~10 % of the detector's in-process throughput once its heap had aged
//! (benches/HISTORY.md, "Allocator purge delay"). mimalloc reads its options only from the
//! environment, when it starts (before `main`), and setting one from code needs an FFI call
//! (`unsafe`, which this workspace forbids). So [`tune`] re-executes the binary once with the
//! option in its environment: same PID, arguments and open files.

/// mimalloc's environment variable for how long freed memory is kept before it is returned.
pub const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// The purge delay Friction's binaries run with unless [`PURGE_DELAY_VAR`] is set: freed memory is
/// reused within seconds while events flow, and returned to the OS after 10 s without use.
pub const PURGE_DELAY_MS: u32 = 10_000;

/// Call first thing in `main`: unless [`PURGE_DELAY_VAR`] is set (an operator's own value wins),
/// replaces the process with the same binary and arguments and that variable set to
/// [`PURGE_DELAY_MS`]. Returns only when there is nothing to do or the re-execution failed (the
/// binary then runs with mimalloc's defaults, which is slower, not wrong).
pub fn tune() {
    if std::env::var_os(PURGE_DELAY_VAR).is_some() {
        return;
    }
    #[cfg(unix)]
    {
        use std::ffi::OsString;
        use std::os::unix::process::CommandExt;
        let Ok(exe) = std::env::current_exe() else { return };
        let mut args = std::env::args_os();
        let arg0: Option<OsString> = args.next();
        let mut command = std::process::Command::new(exe);
        if let Some(arg0) = arg0 {
            command.arg0(arg0);
        }
        // `exec` only returns on failure (e.g. the binary was replaced on disk since it started).
        let _failed = command.args(args).env(PURGE_DELAY_VAR, PURGE_DELAY_MS.to_string()).exec();
    }
}
