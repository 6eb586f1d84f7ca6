//! The results table the stage benches print: one row per run, its rate and its ratio to the first
//! run (the checksum baseline), then the per-core verdicts (docs/architecture.md §9: ≥ 1M events/s per core).

use std::time::{Duration, Instant};

/// One timed run.
#[derive(Debug)]
pub struct Run {
    pub name: String,
    pub events: usize,
    pub elapsed: Duration,
    pub note: String,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

/// The fastest of `n` (at least one) runs of `f`, with what that run returned (runs are short on a
/// shared VM; the fastest is the least disturbed).
pub fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..n.max(1) {
        let t = Instant::now();
        let v = f();
        let d = t.elapsed();
        if best.as_ref().is_none_or(|(fastest, _)| d < *fastest) {
            best = Some((d, v));
        }
    }
    best.expect("at least one run")
}

/// Prints the table (ratios against the first run), then the ≥ 1M events/s verdict of every run
/// whose name starts with one of `per_core`.
pub fn print(runs: &[Run], per_core: &[&str]) {
    let Some(base) = runs.first().map(Run::rate) else { return };
    println!("\n| run | events | time | events/s | vs checksum baseline | notes |");
    println!("|---|---:|---:|---:|---:|---|");
    for r in runs {
        println!(
            "| {} | {} | {:.3} s | {:.0} | {:.4} | {} |",
            r.name,
            r.events,
            r.elapsed.as_secs_f64(),
            r.rate(),
            r.rate() / base,
            r.note
        );
    }
    println!();
    for r in runs.iter().filter(|r| per_core.iter().any(|p| r.name.starts_with(p))) {
        let verdict = if r.rate() >= 1_000_000.0 { "met" } else { "NOT met" };
        println!("{}: {:.0} events/s on one thread (target ≥ 1M: {verdict})", r.name, r.rate());
    }
}
