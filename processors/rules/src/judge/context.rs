//! The per-call context the rules share ([`Cx`]): the session's events, the thresholds, the
//! horizon, and what every rule would otherwise recompute (click indices, element-key hashes,
//! interned tabs and views).

use crate::config::Rules;
use crate::event::{Event, EventKind};
use crate::keys;
use crate::signal::Horizon;

use super::verdict::{Class, Decided};

/// Per-call context shared by the rules.
pub(crate) struct Cx<'e, 'a> {
    pub ev: &'e [Event<'a>],
    pub rules: &'e Rules,
    pub h: Horizon,
    /// Indices of click events, in order.
    pub clicks: Vec<usize>,
    /// Element-key hash per click (parallel to `clicks`) when the key identifies one element
    /// (the SDK's key or a selector); `None` for empty or tag-only keys, which never make two
    /// clicks "the same element".
    pub click_keys: Vec<Option<u64>>,
    /// Hash of the reported element key per click, whatever its source (groups records and
    /// episodes exactly as signals are keyed).
    pub click_rec: Vec<u64>,
    /// Tab of each event interned to a small integer (0: no tab), so rules compare integers
    /// instead of id strings.
    pub tab: Vec<u32>,
    /// View of each event interned to a small integer.
    pub view: Vec<u32>,
    /// Candidates anchored before this were judged by earlier calls and may lack their look-back
    /// context (the caller pruned events): they are skipped.
    pub skip_before: Option<i64>,
    /// Candidates decided at or before `emitted_through_ms` were emitted by an earlier call: only
    /// their records (and, for issue-kind signals, stubs for episodes) are built.
    pub light: bool,
    /// Suppressed and undetermined candidates are counted, not built: they are emitted with their
    /// kind, element key and times only (see [`crate::detect_counting`]).
    pub count_only: bool,
}

impl<'e, 'a> Cx<'e, 'a> {
    pub(crate) fn new(ev: &'e [Event<'a>], h: Horizon, rules: &'e Rules, light: bool, count_only: bool) -> Self {
        let mut clicks = Vec::new();
        let mut click_keys = Vec::new();
        let mut click_rec = Vec::new();
        let mut tab = Vec::with_capacity(ev.len());
        let mut view = Vec::with_capacity(ev.len());
        let (mut tabs, mut views) = (Interner::default(), Interner::default());
        for (i, e) in ev.iter().enumerate() {
            tab.push(e.tab_id.as_deref().map_or(0, |t| tabs.get(t) + 1));
            view.push(views.get(&e.view_id));
            if let EventKind::Click { target, .. } = &e.kind {
                clicks.push(i);
                let (h, src) = keys::element_key_hash(target);
                click_keys.push((src == keys::KeySource::Identifying).then_some(h));
                click_rec.push(h);
            }
        }
        let skip_before = h.retained_from_ms.map(|r| r.saturating_add(rules.max_lookback_ms()));
        Self { ev, rules, h, clicks, click_keys, click_rec, tab, view, skip_before, light, count_only }
    }

    /// Whether events `i` and `j` are in the same tab (an event without a tab matches every tab,
    /// see [`crate::event::same_tab`]).
    pub(crate) fn same_tab(&self, i: usize, j: usize) -> bool {
        let (a, b) = (self.tab[i], self.tab[j]);
        a == 0 || b == 0 || a == b
    }

    /// Whether events `i` and `j` have the same tab id (both none counts as the same).
    pub(crate) fn tab_eq(&self, i: usize, j: usize) -> bool {
        self.tab[i] == self.tab[j]
    }

    /// Whether events `i` and `j` are in the same view.
    pub(crate) fn view_eq(&self, i: usize, j: usize) -> bool {
        self.view[i] == self.view[j]
    }

    /// Whether a candidate decided at `decided` was emitted by an earlier call (chained calls
    /// emit everything decided in `(emitted_through_ms, watermark_ms]`): then only what episodes
    /// need is kept, see [`super::Out::stub`].
    pub(crate) fn already_emitted(&self, decided: Decided) -> bool {
        self.light && matches!(decided, Decided::At(t) if self.h.emitted_through_ms.is_some_and(|a| t <= a))
    }

    /// Whether a candidate of `class` decided at `decided` gets only a stub ([`super::Out::stub`]): it was
    /// emitted by an earlier call, or it is not a signal and this call only counts those.
    pub(crate) fn stub_only(&self, class: Class, decided: Decided) -> bool {
        self.already_emitted(decided) || (self.count_only && class != Class::Signal)
    }

    /// Decided by an event at `t` that is in the slice.
    pub(crate) fn by_event(&self, t: i64) -> Decided {
        if t <= self.h.watermark_ms || self.h.session_closed {
            Decided::At(t)
        } else {
            Decided::Pending(Some(t))
        }
    }

    /// Decided when event time reaches `t` (a window end).
    pub(crate) fn by_time(&self, t: i64) -> Decided {
        if t <= self.h.watermark_ms {
            Decided::At(t)
        } else if self.h.session_closed {
            Decided::AtClose
        } else {
            Decided::Pending(Some(t))
        }
    }

    /// Reported element-key hash of the click at event index `i`; `None` if it is not a click.
    pub(crate) fn click_rec_at(&self, i: usize) -> Option<u64> {
        let p = self.clicks.binary_search(&i).ok()?;
        self.click_rec.get(p).copied()
    }

    pub(crate) fn skip(&self, anchor_ms: i64) -> bool {
        self.skip_before.is_some_and(|s| anchor_ms < s)
    }

    /// The earliest time anything not yet emitted can still depend on, before look-back.
    pub(crate) fn base_ms(&self) -> i64 {
        let r = self.rules.config();
        let judged_again_after = self.h.settled_ms.map_or(self.h.watermark_ms, |s| s.min(self.h.watermark_ms));
        judged_again_after.saturating_sub(r.episode_window_ms).saturating_sub(self.rules.max_decision_ms())
    }
}

/// Small integers for the few distinct ids of a session (tabs, views), in order of appearance.
#[derive(Default)]
struct Interner<'s> {
    seen: Vec<&'s str>,
    last: u32,
}

impl<'s> Interner<'s> {
    fn get(&mut self, s: &'s str) -> u32 {
        // Consecutive events mostly share their id: try the last one first.
        if self.seen.get(self.last as usize).is_some_and(|l| eq_short(l, s)) {
            return self.last;
        }
        let k = match self.seen.iter().position(|x| eq_short(x, s)) {
            Some(k) => k,
            None => {
                self.seen.push(s);
                self.seen.len() - 1
            }
        };
        self.last = u32::try_from(k).unwrap_or(u32::MAX);
        self.last
    }
}

/// String equality without a `memcmp` call for ids of up to 16 bytes (two overlapping word
/// compares); longer ones compare as usual.
fn eq_short(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word =
        |s: &[u8], at: usize| s.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()).map(u64::from_ne_bytes);
    match n {
        0..=7 => a.iter().zip(b).all(|(x, y)| x == y),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::eq_short;

    #[test]
    fn eq_short_is_string_equality() {
        let ids = [
            "",
            "a",
            "t1",
            "abcdefg",
            "abcdefgh",
            "abcdefgi",
            "s000123:t1v0",
            "s000123:t1v1",
            "s000124:t1v0",
            "s000123#1764000000000:t1v0",
            "s000123#1764000000000:t1v1",
            "x000123#1764000000000:t1v0",
            "s000123#1764000000000:t1v0x",
            "0123456789abcdef",
            "0123456789abcdeg",
            "1123456789abcdef",
        ];
        for a in ids {
            for b in ids {
                assert_eq!(eq_short(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
    }
}
