//! The verdict on a candidate: its [`Class`] (signal, suppressed, undetermined) and when it became
//! known ([`Decided`]), and whether a call at a given horizon emits it.

use crate::signal::Horizon;
use crate::suppress::Suppression;

/// When a candidate's verdict became known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decided {
    /// At this event time.
    At(i64),
    /// When the session closed (its window was still open).
    AtClose,
    /// Not yet; would be decided at the given time if no new event arrived (`None`: only by a
    /// future event or the session closing).
    Pending(Option<i64>),
}

impl Decided {
    pub(crate) fn is_pending(self) -> bool {
        matches!(self, Self::Pending(_))
    }

    pub(crate) fn at_ms(self) -> Option<i64> {
        match self {
            Self::At(t) => Some(t),
            _ => None,
        }
    }

    /// The later of two decisions: pending dominates, then session close, then the later time.
    pub(crate) fn max(self, other: Self) -> Self {
        match (self, other) {
            (Self::Pending(a), Self::Pending(b)) => Self::Pending(match (a, b) {
                (Some(x), Some(y)) => Some(x.max(y)),
                _ => None,
            }),
            (p @ Self::Pending(_), _) | (_, p @ Self::Pending(_)) => p,
            (Self::AtClose, _) | (_, Self::AtClose) => Self::AtClose,
            (Self::At(a), Self::At(b)) => Self::At(a.max(b)),
        }
    }
}

/// What a decided candidate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Signal,
    Suppressed(Suppression),
    Undetermined,
}

/// Whether an item decided at `decided` is emitted by a call at `h`: decided in
/// `(emitted_through_ms, watermark_ms]`, or after `emitted_through_ms` once the session is closed.
pub(crate) fn emitted(decided: Decided, h: Horizon) -> bool {
    let after = h.emitted_through_ms;
    match decided {
        Decided::At(t) => after.is_none_or(|a| t > a) && (t <= h.watermark_ms || h.session_closed),
        Decided::AtClose => h.session_closed,
        Decided::Pending(_) => false,
    }
}
