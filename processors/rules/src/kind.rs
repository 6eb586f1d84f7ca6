//! The signal kinds: what a rule can report. The lowest module of the crate (ids, suppressions,
//! signals and every rule name a kind), so it depends on nothing else here.

use serde::{Deserialize, Serialize};

/// Signal kinds, exactly as docs/architecture.md §3 names them, plus the internal `undetermined`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// ≥3 clicks on one element in a short burst.
    RageClick,
    /// An actionable element that did not respond within the dead window.
    DeadClick,
    /// An actionable element that responded, but only after the slow threshold.
    SlowClick,
    /// A click on a disabled control.
    DisabledClick,
    /// A click followed by a JS error or a failed request it started.
    ErrorClick,
    /// A → B → back to A quickly, without doing anything on B.
    UTurn,
    /// A form engaged with and left without submitting.
    FormAbandon,
    /// Repeated submits that each failed validation.
    ValidationLoop,
    /// Error-level server log lines.
    ServerError,
    /// A click whose window was cut (tab hidden, page unloaded, session ended): never an issue.
    Undetermined,
}

impl SignalKind {
    /// The snake_case name (also the rule id).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RageClick => "rage_click",
            Self::DeadClick => "dead_click",
            Self::SlowClick => "slow_click",
            Self::DisabledClick => "disabled_click",
            Self::ErrorClick => "error_click",
            Self::UTurn => "u_turn",
            Self::FormAbandon => "form_abandon",
            Self::ValidationLoop => "validation_loop",
            Self::ServerError => "server_error",
            Self::Undetermined => "undetermined",
        }
    }

    /// Whether this kind may become an incident (`undetermined` never does).
    pub const fn is_issue_kind(self) -> bool {
        !matches!(self, Self::Undetermined)
    }

    /// Every kind, in declaration order.
    pub const ALL: [SignalKind; 10] = [
        Self::RageClick,
        Self::DeadClick,
        Self::SlowClick,
        Self::DisabledClick,
        Self::ErrorClick,
        Self::UTurn,
        Self::FormAbandon,
        Self::ValidationLoop,
        Self::ServerError,
        Self::Undetermined,
    ];
}
