//! Every threshold of every rule, configurable per project (docs/detection.md "Configuration").
//!
//! `RuleConfig` deserializes from JSON or YAML with `#[serde(default)]`, so a project overrides only
//! the fields it names; unknown fields are rejected so a typo does not silently keep a default.
//! [`Rules::new`] validates a config and precomputes what the hot path needs.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::event::LogLevel;

/// An invalid configuration value; `field` is the config field name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid rule config field `{field}`: {reason}")]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Thresholds and lists for all rules. Times are milliseconds of event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleConfig {
    // ---- R1 rage click -------------------------------------------------------------------------
    /// Minimum clicks in a rage burst. Default 3 (docs/detection.md "R1 rage click"; PostHog, Datadog).
    pub rage_min_clicks: u32,
    /// Maximum gap between consecutive clicks of a burst. Default 1000 (docs/detection.md "R1 rage click").
    pub rage_max_gap_ms: i64,
    /// Maximum span of a whole burst, first to last click. Default 2000 (docs/detection.md "R1 rage click").
    pub rage_max_span_ms: i64,
    /// Radius around the burst centroid within which clicks on non-interactive or unkeyed targets
    /// join a burst. Default 30 px (docs/detection.md "R1 rage click"; PostHog).
    pub rage_radius_px: f64,
    /// A burst is `unresponsive` (issue-worthy tier B) when none of its first clicks got a
    /// target-relevant response within this time. Default 1000 (docs/detection.md "R1 rage click").
    pub rage_unresponsive_ms: i64,
    /// How many of the first clicks must be unanswered for tier B. Default 2 (docs/detection.md "R1 rage click", tier B).
    pub rage_unresponsive_clicks: u32,
    /// `responsive_repeat`: each click of the burst got a response within this time. Default 300
    /// (docs/detection.md "Suppressions").
    pub responsive_repeat_ms: i64,

    // ---- R2 dead / slow click ------------------------------------------------------------------
    /// No response within this window ⇒ dead. Default 7000 (docs/detection.md "R2 dead and slow click"; Sentry).
    pub dead_window_ms: i64,
    /// A click on another element ends the window early (whatever follows answers that click).
    /// With no response before it, the first click is dead when that came at least this long
    /// after it (the user gave up waiting), undetermined when sooner. Default 2000 (between
    /// `slow_after_ms` and PostHog's 2.5 s no-mutation window, docs/detection.md "PostHog").
    pub dead_abandon_after_ms: i64,
    /// A first visible response later than this (and within the dead window) ⇒ slow. Default 1000
    /// (docs/detection.md "Verdicts").
    pub slow_after_ms: i64,
    /// A click on the same element within this time after the previous one is folded into the
    /// same candidate. Default 1000 (docs/detection.md "Dedup and ids"; Sentry, PostHog).
    pub click_debounce_ms: i64,
    /// A mutation away from the target counts as a response only within this time (and not on a
    /// busy page). Default 1000 (docs/detection.md "Liveness").
    pub far_mutation_ms: i64,
    /// A request started within this time after the click counts as started by it (when the SDK
    /// did not name the initiator). Default 500 (docs/detection.md "Liveness", "R3 error click").
    pub network_initiated_ms: i64,
    /// A scroll within this time counts as a response. Default 300 (docs/detection.md "Liveness"; Sentry).
    pub scroll_liveness_ms: i64,
    /// A selection change within this time counts as a response. Default 100 (docs/detection.md "Liveness"; PostHog).
    pub selection_liveness_ms: i64,
    /// A focus change or input event within this time counts as a response. Default 1000 (our
    /// choice: docs/detection.md "Liveness" lists focus change without a window; a focus the click caused is
    /// immediate, a later one is the user moving on).
    pub focus_liveness_ms: i64,
    /// A visibility change within this time either side of the click (new tab, popup, file
    /// picker, the click that woke the tab) counts as a response; a tab hidden later in the window
    /// cuts it (undetermined). Default 1000 (docs/detection.md "Liveness"; PostHog #3274/#4503).
    pub visibility_liveness_ms: i64,
    /// A mutation near the target up to this long *before* the click counts (menus that open on
    /// pointerdown). Default 100 (docs/detection.md "Datadog RUM", Datadog `PAGE_ACTIVITY_VALIDATION_DELAY`).
    pub pointerdown_lookback_ms: i64,
    /// Window before the click over which the background mutation rate is measured. Default 5000
    /// (docs/detection.md "Busy-page guard").
    pub busy_window_ms: i64,
    /// Above this many mutation batches per second in the busy window, only mutations near the
    /// target count as a response. Default 2.0 (docs/detection.md "Busy-page guard").
    pub busy_mutations_per_sec: f64,

    // ---- R3 error click ------------------------------------------------------------------------
    /// A JS error within this time after a click is an error click. Default 1000 (docs/detection.md "R3 error click").
    pub error_window_ms: i64,
    /// A failed request the SDK did not name an initiator for is attributed to a click only when
    /// it started within this time after it (a click handler's fetch starts at once; a background
    /// poll a few hundred ms later is coincidence). Default 100 (our choice; Datadog ends an
    /// inactive click's action after 100 ms, docs/detection.md "Datadog RUM").
    pub error_unnamed_request_ms: i64,
    /// JS errors whose message starts with one of these (case-insensitive) are never attributed
    /// to a click: browser noise with no cause in the page's code. Default `ResizeObserver loop`
    /// (a layout notice, not a failure) and `Script error` (a cross-origin error with every detail
    /// stripped) (docs/detection.md "R3 error click"; Sentry's default inbound filters).
    pub error_ignore_messages: Vec<String>,
    /// 4xx statuses that also count as a failed request (5xx and network errors always do).
    /// Default empty (docs/architecture.md §4 says 5xx or network error; docs/detection.md "R3 error click" excludes 401/403/404).
    pub error_client_statuses: Vec<u16>,

    // ---- R5 u-turn -----------------------------------------------------------------------------
    /// Back to the previous page within this time after leaving it. Default 7000 (docs/detection.md "R5 u-turn").
    pub u_turn_max_ms: i64,
    /// More clicks than this on the intermediate page is meaningful interaction. Default 1
    /// (docs/detection.md "R5 u-turn": "no click beyond the first").
    pub u_turn_max_clicks: u32,
    /// More total scroll than this on the intermediate page is meaningful interaction. Default
    /// 900 px (docs/detection.md "R5 u-turn": says one viewport; events carry no viewport height, so a typical one).
    pub u_turn_max_scroll_px: f64,
    /// Routes containing any of these words are auth/SSO hops, never u-turns. Default
    /// login, signin, sign-in, logout, auth, oauth, sso, callback (docs/detection.md "R5 u-turn": exclusions).
    pub u_turn_ignore_route_words: Vec<String>,

    // ---- R4 form struggle ----------------------------------------------------------------------
    /// Minimum engagement (first input to the last event of the view) before leaving counts as
    /// abandonment. Default 5000 (docs/detection.md "R4 form struggle").
    pub form_abandon_min_ms: i64,
    /// Minimum distinct fields touched. Default 1 (docs/detection.md "R4 form struggle").
    pub form_abandon_min_fields: u32,
    /// Field keys containing any of these words (search boxes) are ignored. Default search, query
    /// (docs/detection.md "R4 form struggle": search boxes are excluded).
    pub form_ignore_field_words: Vec<String>,
    /// Invalid submit attempts in a row that make a validation loop. Default 2 (docs/detection.md "R4 form struggle").
    pub validation_loop_min_submits: u32,
    /// An invalid field within this time after a submit attempt makes the attempt invalid.
    /// Default 1000 (docs/detection.md "R4 form struggle").
    pub validation_window_ms: i64,

    // ---- server errors -------------------------------------------------------------------------
    /// Log lines at or above this level are server errors. Default `error` (docs/architecture.md §4).
    pub server_error_min_level: LogLevel,

    // ---- R9 episodes ---------------------------------------------------------------------------
    /// Signals on one element within this time of the episode's first signal merge. Default 10000
    /// (docs/detection.md "R9 episodes").
    pub episode_window_ms: i64,

    // ---- suppression content lists -------------------------------------------------------------
    /// Element text/aria-label of steppers and pagers: symbols match exactly, words as substrings,
    /// case-insensitive. Default `+ - − – next prev previous > <` (docs/detection.md "Suppressions"; PostHog).
    pub stepper_texts: Vec<String>,
    /// Substrings of a selector or element key that mark steppers, pagers, sliders, carousels and
    /// date pickers. Default pagination, pager, stepper, spinner, datepicker, date-picker,
    /// calendar, carousel, slider, swiper, slick (docs/detection.md "Suppressions").
    pub stepper_hints: Vec<String>,

    // ---- project ignore lists ------------------------------------------------------------------
    /// Selectors never reported: a click matches when its selector or element key equals one, or
    /// contains it as a whole compound part (`.carousel` matches `div.carousel > button`), which
    /// covers ancestors in the selector path. Default empty.
    pub ignore_selectors: Vec<String>,
    /// Routes never reported: glob patterns (`*` matches any run of characters) matched against the
    /// raw route and its template. Default empty.
    pub ignore_routes: Vec<String>,
}

impl Default for RuleConfig {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        Self {
            rage_min_clicks: 3,
            rage_max_gap_ms: 1000,
            rage_max_span_ms: 2000,
            rage_radius_px: 30.0,
            rage_unresponsive_ms: 1000,
            rage_unresponsive_clicks: 2,
            responsive_repeat_ms: 300,
            dead_window_ms: 7000,
            dead_abandon_after_ms: 2000,
            slow_after_ms: 1000,
            click_debounce_ms: 1000,
            far_mutation_ms: 1000,
            network_initiated_ms: 500,
            scroll_liveness_ms: 300,
            selection_liveness_ms: 100,
            focus_liveness_ms: 1000,
            visibility_liveness_ms: 1000,
            pointerdown_lookback_ms: 100,
            busy_window_ms: 5000,
            busy_mutations_per_sec: 2.0,
            error_window_ms: 1000,
            error_unnamed_request_ms: 100,
            error_ignore_messages: s(&["ResizeObserver loop", "Script error"]),
            error_client_statuses: Vec::new(),
            u_turn_max_ms: 7000,
            u_turn_max_clicks: 1,
            u_turn_max_scroll_px: 900.0,
            u_turn_ignore_route_words: s(&["login", "signin", "sign-in", "logout", "auth", "oauth", "sso", "callback"]),
            form_abandon_min_ms: 5000,
            form_abandon_min_fields: 1,
            form_ignore_field_words: s(&["search", "query"]),
            validation_loop_min_submits: 2,
            validation_window_ms: 1000,
            server_error_min_level: LogLevel::Error,
            episode_window_ms: 10_000,
            stepper_texts: s(&["+", "-", "−", "–", "next", "prev", "previous", ">", "<"]),
            stepper_hints: s(&[
                "pagination",
                "pager",
                "stepper",
                "spinner",
                "datepicker",
                "date-picker",
                "calendar",
                "carousel",
                "slider",
                "swiper",
                "slick",
            ]),
            ignore_selectors: Vec::new(),
            ignore_routes: Vec::new(),
        }
    }
}

/// Longest window we accept: one day. Keeps every `timestamp ± window` far from overflow and
/// rejects values that are surely unit mistakes (seconds typed as ms × 1000).
const MAX_WINDOW_MS: i64 = 86_400_000;

impl RuleConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: String| Err(ConfigError { field, reason });
        let windows: &[(&'static str, i64)] = &[
            ("rage_max_gap_ms", self.rage_max_gap_ms),
            ("rage_max_span_ms", self.rage_max_span_ms),
            ("rage_unresponsive_ms", self.rage_unresponsive_ms),
            ("responsive_repeat_ms", self.responsive_repeat_ms),
            ("dead_window_ms", self.dead_window_ms),
            ("slow_after_ms", self.slow_after_ms),
            ("click_debounce_ms", self.click_debounce_ms),
            ("far_mutation_ms", self.far_mutation_ms),
            ("network_initiated_ms", self.network_initiated_ms),
            ("scroll_liveness_ms", self.scroll_liveness_ms),
            ("selection_liveness_ms", self.selection_liveness_ms),
            ("focus_liveness_ms", self.focus_liveness_ms),
            ("visibility_liveness_ms", self.visibility_liveness_ms),
            ("pointerdown_lookback_ms", self.pointerdown_lookback_ms),
            ("busy_window_ms", self.busy_window_ms),
            ("error_window_ms", self.error_window_ms),
            ("error_unnamed_request_ms", self.error_unnamed_request_ms),
            ("dead_abandon_after_ms", self.dead_abandon_after_ms),
            ("u_turn_max_ms", self.u_turn_max_ms),
            ("form_abandon_min_ms", self.form_abandon_min_ms),
            ("validation_window_ms", self.validation_window_ms),
            ("episode_window_ms", self.episode_window_ms),
        ];
        for &(field, v) in windows {
            if v <= 0 {
                return bad(field, format!("must be > 0 ms, got {v}"));
            }
            if v > MAX_WINDOW_MS {
                return bad(field, format!("must be at most {MAX_WINDOW_MS} ms (one day), got {v}"));
            }
        }
        if self.rage_min_clicks < 2 {
            return bad("rage_min_clicks", format!("must be at least 2, got {}", self.rage_min_clicks));
        }
        if self.rage_unresponsive_clicks == 0 || self.rage_unresponsive_clicks > self.rage_min_clicks {
            return bad(
                "rage_unresponsive_clicks",
                format!(
                    "must be between 1 and rage_min_clicks ({}), got {}",
                    self.rage_min_clicks, self.rage_unresponsive_clicks
                ),
            );
        }
        if self.rage_max_gap_ms > self.rage_max_span_ms {
            return bad(
                "rage_max_gap_ms",
                format!("must not exceed rage_max_span_ms ({}), got {}", self.rage_max_span_ms, self.rage_max_gap_ms),
            );
        }
        if !self.rage_radius_px.is_finite() || self.rage_radius_px < 0.0 {
            return bad("rage_radius_px", format!("must be a finite number ≥ 0, got {}", self.rage_radius_px));
        }
        if self.slow_after_ms >= self.dead_window_ms {
            return bad(
                "slow_after_ms",
                format!("must be below dead_window_ms ({}), got {}", self.dead_window_ms, self.slow_after_ms),
            );
        }
        if self.dead_abandon_after_ms < self.slow_after_ms || self.dead_abandon_after_ms > self.dead_window_ms {
            return bad(
                "dead_abandon_after_ms",
                format!(
                    "must be between slow_after_ms ({}) and dead_window_ms ({}), got {}",
                    self.slow_after_ms, self.dead_window_ms, self.dead_abandon_after_ms
                ),
            );
        }
        if !self.busy_mutations_per_sec.is_finite() || self.busy_mutations_per_sec <= 0.0 {
            return bad(
                "busy_mutations_per_sec",
                format!("must be a finite number > 0, got {}", self.busy_mutations_per_sec),
            );
        }
        if let Some(s) = self.error_client_statuses.iter().find(|s| !(400..=499).contains(*s)) {
            return bad("error_client_statuses", format!("must list 4xx statuses only, got {s}"));
        }
        if !self.u_turn_max_scroll_px.is_finite() || self.u_turn_max_scroll_px < 0.0 {
            return bad(
                "u_turn_max_scroll_px",
                format!("must be a finite number ≥ 0, got {}", self.u_turn_max_scroll_px),
            );
        }
        if self.validation_loop_min_submits < 2 {
            return bad(
                "validation_loop_min_submits",
                format!("must be at least 2, got {}", self.validation_loop_min_submits),
            );
        }
        if self.form_abandon_min_fields == 0 {
            return bad("form_abandon_min_fields", "must be at least 1, got 0".to_owned());
        }
        for (field, list) in [
            ("stepper_texts", &self.stepper_texts),
            ("stepper_hints", &self.stepper_hints),
            ("ignore_selectors", &self.ignore_selectors),
            ("ignore_routes", &self.ignore_routes),
            ("u_turn_ignore_route_words", &self.u_turn_ignore_route_words),
            ("form_ignore_field_words", &self.form_ignore_field_words),
            ("error_ignore_messages", &self.error_ignore_messages),
        ] {
            if list.iter().any(|s| s.trim().is_empty()) {
                return bad(field, "entries must not be empty (an empty entry would match everything)".to_owned());
            }
        }
        Ok(())
    }
}

/// A validated configuration with lists pre-lowercased for the hot path. Build one per project.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub(crate) cfg: RuleConfig,
    /// `stepper_texts` with a letter or digit (matched as substrings), lowercased.
    pub(crate) stepper_words: Vec<String>,
    /// The other `stepper_texts` (symbols such as `+` and `›`, matched exactly), lowercased.
    pub(crate) stepper_symbols: Vec<String>,
    pub(crate) stepper_hints: Vec<String>,
    pub(crate) u_turn_words: Vec<String>,
    pub(crate) form_ignore_words: Vec<String>,
    pub(crate) error_ignore: Vec<String>,
}

fn lower(v: &[String]) -> Vec<String> {
    v.iter().map(|s| s.trim().to_lowercase()).collect()
}

impl Rules {
    /// Validates `config` and prepares it.
    pub fn new(config: RuleConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::prepared(config))
    }

    fn prepared(cfg: RuleConfig) -> Self {
        let (stepper_words, stepper_symbols) =
            lower(&cfg.stepper_texts).into_iter().partition(|t| t.chars().any(char::is_alphanumeric));
        Self {
            stepper_words,
            stepper_symbols,
            stepper_hints: lower(&cfg.stepper_hints),
            u_turn_words: lower(&cfg.u_turn_ignore_route_words),
            form_ignore_words: lower(&cfg.form_ignore_field_words),
            error_ignore: lower(&cfg.error_ignore_messages),
            cfg,
        }
    }

    /// The configuration in effect.
    pub fn config(&self) -> &RuleConfig {
        &self.cfg
    }

    /// Whether a JS error message is on the benign list (`error_ignore_messages`).
    pub fn benign_error(&self, message: &str) -> bool {
        let m = message.trim_start();
        self.error_ignore.iter().any(|p| m.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p)))
    }

    /// The longest time between a candidate's first event and its decision, for any rule whose
    /// decision is bounded in time (everything but form abandonment and validation loops, which
    /// wait for the view to end).
    pub(crate) fn max_decision_ms(&self) -> i64 {
        let c = &self.cfg;
        let rage = c.rage_max_span_ms
            + c.rage_max_gap_ms
            + c.rage_unresponsive_ms.max(c.responsive_repeat_ms).max(c.selection_liveness_ms);
        c.dead_window_ms
            .max(c.error_window_ms)
            .max(c.network_initiated_ms)
            .max(c.error_unnamed_request_ms)
            .max(rage)
            .max(c.u_turn_max_ms)
            .max(c.validation_window_ms)
    }

    /// How far before a watermark a decision can still depend on events: the episode window, the
    /// longest decision and the longest look-back. A caller that may re-judge everything after
    /// time `t` keeps the events from `t - settle_span_ms()`.
    pub fn settle_span_ms(&self) -> i64 {
        self.cfg.episode_window_ms.saturating_add(self.max_decision_ms()).saturating_add(self.max_lookback_ms())
    }

    /// The longest any rule looks back before a candidate's first event.
    pub(crate) fn max_lookback_ms(&self) -> i64 {
        let c = &self.cfg;
        c.busy_window_ms
            .max(c.click_debounce_ms)
            .max(c.visibility_liveness_ms)
            .max(c.pointerdown_lookback_ms)
            .max(c.rage_max_span_ms)
    }
}

impl Default for Rules {
    fn default() -> Self {
        Self::prepared(RuleConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_design() {
        let c = RuleConfig::default();
        c.validate().expect("defaults valid");
        assert_eq!((c.rage_min_clicks, c.rage_max_gap_ms, c.rage_max_span_ms), (3, 1000, 2000));
        assert!((c.rage_radius_px - 30.0).abs() < f64::EPSILON);
        assert_eq!((c.dead_window_ms, c.slow_after_ms, c.error_window_ms), (7000, 1000, 1000));
        assert_eq!((c.u_turn_max_ms, c.form_abandon_min_ms, c.episode_window_ms), (7000, 5000, 10_000));
    }

    #[test]
    fn errors_name_the_field() {
        let c = RuleConfig { rage_max_gap_ms: 0, ..RuleConfig::default() };
        let e = Rules::new(c).expect_err("gap 0 rejected");
        assert_eq!(e.field, "rage_max_gap_ms");
        assert!(e.to_string().contains("rage_max_gap_ms"));

        let c = RuleConfig { slow_after_ms: 7000, ..RuleConfig::default() };
        assert_eq!(c.validate().expect_err("slow ≥ dead").field, "slow_after_ms");

        let c = RuleConfig { rage_radius_px: f64::NAN, ..RuleConfig::default() };
        assert_eq!(c.validate().expect_err("nan").field, "rage_radius_px");

        let c = RuleConfig { error_client_statuses: vec![500], ..RuleConfig::default() };
        assert_eq!(c.validate().expect_err("5xx listed").field, "error_client_statuses");

        let c = RuleConfig { ignore_selectors: vec![" ".into()], ..RuleConfig::default() };
        assert_eq!(c.validate().expect_err("empty entry").field, "ignore_selectors");

        let c = RuleConfig { rage_min_clicks: 1, ..RuleConfig::default() };
        assert_eq!(c.validate().expect_err("1 click").field, "rage_min_clicks");

        let c = RuleConfig { dead_abandon_after_ms: 500, ..RuleConfig::default() };
        assert_eq!(c.validate().expect_err("abandon < slow").field, "dead_abandon_after_ms");
        let c = RuleConfig { error_ignore_messages: vec![String::new()], ..RuleConfig::default() };
        assert_eq!(c.validate().expect_err("empty ignore").field, "error_ignore_messages");

        let c = RuleConfig { dead_window_ms: MAX_WINDOW_MS + 1, ..RuleConfig::default() };
        assert_eq!(c.validate().expect_err("huge").field, "dead_window_ms");
    }

    #[test]
    fn partial_override_from_json_keeps_other_defaults() {
        let c: RuleConfig = serde_json::from_str(
            r#"{"rage_min_clicks": 4, "ignore_routes": ["/admin/*"], "server_error_min_level": "warning"}"#,
        )
        .expect("parses");
        assert_eq!(c.rage_min_clicks, 4);
        assert_eq!(c.ignore_routes, vec!["/admin/*".to_owned()]);
        assert_eq!(c.server_error_min_level, LogLevel::Warn);
        assert_eq!(c.dead_window_ms, 7000);
        let typo = serde_json::from_str::<RuleConfig>(r#"{"rage_min_click": 4}"#);
        assert!(typo.is_err(), "unknown fields are rejected");
    }
}
