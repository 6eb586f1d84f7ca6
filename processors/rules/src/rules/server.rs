//! Server errors from log lines (docs/architecture.md §4): every line at or above `server_error_min_level` is a
//! `server_error` signal keyed by `log:<service>:<normalized message>` — numbers, ids, hex, UUIDs
//! and e-mail addresses replaced — so the same error with different values groups into one
//! incident, and a storm of identical lines within the episode window is one episode. A line whose
//! attributes name the pattern rule it matched (`pattern`, set by friction-logwatch) is keyed by
//! `log:<service>:pattern:<name>` instead: whatever the message says, one pattern is one incident.

use std::borrow::Cow;

use crate::event::EventKind;
use crate::judge::{self, build_signal, Class, Cx, Draft, Out};
use crate::keys;
use crate::kind::SignalKind;

/// Longest element key kept for a log line (the fingerprint hashes it anyway; this keeps
/// incident listings readable and state small).
const MAX_KEY_BYTES: usize = 256;

/// Longest message (and attributes) kept in a signal's evidence.
const MAX_MESSAGE_BYTES: usize = 2048;

fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

pub(crate) fn run<'e>(cx: &Cx<'e, '_>, out: &mut Out<'e>) {
    let min = cx.rules.config().server_error_min_level;
    for e in cx.ev {
        let EventKind::Log { service, level, message, attributes } = &e.kind else {
            continue;
        };
        if *level < min || cx.skip(e.timestamp_ms) {
            continue;
        }
        let decided = cx.by_event(e.timestamp_ms);
        let mut key = match keys::log_pattern_name(attributes) {
            Some(pattern) => format!("log:{}:pattern:{pattern}", service.trim()),
            None => format!("log:{}:{}", service.trim(), keys::normalize_log_message(message)),
        };
        if key.len() > MAX_KEY_BYTES {
            let mut cut = MAX_KEY_BYTES;
            while !key.is_char_boundary(cut) {
                cut -= 1;
            }
            key.truncate(cut);
        }
        if decided.is_pending() {
            out.record(
                e.tab_id.as_deref(),
                &e.view_id,
                judge::KeyMatch::Exact(keys::fnv(&key)),
                e.timestamp_ms,
                decided,
            );
            continue;
        }
        let kind = SignalKind::ServerError;
        if cx.stub_only(Class::Signal, decided) {
            out.stub(cx, Class::Signal, e, decided, kind, false, key);
            continue;
        }
        let mut ev = judge::evidence(kind, cx.rules, vec![e.event_id.to_string()]);
        judge::detail(&mut ev, "service", service.trim());
        judge::detail(
            &mut ev,
            "level",
            match level {
                crate::LogLevel::Trace => "trace",
                crate::LogLevel::Debug => "debug",
                crate::LogLevel::Info => "info",
                crate::LogLevel::Warn => "warn",
                crate::LogLevel::Error => "error",
                crate::LogLevel::Fatal => "fatal",
            },
        );
        // What an engineer reads first on the ticket: the line itself (the gateway scrubbed it) and
        // its attributes.
        judge::detail(&mut ev, "message", clip(message, MAX_MESSAGE_BYTES));
        if !attributes.is_empty() && attributes.as_ref() != "{}" {
            judge::detail(&mut ev, "attributes", clip(attributes, MAX_MESSAGE_BYTES));
        }
        let signal = build_signal(
            e,
            decided,
            Draft {
                kind,
                label: Cow::Borrowed("server_error"),
                element_key: key,
                end_ms: e.timestamp_ms,
                evidence: ev,
                unresponsive: false,
            },
        );
        out.outcome(Class::Signal, e, decided, signal);
    }
}
