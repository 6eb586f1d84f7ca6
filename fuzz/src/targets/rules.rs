//! The rules file (`--rules-file`, docs/detection.md): the detector's reader
//! (`friction_detector::rules_file::parse_rules`, every `RuleConfig` field) and the incidents
//! stage's `confirmation:` reader (`friction_incidents::rules_file::parse_confirmation`), both YAML
//! through serde_norway. An operator's file, but read at every start: a typo must be an error that
//! names it, never a panic or a hang.

use friction_incidents::model::ConfirmationPolicy;

use super::{outcome, Outcome};

/// The keys both readers know, YAML's structure and its corners (anchors, aliases, merge keys,
/// tags, special floats).
pub const YAML_DICTIONARY: &[&[u8]] = &[
    b"default:\n  ",
    b"projects:\n  ",
    b"confirmation:\n  ",
    b"p1:\n    ",
    b"min_sessions: ",
    b"window_ms: ",
    b"server_error: ",
    b"first_occurrence",
    b"sessions",
    b"rage_min_clicks: ",
    b"rage_max_gap_ms: ",
    b"rage_max_span_ms: ",
    b"rage_radius_px: ",
    b"rage_unresponsive_ms: ",
    b"rage_unresponsive_clicks: ",
    b"responsive_repeat_ms: ",
    b"dead_window_ms: ",
    b"dead_abandon_after_ms: ",
    b"slow_after_ms: ",
    b"click_debounce_ms: ",
    b"far_mutation_ms: ",
    b"network_initiated_ms: ",
    b"scroll_liveness_ms: ",
    b"selection_liveness_ms: ",
    b"focus_liveness_ms: ",
    b"visibility_liveness_ms: ",
    b"pointerdown_lookback_ms: ",
    b"busy_window_ms: ",
    b"busy_mutations_per_sec: ",
    b"error_window_ms: ",
    b"error_unnamed_request_ms: ",
    b"error_ignore_messages: ",
    b"error_client_statuses: ",
    b"u_turn_max_ms: ",
    b"u_turn_max_clicks: ",
    b"u_turn_max_scroll_px: ",
    b"u_turn_ignore_route_words: ",
    b"form_abandon_min_ms: ",
    b"form_abandon_min_fields: ",
    b"form_ignore_field_words: ",
    b"validation_loop_min_submits: ",
    b"validation_window_ms: ",
    b"server_error_min_level: ",
    b"episode_window_ms: ",
    b"stepper_texts: ",
    b"stepper_hints: ",
    b"ignore_selectors: ",
    b"ignore_routes: ",
    b"info",
    b"fatal",
    b"\n",
    b"\n  ",
    b"\n    - ",
    b"- ",
    b": ",
    b"{",
    b"}",
    b"[",
    b"]",
    b", ",
    b"&a ",
    b"*a",
    b"<<: *a",
    b"!!binary ",
    b"!!str ",
    b"!!int ",
    b"!!float ",
    b"!!map ",
    b"!custom ",
    b"? ",
    b"|\n  ",
    b">-\n  ",
    b"~",
    b"null",
    b".inf",
    b"-.inf",
    b".nan",
    b"0x7fffffffffffffff",
    b"0o777",
    b"1e400",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"'",
    b"\"",
    b"\\u0000",
    b"%YAML 1.2\n",
    b"---\n",
    b"...\n",
    b"#",
    b"\t",
    b"\xef\xbb\xbf",
];

/// The text of a rules file, given to both readers.
pub fn file(data: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(data) else { return outcome("not utf-8") };
    let detector = friction_detector::rules_file::parse_rules(text, "fuzz.yaml");
    if let Ok(rules) = &detector {
        // What the stage asks of the rules it loaded.
        let _ = rules.for_project("p1").config();
    }
    let base = ConfirmationPolicy::default();
    let incidents = friction_incidents::rules_file::parse_confirmation(text, "fuzz.yaml", &base);
    if let Ok(rules) = &incidents {
        let policy = rules.for_project("p1");
        assert!(policy.min_sessions >= 1 && policy.window_ms > 0, "an invalid policy was accepted: {policy:?}");
    }
    let label = |r: Result<(), String>| match r {
        Ok(()) => "ok".to_string(),
        // The error's first words: which section or field.
        Err(e) => e.chars().take(60).collect(),
    };
    outcome(&format!(
        "{}|{}",
        label(detector.map(|_| ()).map_err(|e| e.to_string())),
        label(incidents.map(|_| ()).map_err(|e| e.to_string()))
    ))
}
