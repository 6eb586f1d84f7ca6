//! The judging context the rules share, apart from the orchestration in `detect`: the per-call
//! context ([`Cx`]), verdicts and their timing ([`Decided`], [`Class`]), what rules push
//! ([`Out`], [`KeyMatch`]) and how a reported signal and its evidence are built ([`Draft`],
//! [`build_signal`], [`check`]). Rules, liveness and episodes import this; only `detect` runs them.

mod context;
mod out;
mod report;
mod verdict;

pub(crate) use context::Cx;
pub(crate) use out::{KeyMatch, Out};
pub use report::RULE_VERSION;
pub(crate) use report::{build_signal, check, detail, evidence, measure, measure_ms, Draft};
pub(crate) use verdict::{emitted, Class, Decided};
