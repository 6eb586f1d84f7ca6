//! Corrections (docs/architecture.md §4 "Time: decide early, settle later"): given what a session
//! published and what its latest judgement says, which versions of which signal records to publish.
//! Pure and I/O-free.
//!
//! - A record's `id` is stable for the life of the thing it describes: the episode's id when it was
//!   first published. A later judgement of the same episode (same episode id, or on the same tab,
//!   view and element and sharing evidence events: a late earlier click joined the burst, which
//!   changes the episode id) republishes that id with `version + 1` if anything changed.
//! - A correction that moves the record to another fingerprint (its primary kind changed) is two
//!   records: `version + 1` retracted under the old fingerprint, `version + 2` under the new one.
//! - When the judgement covers every episode still open to change ([`Scope::All`]), a published
//!   record that no episode stands for any more is retracted (`version + 1`, `retracted: true`,
//!   contents as last published), unless a candidate at its place is still undecided (it may come
//!   back: wait rather than flap).
//! - An episode seen again after its retraction is republished live under its id, version + 1.

use friction_schemas::encode_to_vec;
use friction_schemas::signal::SignalRecord;
use serde::{Deserialize, Serialize};

/// One record id a session published and may still correct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// The episode id it last stood for (its `id` may be an earlier one, see the module doc).
    pub episode_id: String,
    /// Digest of the contents last published (see [`digest`]).
    pub digest: u64,
    /// Event time from which it can no longer change (its episode's close), `None` while open.
    /// A retraction keeps the id until this time so a late return continues its versions.
    pub final_at_ms: Option<i64>,
    /// The last published record (id, version, retracted included).
    pub record: SignalRecord,
}

/// An episode as the latest judgement sees it.
#[derive(Debug, Clone)]
pub struct Current {
    /// Its episode id.
    pub episode_id: String,
    /// Its record (`id` and `version` are assigned here).
    pub record: SignalRecord,
    /// Event time at which it closed; `None` while it is provisional.
    pub final_at_ms: Option<i64>,
}

/// What the judgement's episodes cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only episodes with something newly decided: a published record absent from them is
    /// unchanged, not contradicted.
    New,
    /// Every episode that can still change: a published record absent from them was contradicted.
    All,
}

/// How many records of each sort [`reconcile`] produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Corrections {
    /// First publications.
    pub new: u32,
    /// Republications with new contents (fingerprint moves included).
    pub updated: u32,
    /// Retractions (fingerprint moves included).
    pub retracted: u32,
}

impl std::ops::AddAssign for Corrections {
    fn add_assign(&mut self, other: Self) {
        self.new += other.new;
        self.updated += other.updated;
        self.retracted += other.retracted;
    }
}

/// Publishes what changed between `published` and `current` (appended to `out`, in the order they
/// must be sent), and updates `published`. `hold(record)`: a candidate at the record's place is
/// still undecided. `tombstone_keep_ms`: how long after its end a retracted record's id is kept.
pub fn reconcile(
    published: &mut Vec<Published>,
    mut current: Vec<Current>,
    scope: Scope,
    hold: impl Fn(&SignalRecord) -> bool,
    tombstone_keep_ms: i64,
    out: &mut Vec<SignalRecord>,
) -> Corrections {
    let mut counts = Corrections::default();
    current.sort_by(|a, b| (a.record.start_ms, &a.episode_id).cmp(&(b.record.start_ms, &b.episode_id)));
    // Which published entry each current episode continues: the same episode id first, then a
    // live entry at the same place sharing an event.
    let mut target: Vec<Option<usize>> = vec![None; current.len()];
    let mut claimed = vec![false; published.len()];
    for (c, t) in current.iter().zip(target.iter_mut()) {
        if let Some(i) = published.iter().position(|p| p.episode_id == c.episode_id || p.record.id == c.episode_id) {
            if !claimed[i] {
                claimed[i] = true;
                *t = Some(i);
            }
        }
    }
    for (c, t) in current.iter().zip(target.iter_mut()) {
        if t.is_some() {
            continue;
        }
        let found = published.iter().enumerate().position(|(i, p)| {
            !claimed[i] && !p.record.retracted && same_place(&p.record, &c.record) && shares_event(&p.record, &c.record)
        });
        if let Some(i) = found {
            claimed[i] = true;
            *t = Some(i);
        }
    }

    for (c, t) in current.into_iter().zip(target) {
        let mut record = c.record;
        let digest = digest(&mut record);
        match t {
            None => {
                record.id = c.episode_id.clone();
                record.episode_id = Some(c.episode_id.clone());
                record.version = 1;
                record.retracted = false;
                out.push(record.clone());
                counts.new += 1;
                published.push(Published { episode_id: c.episode_id, digest, final_at_ms: c.final_at_ms, record });
                claimed.push(true);
            }
            Some(i) => {
                let p = &mut published[i];
                p.final_at_ms = c.final_at_ms;
                let unchanged = !p.record.retracted && p.digest == digest;
                p.episode_id = c.episode_id;
                if unchanged {
                    continue;
                }
                record.id = p.record.id.clone();
                record.episode_id = Some(p.record.id.clone());
                let mut version = p.record.version;
                if !p.record.retracted && p.record.fingerprint != record.fingerprint {
                    // Its old incident takes it out first, then its new one counts it.
                    version += 1;
                    out.push(SignalRecord { version, retracted: true, ..p.record.clone() });
                    counts.retracted += 1;
                }
                record.version = version + 1;
                record.retracted = false;
                out.push(record.clone());
                counts.updated += 1;
                p.digest = digest;
                p.record = record;
            }
        }
    }

    if scope == Scope::All {
        for (p, _) in published.iter_mut().zip(&claimed).filter(|(_, &c)| !c) {
            if p.record.retracted || hold(&p.record) {
                continue;
            }
            p.record.version += 1;
            p.record.retracted = true;
            p.final_at_ms = Some(p.record.end_ms.saturating_add(tombstone_keep_ms));
            out.push(p.record.clone());
            counts.retracted += 1;
        }
    }
    counts
}

/// Forgets every entry that can no longer change once everything up to `final_through_ms` is
/// settled.
pub fn settle(published: &mut Vec<Published>, final_through_ms: i64) {
    published.retain(|p| p.final_at_ms.is_none_or(|f| f > final_through_ms));
}

/// A digest of what a record says, leaving out what a correction sets (id, version, retraction)
/// and when it was decided, so an unchanged episode is not republished. Those fields are set aside
/// while it is encoded (not a copy of the record) and put back.
pub fn digest(record: &mut SignalRecord) -> u64 {
    let id = std::mem::take(&mut record.id);
    let episode_id = record.episode_id.take();
    let decided_at_ms = record.decided_at_ms.take();
    let version = std::mem::replace(&mut record.version, 0);
    let retracted = std::mem::replace(&mut record.retracted, false);
    // Encoding a valid record cannot fail; if it did, a changing digest only costs a republish.
    let bytes = encode_to_vec(&*record).unwrap_or_default();
    record.id = id;
    record.episode_id = episode_id;
    record.decided_at_ms = decided_at_ms;
    record.version = version;
    record.retracted = retracted;
    fnv1a(&bytes)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn same_place(a: &SignalRecord, b: &SignalRecord) -> bool {
    a.session_id == b.session_id && a.tab_id == b.tab_id && a.view_id == b.view_id && a.element_key == b.element_key
}

fn shares_event(a: &SignalRecord, b: &SignalRecord) -> bool {
    a.evidence.event_ids.iter().any(|e| b.evidence.event_ids.contains(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: &str, fingerprint: &str, events: &[&str]) -> SignalRecord {
        let mut r = SignalRecord {
            kind: kind.into(),
            fingerprint: fingerprint.into(),
            session_id: "s#0".into(),
            view_id: "v".into(),
            element_key: "button#pay".into(),
            ..SignalRecord::default()
        };
        r.evidence.event_ids = events.iter().map(|e| (*e).to_string()).collect();
        r
    }

    fn cur(episode: &str, record: SignalRecord) -> Current {
        Current { episode_id: episode.into(), record, final_at_ms: None }
    }

    fn run(published: &mut Vec<Published>, current: Vec<Current>, scope: Scope) -> Vec<SignalRecord> {
        let mut out = Vec::new();
        reconcile(published, current, scope, |_| false, 60_000, &mut out);
        out
    }

    #[test]
    fn a_first_judgement_publishes_version_one_and_an_unchanged_one_nothing() {
        let mut published = Vec::new();
        let out = run(&mut published, vec![cur("ep1", rec("dead_click", "fp-dead", &["e1"]))], Scope::New);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].id.as_str(), out[0].version, out[0].retracted), ("ep1", 1, false));
        let again = run(&mut published, vec![cur("ep1", rec("dead_click", "fp-dead", &["e1"]))], Scope::All);
        assert!(again.is_empty(), "the same contents again publish nothing: {again:?}");
    }

    #[test]
    fn a_new_member_republishes_the_same_id_with_a_higher_version() {
        let mut published = Vec::new();
        run(&mut published, vec![cur("ep1", rec("rage_click", "fp-rage", &["e1", "e2", "e3"]))], Scope::New);
        let out =
            run(&mut published, vec![cur("ep1", rec("rage_click", "fp-rage", &["e1", "e2", "e3", "e4"]))], Scope::New);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].id.as_str(), out[0].version, out[0].retracted), ("ep1", 2, false));
        assert_eq!(out[0].evidence.event_ids.len(), 4);
    }

    #[test]
    fn a_late_earlier_click_that_changes_the_episode_id_continues_the_published_id() {
        let mut published = Vec::new();
        run(&mut published, vec![cur("ep-e2", rec("rage_click", "fp-rage", &["e2", "e3", "e4"]))], Scope::New);
        // e1 arrives late: the episode now starts at e1, so its own id is another one.
        let out = run(
            &mut published,
            vec![cur("ep-e1", rec("rage_click", "fp-rage", &["e1", "e2", "e3", "e4"]))],
            Scope::All,
        );
        assert_eq!(out.len(), 1, "one new version, not a second signal nor a retraction: {out:?}");
        assert_eq!((out[0].id.as_str(), out[0].version, out[0].retracted), ("ep-e2", 2, false));
        assert_eq!(published.len(), 1);
    }

    #[test]
    fn a_contradicted_record_is_retracted_with_its_last_contents_once() {
        let mut published = Vec::new();
        run(&mut published, vec![cur("ep1", rec("dead_click", "fp-dead", &["e1"]))], Scope::New);
        // Scope::New: absence proves nothing.
        assert!(run(&mut published, vec![], Scope::New).is_empty());
        let out = run(&mut published, vec![], Scope::All);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].id.as_str(), out[0].version, out[0].retracted), ("ep1", 2, true));
        assert_eq!((out[0].kind.as_str(), out[0].fingerprint.as_str()), ("dead_click", "fp-dead"));
        assert!(run(&mut published, vec![], Scope::All).is_empty(), "retracted once");
    }

    #[test]
    fn a_held_record_is_not_retracted_while_its_place_is_undecided() {
        let mut published = Vec::new();
        run(&mut published, vec![cur("ep1", rec("rage_click", "fp-rage", &["e1", "e2", "e3"]))], Scope::New);
        let mut out = Vec::new();
        reconcile(&mut published, vec![], Scope::All, |_| true, 60_000, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_fingerprint_move_retracts_under_the_old_fingerprint_then_publishes_under_the_new() {
        let mut published = Vec::new();
        run(&mut published, vec![cur("ep1", rec("dead_click", "fp-dead", &["e1"]))], Scope::New);
        let out = run(&mut published, vec![cur("ep1", rec("rage_click", "fp-rage", &["e1", "e2", "e3"]))], Scope::New);
        let got: Vec<(&str, i64, bool, &str)> =
            out.iter().map(|r| (r.id.as_str(), r.version, r.retracted, r.fingerprint.as_str())).collect();
        assert_eq!(got, [("ep1", 2, true, "fp-dead"), ("ep1", 3, false, "fp-rage")]);
    }

    #[test]
    fn an_episode_back_after_its_retraction_continues_its_versions() {
        let mut published = Vec::new();
        run(&mut published, vec![cur("ep1", rec("dead_click", "fp-dead", &["e1"]))], Scope::New);
        run(&mut published, vec![], Scope::All);
        let out = run(&mut published, vec![cur("ep1", rec("dead_click", "fp-dead", &["e1"]))], Scope::All);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].version, out[0].retracted), (3, false));
    }

    #[test]
    fn settled_entries_are_forgotten_and_open_ones_kept() {
        let mut published = Vec::new();
        run(
            &mut published,
            vec![
                Current { episode_id: "closed".into(), record: rec("dead_click", "a", &["e1"]), final_at_ms: Some(10) },
                Current { episode_id: "open".into(), record: rec("dead_click", "b", &["e9"]), final_at_ms: None },
            ],
            Scope::New,
        );
        settle(&mut published, 10);
        let left: Vec<&str> = published.iter().map(|p| p.episode_id.as_str()).collect();
        assert_eq!(left, ["open"]);
    }

    #[test]
    fn the_digest_ignores_what_a_correction_sets_and_leaves_the_record_as_it_was() {
        let mut a = rec("dead_click", "fp", &["e1"]);
        let mut b = SignalRecord {
            id: "x".into(),
            episode_id: Some("x".into()),
            version: 9,
            retracted: true,
            decided_at_ms: Some(5),
            ..a.clone()
        };
        let b_before = b.clone();
        assert_eq!(digest(&mut a), digest(&mut b));
        assert_eq!(b, b_before, "the fields set aside are put back");
        let mut c = rec("dead_click", "fp", &["e1", "e2"]);
        assert_ne!(digest(&mut a), digest(&mut c));
    }
}
