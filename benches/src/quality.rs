//! Precision and recall of frustration detectors on a labelled corpus ([`crate::corpus`]).
//!
//! Unit of counting: a (session, kind, element key) triple. A detector's predictions and a
//! session's truth are both sets of such triples (however many times a detector fires on one
//! element in one session, it counts once — our episodes and an incident's "affected sessions"
//! count the same way). TP = predicted ∩ truth; FP = predicted − truth − don't-care; FN =
//! truth − predicted. Misses and false alarms are attributed to the scenario class that used the
//! element key (or to background browsing).

use std::collections::{BTreeMap, BTreeSet};

use friction_rules::{detect, Horizon, Rules, SignalKind, Suppression};

use crate::anchors::Pred;
use crate::corpus::{Class, Kind, LabelledSession};

/// A detector's run over one session.
pub type RunFn<'a> = Box<dyn Fn(&LabelledSession) -> Vec<Pred> + 'a>;

/// A detector under test.
pub struct Detector<'a> {
    pub name: &'static str,
    /// Kinds it has a rule for (others print as "—").
    pub kinds: Vec<Kind>,
    pub run: RunFn<'a>,
}

/// Our rules: `friction_rules::detect` over the closed session.
pub fn ours(s: &LabelledSession, rules: &Rules) -> Vec<Pred> {
    let last = s.events.last().map_or(0, |e| e.timestamp_ms);
    let det = detect(&s.events, Horizon::closed(last), rules);
    let mut out = Vec::new();
    for sig in &det.signals {
        let key = sig.element_key.clone();
        let kind = match sig.kind {
            SignalKind::RageClick => {
                if sig.unresponsive {
                    out.push(Pred { kind: Kind::Rage, key: key.clone() });
                }
                Kind::RageAny
            }
            SignalKind::DeadClick => Kind::Dead,
            SignalKind::SlowClick => Kind::Slow,
            SignalKind::ErrorClick => Kind::Error,
            SignalKind::DisabledClick => Kind::Disabled,
            SignalKind::UTurn => Kind::UTurn,
            SignalKind::FormAbandon => Kind::FormAbandon,
            SignalKind::ValidationLoop => Kind::ValidationLoop,
            SignalKind::ServerError | SignalKind::Undetermined => continue,
        };
        out.push(Pred { kind, key });
    }
    out
}

/// Our suppressions over the corpus, by reason and candidate kind (docs/detection.md "Validation: the labelled corpus": "report the
/// suppression-reason histogram").
pub fn suppression_histogram(sessions: &[LabelledSession], rules: &Rules) -> BTreeMap<(Suppression, SignalKind), u64> {
    let mut h = BTreeMap::new();
    for s in sessions {
        let last = s.events.last().map_or(0, |e| e.timestamp_ms);
        let det = detect(&s.events, Horizon::closed(last), rules);
        for x in &det.suppressed {
            *h.entry((x.reason, x.candidate.kind)).or_insert(0) += 1;
        }
    }
    h
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
}

impl Tally {
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            f64::NAN
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            f64::NAN
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
}

/// Results of every detector on one corpus.
pub struct Report {
    pub detectors: Vec<&'static str>,
    pub supported: BTreeMap<&'static str, Vec<Kind>>,
    pub tallies: BTreeMap<(&'static str, Kind), Tally>,
    /// (detector, class, kind) → (false positives, false negatives).
    pub by_class: BTreeMap<(&'static str, Class, Kind), (u64, u64)>,
    pub class_counts: BTreeMap<Class, u64>,
    pub truth_counts: BTreeMap<Kind, u64>,
    pub sessions: usize,
    pub events: usize,
}

pub fn evaluate(sessions: &[LabelledSession], detectors: &[Detector<'_>]) -> Report {
    let mut r = Report {
        detectors: detectors.iter().map(|d| d.name).collect(),
        supported: detectors.iter().map(|d| (d.name, d.kinds.clone())).collect(),
        tallies: BTreeMap::new(),
        by_class: BTreeMap::new(),
        class_counts: BTreeMap::new(),
        truth_counts: BTreeMap::new(),
        sessions: sessions.len(),
        events: sessions.iter().map(|s| s.events.len()).sum(),
    };
    for s in sessions {
        for c in &s.classes {
            *r.class_counts.entry(*c).or_insert(0) += 1;
        }
        for l in &s.truth {
            *r.truth_counts.entry(l.kind).or_insert(0) += 1;
        }
    }
    for d in detectors {
        for s in sessions {
            let preds: BTreeSet<(Kind, String)> = (d.run)(s).into_iter().map(|p| (p.kind, p.key)).collect();
            let truth: BTreeSet<(Kind, String)> = s.truth.iter().map(|l| (l.kind, l.key.clone())).collect();
            let dont: BTreeSet<(Kind, String)> = s.dont_care.iter().map(|l| (l.kind, l.key.clone())).collect();
            for kind in &d.kinds {
                let t = r.tallies.entry((d.name, *kind)).or_default();
                for p in preds.iter().filter(|p| p.0 == *kind) {
                    if truth.contains(p) {
                        t.tp += 1;
                    } else if !dont.contains(p) {
                        t.fp += 1;
                        r.by_class.entry((d.name, s.class_of(&p.1), *kind)).or_default().0 += 1;
                    }
                }
                for l in truth.iter().filter(|l| l.0 == *kind) {
                    if !preds.contains(l) {
                        t.fn_ += 1;
                        r.by_class.entry((d.name, s.class_of(&l.1), *kind)).or_default().1 += 1;
                    }
                }
            }
        }
    }
    r
}

fn pct(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{:.1}", x * 100.0)
    }
}

impl Report {
    fn tally(&self, d: &'static str, k: Kind) -> Option<Tally> {
        let supported = self.supported.get(d).is_some_and(|ks| ks.contains(&k));
        supported.then(|| self.tallies.get(&(d, k)).copied().unwrap_or_default())
    }

    /// The main table: precision / recall per kind and detector.
    pub fn table(&self) -> String {
        let mut s = String::new();
        s.push_str("| signal (truth instances) |");
        for d in &self.detectors {
            s.push_str(&format!(" {d} P % | {d} R % |"));
        }
        s.push_str("\n|---|");
        for _ in &self.detectors {
            s.push_str("---:|---:|");
        }
        s.push('\n');
        for k in Kind::ALL {
            let n = self.truth_counts.get(&k).copied().unwrap_or(0);
            s.push_str(&format!("| {} ({n}) |", k.as_str()));
            for d in &self.detectors {
                match self.tally(d, k) {
                    Some(t) => s.push_str(&format!(" {} | {} |", pct(t.precision()), pct(t.recall()))),
                    None => s.push_str(" — | — |"),
                }
            }
            s.push('\n');
        }
        s
    }

    /// Raw counts behind the table.
    pub fn counts(&self) -> String {
        let mut s = String::from("| signal |");
        for d in &self.detectors {
            s.push_str(&format!(" {d} TP/FP/FN |"));
        }
        s.push_str("\n|---|");
        for _ in &self.detectors {
            s.push_str("---:|");
        }
        s.push('\n');
        for k in Kind::ALL {
            s.push_str(&format!("| {} |", k.as_str()));
            for d in &self.detectors {
                match self.tally(d, k) {
                    Some(t) => s.push_str(&format!(" {}/{}/{} |", t.tp, t.fp, t.fn_)),
                    None => s.push_str(" — |"),
                }
            }
            s.push('\n');
        }
        s
    }

    /// Where false alarms and misses on the issue-worthy kinds come from, per class.
    pub fn class_table(&self) -> String {
        let short = |k: Kind| match k {
            Kind::Rage => "rage",
            Kind::RageAny => "rage*",
            Kind::Dead => "dead",
            Kind::Error => "error",
            Kind::Slow => "slow",
            Kind::Disabled => "disabled",
            Kind::UTurn => "u-turn",
            Kind::FormAbandon => "abandon",
            Kind::ValidationLoop => "vloop",
        };
        let mut classes: BTreeSet<Class> = self.class_counts.keys().copied().collect();
        classes.insert(Class::Background);
        let mut s = String::from("| class (instances) |");
        for d in &self.detectors {
            s.push_str(&format!(" {d} |"));
        }
        s.push_str("\n|---|");
        for _ in &self.detectors {
            s.push_str("---|");
        }
        s.push('\n');
        for c in classes {
            let n = self.class_counts.get(&c).copied().unwrap_or(0);
            let mut row =
                format!("| {} ({}) |", c.name(), if c == Class::Background { "-".into() } else { n.to_string() });
            let mut any = false;
            for d in &self.detectors {
                let mut parts = Vec::new();
                for k in Kind::ALL {
                    if k == Kind::RageAny {
                        continue;
                    }
                    if let Some(&(fp, fne)) = self.by_class.get(&(*d, c, k)) {
                        if fp > 0 {
                            parts.push(format!("FP {} {fp}", short(k)));
                        }
                        if fne > 0 {
                            parts.push(format!("FN {} {fne}", short(k)));
                        }
                    }
                }
                any |= !parts.is_empty();
                row.push_str(&format!(" {} |", if parts.is_empty() { "·".to_string() } else { parts.join(", ") }));
            }
            if any {
                s.push_str(&row);
                s.push('\n');
            }
        }
        s
    }

    /// The issue's target on the issue-worthy kinds: ours ≥ 90 % precision and recall no more
    /// than 10 percentage points below the most sensitive anchor that has the kind.
    pub fn verdict(&self, ours: &'static str) -> String {
        let mut s = String::new();
        for k in Kind::ALL.into_iter().filter(|k| k.issue_worthy()) {
            let Some(o) = self.tally(ours, k) else { continue };
            let best = self
                .detectors
                .iter()
                .filter(|d| **d != ours)
                .filter_map(|d| self.tally(d, k).map(|t| (*d, t.recall())))
                .filter(|(_, r)| !r.is_nan())
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let p_ok = o.precision() >= 0.9;
            let (r_txt, r_ok) = match best {
                Some((d, r)) => (
                    format!("recall {} % vs {d} {} % (floor {} %)", pct(o.recall()), pct(r), pct(r - 0.10)),
                    o.recall() >= r - 0.10,
                ),
                None => (format!("recall {} % (no anchor has this kind)", pct(o.recall())), true),
            };
            s.push_str(&format!(
                "- {}: precision {} % ({}); {} ({})\n",
                k.as_str(),
                pct(o.precision()),
                if p_ok { "met" } else { "NOT met" },
                r_txt,
                if r_ok { "met" } else { "NOT met" }
            ));
        }
        s
    }
}

/// A compact, readable dump of a session with the truth and a detector's predictions, for
/// investigating a miss or a false alarm (`QUALITY_EXPLAIN=<class>` in the bench).
pub fn explain(s: &LabelledSession, preds: &[Pred]) -> String {
    use friction_rules::EventKind as K;
    let t0 = s.events.first().map_or(0, |e| e.timestamp_ms);
    let mut out = format!("session {} classes {:?}\n", s.id, s.classes.iter().map(|c| c.name()).collect::<Vec<_>>());
    for e in &s.events {
        let what = match &e.kind {
            K::Click { modifiers, target, .. } => format!(
                "click {}{}{}",
                friction_rules::element_key(target),
                if modifiers.any() { " +mod" } else { "" },
                if target.disabled { " disabled" } else { "" }
            ),
            K::Pageview { navigation, .. } => format!("pageview {:?} {}", navigation, e.route),
            K::Mutation { near_target, .. } => format!("mutation{}", if *near_target { " near" } else { "" }),
            K::Network { method, status, duration_ms, initiator, .. } => {
                format!("network {method} {status:?} {duration_ms:?}ms init={}", initiator.is_some())
            }
            K::Error { message, .. } => format!("error {message}"),
            K::Scroll { dy, .. } => format!("scroll {dy}"),
            K::Selection { length } => format!("selection {length}"),
            K::Focus => "focus".into(),
            K::Visibility { hidden } => format!("visibility hidden={hidden}"),
            K::Input { field_key, invalid, .. } => {
                format!("input {field_key}{}", if *invalid { " invalid" } else { "" })
            }
            K::Submit { form_key } => format!("submit {form_key:?}"),
            K::Custom { name } => format!("custom {name}"),
            K::Log { message, .. } => format!("log {message}"),
        };
        out.push_str(&format!("  {:>7} {} {}\n", e.timestamp_ms - t0, e.tab_id.as_deref().unwrap_or("-"), what));
    }
    out.push_str(&format!("  truth: {:?}\n", s.truth.iter().map(|l| (l.kind, l.key.as_str())).collect::<Vec<_>>()));
    out.push_str(&format!("  predicted: {:?}\n", preds.iter().map(|p| (p.kind, p.key.as_str())).collect::<Vec<_>>()));
    out
}
