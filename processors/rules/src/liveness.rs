//! Did the page respond to a click? (docs/detection.md "Liveness").
//!
//! One forward scan from the click (plus a short look-back for the click that woke the tab and for
//! menus that open on pointerdown) over the same tab's events, stopping at the window end, a
//! navigation, the tab being hidden (which cuts the window), or a click on another element: what
//! follows that click (its `nearTarget` mutations, its request, the page its link opens) answers
//! it, not this one.

use crate::event::EventKind;
use crate::judge::Cx;
use crate::signal::LivenessCheck;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    MutationNear = 0,
    Mutation = 1,
    Navigation = 2,
    Network = 3,
    Scroll = 4,
    Selection = 5,
    Focus = 6,
    Input = 7,
    Visibility = 8,
    NewTab = 9,
}

const N_SOURCES: usize = 10;
const SOURCES: [Source; N_SOURCES] = [
    Source::MutationNear,
    Source::Mutation,
    Source::Navigation,
    Source::Network,
    Source::Scroll,
    Source::Selection,
    Source::Focus,
    Source::Input,
    Source::Visibility,
    Source::NewTab,
];

impl Source {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::MutationNear => "mutation_near",
            Self::Mutation => "mutation",
            Self::Navigation => "navigation",
            Self::Network => "network",
            Self::Scroll => "scroll",
            Self::Selection => "selection",
            Self::Focus => "focus",
            Self::Input => "input",
            Self::Visibility => "visibility",
            Self::NewTab => "new_tab",
        }
    }

    /// A response the user can see. A request alone is not: it proves the app reacted, so the
    /// click is never dead, but it cannot end a slow click's latency.
    const fn visible(self) -> bool {
        !matches!(self, Self::Network)
    }

    /// A response plausibly caused by this click ("target-relevant", docs/detection.md "R1 rage click", tier B): anything
    /// but a mutation elsewhere on the page.
    const fn relevant(self) -> bool {
        !matches!(self, Self::Mutation)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanOpts {
    pub window_ms: i64,
    /// Stop at the first visible response (enough for a verdict); otherwise scan the whole window
    /// to record every source's first delay for evidence.
    pub stop_early: bool,
    /// Busy page: far mutations never count (docs/detection.md "Busy-page guard").
    pub busy: bool,
    /// End the scan at a click on another element (see the module doc).
    pub until_other_click: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Scan {
    /// First counted visible response: (delay, event index, source).
    pub first_visible: Option<(i64, usize, Source)>,
    /// First counted request started by the click: (delay, event index).
    pub first_network: Option<(i64, usize)>,
    /// First counted target-relevant response (rage `responsive_repeat`): (delay, source).
    pub first_relevant: Option<(i64, Source)>,
    /// First counted target-relevant response the user could see (rage tier B: a request alone
    /// proves the click was received, not that anything showed): (delay, source).
    pub first_seen_relevant: Option<(i64, Source)>,
    /// A click on another element in the same tab and view ended the scan before any visible
    /// response: (ts, index).
    pub next_click: Option<(i64, usize)>,
    /// The tab was hidden (after the visibility window) before any visible response: (ts, index).
    pub cut: Option<(i64, usize)>,
    /// First observed delay per source, and whether it counted.
    observed: [Option<(i64, bool)>; N_SOURCES],
}

impl Scan {
    fn hit(&mut self, src: Source, delay: i64, idx: usize, counted: bool) {
        let slot = &mut self.observed[src as usize];
        match slot {
            Some((d, c)) if *d <= delay && (*c || !counted) => {}
            _ => *slot = Some((delay, counted)),
        }
        if !counted {
            return;
        }
        if src.visible() && self.first_visible.is_none_or(|(d, _, _)| delay < d) {
            self.first_visible = Some((delay, idx, src));
        }
        if src == Source::Network && self.first_network.is_none_or(|(d, _)| delay < d) {
            self.first_network = Some((delay, idx));
        }
        if src.relevant() && self.first_relevant.is_none_or(|(d, _)| delay < d) {
            self.first_relevant = Some((delay, src));
        }
        if src.relevant() && src.visible() && self.first_seen_relevant.is_none_or(|(d, _)| delay < d) {
            self.first_seen_relevant = Some((delay, src));
        }
    }

    /// Evidence: every source with its first observed delay or `None`.
    pub(crate) fn checks(&self) -> Vec<LivenessCheck> {
        SOURCES
            .iter()
            .map(|s| {
                let o = self.observed[*s as usize];
                LivenessCheck {
                    source: s.as_str().into(),
                    delay_ms: o.map(|(d, _)| d),
                    counted: o.is_some_and(|(_, c)| c),
                }
            })
            .collect()
    }
}

/// Whether the page was busy before the click at `idx`: more mutation batches per second than the
/// threshold over the busy window, in the same tab.
pub(crate) fn busy_page(cx: &Cx<'_, '_>, idx: usize) -> bool {
    let cfg = cx.rules.config();
    let Some(c) = cx.ev.get(idx) else {
        return false;
    };
    let from = c.timestamp_ms.saturating_sub(cfg.busy_window_ms);
    let mut n = 0u32;
    for (j, e) in cx.ev[..idx].iter().enumerate().rev() {
        if e.timestamp_ms < from {
            break;
        }
        if matches!(e.kind, EventKind::Mutation { .. }) && cx.same_tab(j, idx) && e.timestamp_ms < c.timestamp_ms {
            n += 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = f64::from(n) / (cfg.busy_window_ms as f64 / 1000.0);
    rate > cfg.busy_mutations_per_sec
}

/// Scans the responses to the click at `idx`.
pub(crate) fn scan(cx: &Cx<'_, '_>, idx: usize, opts: ScanOpts) -> Scan {
    let cfg = cx.rules.config();
    let mut s = Scan::default();
    let Some(c) = cx.ev.get(idx) else {
        return s;
    };
    let t0 = c.timestamp_ms;
    let end = t0.saturating_add(opts.window_ms);

    // Look-back: the click that woke the tab, and menus that opened on pointerdown.
    let back = cfg.visibility_liveness_ms.max(cfg.pointerdown_lookback_ms);
    let from = t0.saturating_sub(back);
    for j in (0..idx).rev() {
        let e = &cx.ev[j];
        if e.timestamp_ms < from {
            break;
        }
        if !cx.same_tab(j, idx) || !cx.view_eq(j, idx) {
            continue;
        }
        let d = e.timestamp_ms.saturating_sub(t0); // ≤ 0
        match e.kind {
            EventKind::Visibility { .. } if d.saturating_neg() <= cfg.visibility_liveness_ms => {
                s.hit(Source::Visibility, d, j, true)
            }
            EventKind::Mutation { near_target: true, .. } if d.saturating_neg() <= cfg.pointerdown_lookback_ms => {
                s.hit(Source::MutationNear, d, j, true);
            }
            _ => {}
        }
    }

    let own_key = cx.click_rec_at(idx);
    let mut network_started = false;
    for j in idx + 1..cx.ev.len() {
        let e = &cx.ev[j];
        if e.timestamp_ms > end {
            break;
        }
        let d = e.timestamp_ms.saturating_sub(t0);
        if !cx.same_tab(j, idx) {
            // A page loading in another tab right after the click: the click opened it.
            if matches!(e.kind, EventKind::Pageview { .. }) && d.saturating_abs() <= cfg.visibility_liveness_ms {
                s.hit(Source::NewTab, d, j, true);
            }
            continue;
        }
        if !cx.view_eq(j, idx) || matches!(e.kind, EventKind::Pageview { .. }) {
            s.hit(Source::Navigation, d, j, true);
            break; // the view ended: nothing after belongs to this click
        }
        match &e.kind {
            EventKind::Mutation { near_target, .. } => {
                if *near_target {
                    s.hit(Source::MutationNear, d, j, true);
                } else {
                    // Away from the target a mutation is weak evidence: only soon after the click,
                    // or once a request the click started has had time to render, never on a busy page.
                    let counted = !opts.busy && (d <= cfg.far_mutation_ms || network_started);
                    s.hit(Source::Mutation, d, j, counted);
                }
            }
            EventKind::Network { initiator, .. } => {
                let ours = match initiator.as_deref() {
                    Some(id) => id == c.event_id,
                    None => d <= cfg.network_initiated_ms,
                };
                network_started |= ours;
                s.hit(Source::Network, d, j, ours);
            }
            EventKind::Scroll { .. } => s.hit(Source::Scroll, d, j, d <= cfg.scroll_liveness_ms),
            EventKind::Selection { .. } => s.hit(Source::Selection, d, j, d <= cfg.selection_liveness_ms),
            EventKind::Focus => s.hit(Source::Focus, d, j, d <= cfg.focus_liveness_ms),
            EventKind::Input { .. } => s.hit(Source::Input, d, j, d <= cfg.focus_liveness_ms),
            EventKind::Visibility { hidden } => {
                if d <= cfg.visibility_liveness_ms {
                    s.hit(Source::Visibility, d, j, true);
                } else {
                    s.hit(Source::Visibility, d, j, false);
                    if *hidden && s.first_visible.is_none() {
                        s.cut = Some((e.timestamp_ms, j));
                        break;
                    }
                }
            }
            EventKind::Click { .. } => {
                if opts.until_other_click && own_key.is_some() && cx.click_rec_at(j) != own_key {
                    if s.first_visible.is_none() {
                        s.next_click = Some((e.timestamp_ms, j));
                    }
                    break;
                }
            }
            EventKind::Pageview { .. }
            | EventKind::Error { .. }
            | EventKind::Submit { .. }
            | EventKind::Custom { .. }
            | EventKind::Log { .. } => {}
        }
        if opts.stop_early && s.first_visible.is_some() {
            break;
        }
    }
    s
}
