//! `allocator::tune` re-executes the binary with mimalloc's purge delay set, keeping its arguments,
//! and leaves an operator's own value alone. The child is this test binary, running the ignored
//! `child` test only.

use std::process::Command;

use friction_runtime::allocator::{tune, PURGE_DELAY_MS, PURGE_DELAY_VAR};

const CHILD_ARGS: [&str; 4] = ["child", "--exact", "--ignored", "--nocapture"];

/// Run by [`run`] in a child process, never by the suite itself.
#[test]
#[ignore = "the child process of tune_reexecutes_with_the_purge_delay"]
fn child() {
    tune();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let delay = std::env::var(PURGE_DELAY_VAR).unwrap_or_else(|_| "unset".into());
    println!("child: delay={delay} args={}", args.join(" "));
}

/// The line the child printed.
fn run(env: Option<&str>) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = Command::new(exe);
    command.args(CHILD_ARGS);
    match env {
        Some(v) => command.env(PURGE_DELAY_VAR, v),
        None => command.env_remove(PURGE_DELAY_VAR),
    };
    let out = command.output().expect("run the child");
    assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("child: ")).collect();
    assert_eq!(lines.len(), 1, "the child test ran once: {stdout}");
    lines[0].to_string()
}

#[test]
fn tune_reexecutes_with_the_purge_delay() {
    let args = CHILD_ARGS.join(" ");
    assert_eq!(run(None), format!("child: delay={PURGE_DELAY_MS} args={args}"));
}

#[test]
fn tune_keeps_an_operators_purge_delay() {
    let args = CHILD_ARGS.join(" ");
    assert_eq!(run(Some("-1")), format!("child: delay=-1 args={args}"));
}
