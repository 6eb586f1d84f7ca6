//! `friction-fuzz`: runs the fuzz targets for a bounded time (docs/operators.md "Fuzzing").
//!
//! ```sh
//! friction-fuzz run --seconds 5            # every target, 5 s each after its corpus replay
//! friction-fuzz run --target avro_event --seconds 300
//! friction-fuzz replay                     # the corpus only (what the tests do)
//! friction-fuzz seed                       # (re)write the generated Avro seeds
//! friction-fuzz list
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use friction_fuzz::run::{self, Options, Report};
use friction_fuzz::targets::{by_name, Target};
use friction_fuzz::{corpus, seeds, TARGETS};

#[derive(Parser)]
#[command(name = "friction-fuzz", about = "Fuzz targets over Friction's parsers of hostile input")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Seconds of mutation per target, after its corpus replay.
    #[arg(long, env = "FRICTION_FUZZ_SECONDS", default_value_t = 5.0)]
    seconds: f64,
    /// Only these targets (repeat the flag); default every target.
    #[arg(long = "target")]
    targets: Vec<String>,
    /// The corpus folder (one sub-folder per target).
    #[arg(long, env = "FRICTION_FUZZ_CORPUS", default_value_os_t = corpus::default_root())]
    corpus: PathBuf,
    /// Seed of the mutations; default from the clock (printed, so a run can be repeated).
    #[arg(long, env = "FRICTION_FUZZ_SEED")]
    seed: Option<u64>,
    /// Do not write crashing or slow inputs into the corpus folder.
    #[arg(long)]
    no_save: bool,
    /// An execution longer than this is counted as slow (and the first three saved), in ms.
    #[arg(long, env = "FRICTION_FUZZ_SLOW_MS", default_value_t = 1000)]
    slow_ms: u64,
    /// An execution longer than this is a hang: the input is saved and the run stops, in ms.
    #[arg(long, env = "FRICTION_FUZZ_HANG_MS", default_value_t = 20_000)]
    hang_ms: u64,
    /// Most inputs kept in memory per target beyond its corpus.
    #[arg(long, default_value_t = 4096)]
    pool: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Replay each target's corpus, then mutate it for --seconds.
    Run(RunArgs),
    /// Replay each target's corpus only.
    Replay(RunArgs),
    /// Write the generated Avro seeds into the corpus folder.
    Seed {
        #[arg(long, env = "FRICTION_FUZZ_CORPUS", default_value_os_t = corpus::default_root())]
        corpus: PathBuf,
    },
    /// List the targets.
    List,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("friction-fuzz: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::List => {
            for t in TARGETS {
                println!("{:<18} {}", t.name, t.about);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Seed { corpus } => {
            let seeds = seeds::avro();
            for (target, name, bytes) in &seeds {
                let dir = corpus.join(target);
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let path = dir.join(format!("seed-{name}"));
                std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            }
            println!("wrote {} Avro seeds under {}", seeds.len(), corpus.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => fuzz(&args, Duration::from_secs_f64(args.seconds.max(0.0))),
        Command::Replay(args) => fuzz(&args, Duration::ZERO),
    }
}

fn fuzz(args: &RunArgs, duration: Duration) -> anyhow::Result<ExitCode> {
    let targets: Vec<&'static Target> = if args.targets.is_empty() {
        TARGETS.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for name in &args.targets {
            match by_name(name) {
                Some(t) => chosen.push(t),
                None => bail!("no target {name:?}; `friction-fuzz list` names them"),
            }
        }
        chosen
    };
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let options = Options {
        duration,
        seed,
        corpus_root: args.corpus.clone(),
        save: !args.no_save,
        slow: Duration::from_millis(args.slow_ms),
        hang: Duration::from_millis(args.hang_ms),
        pool_limit: args.pool,
    };
    println!("fuzz: seed {seed}, {:.1} s per target, corpus {}", duration.as_secs_f64(), args.corpus.display());
    run::quiet_panics();
    let mut reports = Vec::new();
    for target in targets {
        let report = run::run(target, &options).with_context(|| format!("reading the corpus of {}", target.name))?;
        print_report(&report);
        reports.push(report);
    }
    let executions: u64 = reports.iter().map(|r| r.executions).sum();
    let crashes: usize = reports.iter().map(|r| r.crashes.len()).sum();
    let failed = reports.iter().filter(|r| !r.crashes.is_empty()).count();
    println!("fuzz: {} targets, {executions} executions, {crashes} crashes (seed {seed})", reports.len());
    // The plain closing line test runners print: one per target.
    println!("fuzz: {} passed, {failed} failed", reports.len() - failed);
    Ok(if crashes == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_report(r: &Report) {
    println!(
        "fuzz: {:<17} {:>9} execs {:>8.0}/s  corpus {:>3}  outcomes {:>5}  pool {:>5}  slowest {:>6.1} ms{}  crashes {}",
        r.target,
        r.executions,
        r.per_second(),
        r.corpus_inputs,
        r.outcomes,
        r.pool,
        r.slowest.as_secs_f64() * 1000.0,
        if r.slow_inputs > 0 { format!(" ({} slow)", r.slow_inputs) } else { String::new() },
        r.crashes.len()
    );
    for c in &r.crashes {
        println!("  CRASH in {}: {}", r.target, c.message);
        if let Some(path) = &c.saved {
            println!("    saved as {}", path.display());
        }
        println!("    input ({} bytes): {}", c.input.len(), corpus::escape(&c.input, 1500));
    }
}
