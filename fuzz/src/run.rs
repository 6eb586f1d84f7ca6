//! The runner: replays a target's corpus, then mutates it for a bounded time. Every execution is
//! under `catch_unwind`; a panicking input is saved as `crash-<hash>` in the target's corpus folder
//! and reported with the panic's message and place. A watchdog thread saves and reports an input
//! that runs longer than the hang limit and stops the process (an input that hangs a parser would
//! hang a stage).

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::corpus;
use crate::mutate::mutate;
use crate::rng::Rng;
use crate::targets::Target;

/// How a run is bounded and where it keeps things.
#[derive(Debug, Clone)]
pub struct Options {
    /// Mutation time after the corpus replay.
    pub duration: Duration,
    pub seed: u64,
    pub corpus_root: PathBuf,
    /// Whether crashing and slow inputs are written to the corpus folder.
    pub save: bool,
    /// An execution longer than this, twice in a row, is recorded as slow (and saved).
    pub slow: Duration,
    /// An execution longer than this stops the process (see the module doc).
    pub hang: Duration,
    /// Most inputs kept in memory per target beyond the corpus.
    pub pool_limit: usize,
}

/// One input that made the target panic.
#[derive(Debug, Clone)]
pub struct Crash {
    pub message: String,
    pub input: Vec<u8>,
    pub saved: Option<PathBuf>,
}

/// What a run of one target did.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: &'static str,
    pub corpus_inputs: usize,
    pub executions: u64,
    pub elapsed: Duration,
    /// Distinct outcomes reached (see `targets::Outcome`).
    pub outcomes: usize,
    /// Inputs kept for mutation at the end (corpus included).
    pub pool: usize,
    /// Distinct panics (by message), with the first input that caused each.
    pub crashes: Vec<Crash>,
    pub slowest: Duration,
    pub slow_inputs: usize,
}

impl Report {
    pub fn per_second(&self) -> f64 {
        self.executions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Replaces the panic hook with one that records the message and place instead of printing them;
/// the runner prints each distinct crash once.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "(no message)".to_string()
        };
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{message}{place}")));
    }));
}

/// What the watchdog watches: the input being run and since when (ms since `epoch`, 0 = idle).
struct Watched {
    epoch: Instant,
    started_ms: AtomicU64,
    input: Mutex<Vec<u8>>,
    stop: AtomicBool,
}

fn watchdog(target: &'static str, watched: Arc<Watched>, options: Options) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let hang_ms = options.hang.as_millis() as u64;
        while !watched.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            let started = watched.started_ms.load(Ordering::Relaxed);
            let now = watched.epoch.elapsed().as_millis() as u64;
            if started != 0 && now.saturating_sub(started) > hang_ms {
                let input = watched.input.lock().map(|i| i.clone()).unwrap_or_default();
                let saved =
                    options.save.then(|| corpus::save(&options.corpus_root, target, "hang", &input).ok()).flatten();
                eprintln!(
                    "fuzz: {target}: an input ran longer than {} ms (hang){}\n  input: {}",
                    hang_ms,
                    saved.map(|p| format!(", saved as {}", p.display())).unwrap_or_default(),
                    corpus::escape(&input, 2000)
                );
                std::process::exit(3);
            }
        }
    })
}

/// Runs one input; the panic message if it panicked.
pub fn execute(target: &Target, input: &[u8]) -> Result<u64, String> {
    LAST_PANIC.with(|p| p.borrow_mut().take());
    catch_unwind(AssertUnwindSafe(|| (target.run)(input))).map_err(|_| {
        LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "(panic message not recorded)".to_string())
    })
}

/// Replays `target`'s corpus, then mutates for `options.duration`.
pub fn run(target: &'static Target, options: &Options) -> std::io::Result<Report> {
    let corpus = corpus::load(&options.corpus_root, target.name)?;
    let mut rng = Rng::new(options.seed ^ corpus::fnv64(target.name.as_bytes()));
    let watched = Arc::new(Watched {
        epoch: Instant::now(),
        started_ms: AtomicU64::new(0),
        input: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });
    let dog = watchdog(target.name, watched.clone(), options.clone());
    let mut state = State {
        target,
        options,
        watched: &watched,
        outcomes: HashSet::new(),
        crashes: Vec::new(),
        executions: 0,
        slowest: Duration::ZERO,
        slow_inputs: 0,
    };
    let started = Instant::now();
    let mut pool: Vec<Vec<u8>> = Vec::new();
    for (_, input) in &corpus {
        state.one(input);
        pool.push(input.clone());
    }
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let fixed = pool.len();
    let deadline = Instant::now() + options.duration;
    while Instant::now() < deadline {
        // A batch between clock reads.
        for _ in 0..16 {
            let parent = &pool[rng.below(pool.len())];
            let structured = if rng.one_in(2) {
                crate::tree::mutate_tree(parent, target.structure, target.dictionary, &mut rng)
                    .filter(|i| i.len() <= target.max_len)
            } else {
                None
            };
            let input = match structured {
                Some(input) => input,
                None => mutate(parent, &pool, target.dictionary, target.max_len, &mut rng),
            };
            if state.one(&input) {
                if pool.len() < fixed + options.pool_limit {
                    pool.push(input);
                } else {
                    // Replace an input found in this run, never a corpus one.
                    let at = fixed + rng.below(options.pool_limit.max(1));
                    if at < pool.len() {
                        pool[at] = input;
                    }
                }
            }
        }
    }
    watched.stop.store(true, Ordering::Relaxed);
    let _ = dog.join();
    Ok(Report {
        target: target.name,
        corpus_inputs: corpus.len(),
        executions: state.executions,
        elapsed: started.elapsed(),
        outcomes: state.outcomes.len(),
        pool: pool.len(),
        crashes: state.crashes,
        slowest: state.slowest,
        slow_inputs: state.slow_inputs,
    })
}

struct State<'a> {
    target: &'static Target,
    options: &'a Options,
    watched: &'a Watched,
    outcomes: HashSet<u64>,
    crashes: Vec<Crash>,
    executions: u64,
    slowest: Duration,
    slow_inputs: usize,
}

impl State<'_> {
    /// Runs one input; whether it reached an outcome not seen before (and should be kept).
    fn one(&mut self, input: &[u8]) -> bool {
        if let Ok(mut current) = self.watched.input.lock() {
            current.clear();
            current.extend_from_slice(input);
        }
        let t0 = Instant::now();
        self.watched.started_ms.store((self.watched.epoch.elapsed().as_millis() as u64).max(1), Ordering::Relaxed);
        let result = execute(self.target, input);
        self.watched.started_ms.store(0, Ordering::Relaxed);
        let took = t0.elapsed();
        self.executions += 1;
        self.slowest = self.slowest.max(took);
        if took > self.options.slow {
            // Run once more: on a shared machine one slow run may be the scheduler's doing.
            let t1 = Instant::now();
            let _ = execute(self.target, input);
            if t1.elapsed() > self.options.slow {
                self.slow_inputs += 1;
                if self.options.save && self.slow_inputs <= 3 {
                    let _ = corpus::save(&self.options.corpus_root, self.target.name, "slow", input);
                }
            }
        }
        match result {
            Ok(outcome) => self.outcomes.insert(outcome),
            Err(message) => {
                // One report per place that panicked (the hook appends it last).
                let place = message.rsplit(" at ").next().unwrap_or(&message);
                let key = crate::targets::outcome(place);
                if self.outcomes.insert(key ^ 0xC4A5_4C4A_5C4A_5C4A) {
                    let saved = if self.options.save {
                        corpus::save(&self.options.corpus_root, self.target.name, "crash", input).ok()
                    } else {
                        None
                    };
                    self.crashes.push(Crash { message, input: input.to_vec(), saved });
                }
                false
            }
        }
    }
}
