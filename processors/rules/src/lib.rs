//! # friction-rules
//!
//! The pure, I/O-free heart of the Friction detector: frustration rules as functions over one
//! session's ordered events (docs/architecture.md §4 "Detector"; docs/detection.md).
//!
//! The detector stage consumes sessionized events, keeps each session's recent events in state
//! and calls [`detect`] as events arrive and the event-time watermark advances. `detect` returns
//! the signals, suppressed candidates, undetermined clicks and episodes that became decidable in
//! the [`Horizon`] it is given — never one whose window is still open — with deterministic ids,
//! so replays and re-runs change nothing downstream.
//!
//! What is here:
//! - the input model ([`Event`], [`EventKind`], [`Target`]), cheap to build from borrowed buffers;
//! - [`RuleConfig`]: every threshold, documented with its default and source, overridable per
//!   project from JSON/YAML, validated by [`Rules::new`];
//! - the rules: rage click (with its `unresponsive` tier), dead, slow and undetermined clicks,
//!   disabled clicks, error clicks (JS errors and failed requests), u-turns, form abandonment,
//!   validation loops and server errors;
//! - named suppressions ([`Suppression`], predicates in [`suppress`]): a suppressed candidate is
//!   returned with its reason so the caller can count it; every signal lists what was checked;
//! - episodes: signals on one element within 10 s merge, with one primary kind and all labels;
//! - evidence on every signal, element keys, route templates, fingerprints and ids ([`element_key`],
//!   [`route_template`], [`fingerprint`], [`signal_id`]).
//!
//! Layout, lowest first: `kind` (signal kinds), `event` (input), `config`, `keys/` (element keys,
//! routes, log messages, ids), [`suppress`], `signal` (what is emitted), `judge/` (the context and
//! verdicts the rules share), `liveness`, `rules/` (one module per rule), `episode`, and `detect`,
//! which only orchestrates them. Each imports only modules listed before it.
//!
//! ```
//! use friction_rules::{detect, Event, EventKind, Horizon, Rules, SignalKind, Target};
//!
//! let rules = Rules::default();
//! let click = |id: &'static str, ts: i64| Event::new(id, "s1", "v1", 0, ts, "/checkout", EventKind::Click {
//!     button: Default::default(),
//!     modifiers: Default::default(),
//!     target: Target { tag: Some("button".into()), key: Some("pay".into()), ..Target::default() },
//! });
//! // Three clicks on a button that never responds.
//! let events = vec![click("e1", 0), click("e2", 300), click("e3", 600)];
//! let out = detect(&events, Horizon::closed(60_000), &rules);
//! assert_eq!(out.episodes.len(), 1);
//! assert_eq!(out.episodes[0].primary, SignalKind::RageClick);
//! assert!(out.episodes[0].unresponsive);
//! assert!(out.signals.iter().any(|s| s.kind == SignalKind::DeadClick));
//! ```

mod config;
mod detect;
mod episode;
mod event;
mod judge;
mod keys;
mod kind;
mod liveness;
mod rules;
mod signal;
pub mod suppress;

pub use config::{ConfigError, RuleConfig, Rules};
pub use detect::{detect, detect_counting};
pub use event::{Event, EventKind, LogLevel, Modifiers, MouseButton, NavigationKind, Target};
pub use judge::RULE_VERSION;
pub use keys::{element_key, fingerprint, log_pattern_name, normalize_log_message, route_template, signal_id};
pub use kind::SignalKind;
pub use signal::{
    episode_priority, Detection, Episode, Evidence, Horizon, LivenessCheck, PendingKey, PendingPlace, Signal,
    Suppressed,
};
pub use suppress::Suppression;
