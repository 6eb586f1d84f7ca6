//! Signal versions and retractions (docs/architecture.md §4 "Time: decide early, settle later"),
//! counted by the stage's own [`apply_batch`] on every backend (SQLite always, PostgreSQL when
//! FRICTION_TEST_POSTGRES_URL is set): a version applies once, an older one changes nothing, a
//! retraction takes the signal out of every count and un-confirms below the policy, a fingerprint
//! move leaves both incidents right in either order; server errors confirm by their level.

use friction_incidents::apply_batch;
use friction_incidents::model::{ChangeKind, IncidentConfig};
use friction_schemas::SignalRecord;
use friction_store::testing::migrated_dbs;
use friction_store::{Incident, IncidentStatus, Store};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn signal(id: &str, fingerprint: &str, session: &str, version: i64, start_ms: i64) -> SignalRecord {
    SignalRecord {
        id: id.into(),
        project_id: "p1".into(),
        fingerprint: fingerprint.into(),
        kind: "dead_click".into(),
        label: "dead_click".into(),
        session_id: session.into(),
        view_id: "v1".into(),
        route_template: "/checkout".into(),
        element_key: "button#pay".into(),
        start_ms,
        end_ms: start_ms + 100,
        user_id: Some(format!("user-{session}")),
        version,
        ..Default::default()
    }
}

fn retracted(mut s: SignalRecord, version: i64) -> SignalRecord {
    s.version = version;
    s.retracted = true;
    s
}

fn server_error(id: &str, level: &str, start_ms: i64) -> SignalRecord {
    let mut s = signal(id, "fp-log", "log:pos", 1, start_ms);
    s.kind = "server_error".into();
    s.label = "server_error".into();
    s.user_id = None;
    s.element_key = "log:pos:MISSING_PRICE: product :id has no price".into();
    s.evidence.details.insert("service".into(), "pos".into());
    s.evidence.details.insert("level".into(), level.into());
    s
}

async fn incident(store: &Store, id: &str) -> Incident {
    store.incident(id).await.expect("read").expect("incident")
}

fn counts(i: &Incident) -> (i64, i64, i64) {
    (i.occurrences, i.sessions, i.users)
}

#[tokio::test]
async fn a_retraction_below_the_threshold_unconfirms_and_a_replay_changes_nothing() -> TestResult {
    for db in migrated_dbs().await? {
        let (store, name, config) = (&db.store, db.name(), IncidentConfig::default());
        let three = [signal("a", "fp", "s1", 1, 0), signal("b", "fp", "s2", 1, 10), signal("c", "fp", "s3", 1, 20)];
        apply_batch(store, &three, &config, 1).await?;
        let confirmed = incident(store, "fp").await;
        assert_eq!((confirmed.status, counts(&confirmed)), (IncidentStatus::Confirmed, (3, 3, 3)), "{name}");

        // The third session's click was not dead after all: back to open, published as a status change.
        let touched = apply_batch(store, &[retracted(three[2].clone(), 2)], &config, 2).await?;
        assert_eq!(touched.len(), 1, "{name}");
        assert_eq!(
            (touched[0].change, touched[0].previous_status),
            (ChangeKind::Status, Some(IncidentStatus::Confirmed))
        );
        let open = incident(store, "fp").await;
        assert_eq!(
            (open.status, open.confirmed_at_ms, counts(&open)),
            (IncidentStatus::Open, None, (2, 2, 2)),
            "{name}"
        );
        assert!(open.samples.iter().all(|s| s.signal_id != "c"), "{name}: the retracted signal is no evidence");
        assert_eq!(open.samples.len(), 2, "{name}");

        // The same version again, and the first version late: nothing changes, nothing is counted.
        for late in [retracted(three[2].clone(), 2), three[2].clone()] {
            let touched = apply_batch(store, &[late], &config, 3).await?;
            assert_eq!(touched[0].change, ChangeKind::Replayed, "{name}");
            assert_eq!(incident(store, "fp").await, open, "{name}");
        }

        // A correction (v3, live again, another session) counts once and confirms again.
        let mut back = signal("c", "fp", "s4", 3, 30);
        back.label = "dead_click".into();
        apply_batch(store, &[back.clone(), back], &config, 4).await?;
        let again = incident(store, "fp").await;
        assert_eq!((again.status, counts(&again)), (IncidentStatus::Confirmed, (3, 3, 3)), "{name}");
        assert_eq!(again.last_seen_ms, 130, "{name}: the newest version's end");
    }
    Ok(())
}

#[tokio::test]
async fn versions_in_any_order_and_batching_give_the_same_incident() -> TestResult {
    for db in migrated_dbs().await? {
        let (store, name, config) = (&db.store, db.name(), IncidentConfig::default());
        // v1 in session s1, v2 moves it to s2 with another label, v3 retracts it; b stays.
        let mut v2 = signal("a", "fp", "s2", 2, 5);
        v2.label = "dead_click:late".into();
        let versions = [signal("a", "fp", "s1", 1, 0), v2.clone(), signal("b", "fp", "s3", 1, 7)];
        apply_batch(store, &versions, &config, 1).await?;
        let in_order = incident(store, "fp").await;
        assert_eq!(counts(&in_order), (2, 2, 2), "{name}: a newer version replaces the older one's contribution");
        assert!(in_order.labels.contains(&"dead_click:late".to_owned()), "{name}: {:?}", in_order.labels);

        let other = Store::connect(&db.url).await?;
        // Newest first, each alone, with the oldest last.
        for s in [v2.clone(), signal("b", "fp2", "s3", 1, 7)] {
            let mut s = s;
            s.fingerprint = "fp2".into();
            apply_batch(&other, &[s], &config, 1).await?;
        }
        let mut v1 = signal("a", "fp2", "s1", 1, 0);
        v1.fingerprint = "fp2".into();
        apply_batch(&other, &[v1], &config, 1).await?;
        let reversed = incident(&other, "fp2").await;
        assert_eq!(counts(&reversed), counts(&in_order), "{name}");
        assert_eq!(reversed.labels, in_order.labels, "{name}");
        assert_eq!((reversed.first_seen_ms, reversed.last_seen_ms), (in_order.first_seen_ms, in_order.last_seen_ms));
        other.close().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_fingerprint_move_leaves_each_incident_right_in_either_order() -> TestResult {
    for db in migrated_dbs().await? {
        let (store, name, config) = (&db.store, db.name(), IncidentConfig::default());
        // v1 a dead click under "old"; v2 retracts it there; v3 publishes it as a rage click under "new".
        let orders: [(&str, [u8; 3]); 2] = [("x", [1, 2, 3]), ("y", [3, 2, 1])];
        for (prefix, order) in orders {
            let (old, new) = (format!("{prefix}-old"), format!("{prefix}-new"));
            let v1 = signal("sig", &old, "s1", 1, 0);
            let v2 = retracted(v1.clone(), 2);
            let mut v3 = signal("sig", &new, "s1", 3, 0);
            v3.kind = "rage_click".into();
            let others = [signal("o1", &old, "s2", 1, 5), signal("o2", &new, "s3", 1, 6)];
            apply_batch(store, &others, &config, 1).await?;
            for n in order {
                let s = [&v1, &v2, &v3][usize::from(n) - 1].clone();
                apply_batch(store, &[s], &config, 2).await?;
            }
            let (o, n) = (incident(store, &old).await, incident(store, &new).await);
            assert_eq!(counts(&o), (1, 1, 1), "{name} {order:?}: the old fingerprint keeps only its other signal");
            assert_eq!(counts(&n), (2, 2, 2), "{name} {order:?}: the new one counts the moved signal");
            assert!(o.samples.iter().all(|s| s.signal_id != "sig"), "{name} {order:?}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_server_error_confirms_at_its_first_error_line_not_at_warn() -> TestResult {
    for db in migrated_dbs().await? {
        let (store, name, config) = (&db.store, db.name(), IncidentConfig::default());
        let mut warn = server_error("w1", "warn", 0);
        warn.fingerprint = "fp-warn".into();
        let more_warns: Vec<SignalRecord> = (2..6)
            .map(|n| {
                let mut w = server_error(&format!("w{n}"), "warn", n);
                w.fingerprint = "fp-warn".into();
                w
            })
            .collect();
        apply_batch(store, &[warn], &config, 1).await?;
        apply_batch(store, &more_warns, &config, 1).await?;
        let w = incident(store, "fp-warn").await;
        assert_eq!((w.status, w.occurrences, w.sessions), (IncidentStatus::Open, 5, 1), "{name}: warn never confirms");

        let touched = apply_batch(store, &[server_error("e1", "error", 10)], &config, 2).await?;
        assert_eq!(touched[0].incident.status, IncidentStatus::Confirmed, "{name}: one error line confirms");
        assert_eq!(touched[0].change, ChangeKind::Created, "{name}");
        let mut fatal = server_error("f1", "fatal", 10);
        fatal.fingerprint = "fp-fatal".into();
        apply_batch(store, &[fatal], &config, 2).await?;
        assert_eq!(incident(store, "fp-fatal").await.status, IncidentStatus::Confirmed, "{name}");

        // Retracting the only error line un-confirms it.
        apply_batch(store, &[retracted(server_error("e1", "error", 10), 2)], &config, 3).await?;
        assert_eq!(incident(store, "fp-log").await.status, IncidentStatus::Open, "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn a_project_policy_from_the_rules_file_applies_to_its_project_only() -> TestResult {
    let base = friction_incidents::ConfirmationPolicy::default();
    let rules = friction_incidents::rules_file::parse_confirmation(
        "confirmation:\n  projects:\n    p1:\n      min_sessions: 1\n      server_error: sessions\n",
        "rules.yaml",
        &base,
    )?;
    let config = IncidentConfig { confirmation: rules, ..IncidentConfig::default() };
    for db in migrated_dbs().await? {
        let (store, name) = (&db.store, db.name());
        let mut elsewhere = signal("x", "fp-other", "s1", 1, 0);
        elsewhere.project_id = "p2".into();
        apply_batch(store, &[signal("a", "fp", "s1", 1, 0), elsewhere], &config, 1).await?;
        assert_eq!(incident(store, "fp").await.status, IncidentStatus::Confirmed, "{name}: p1 confirms at one session");
        assert_eq!(incident(store, "fp-other").await.status, IncidentStatus::Open, "{name}: p2 keeps the default");
    }
    Ok(())
}

#[tokio::test]
async fn a_hand_confirmed_incident_stays_confirmed_after_a_retraction() -> TestResult {
    for db in migrated_dbs().await? {
        let (store, name, config) = (&db.store, db.name(), IncidentConfig::default());
        apply_batch(store, &[signal("a", "fp", "s1", 1, 0), signal("b", "fp", "s2", 1, 1)], &config, 1).await?;
        let mut inc = incident(store, "fp").await;
        let expected = inc.version;
        assert_eq!(
            friction_incidents::model::set_status(&mut inc, IncidentStatus::Confirmed, 5),
            Ok(Some(IncidentStatus::Open))
        );
        inc.version += 1;
        let mut tx = store.begin_incidents().await?;
        assert!(tx.update_incident(&inc, expected).await?);
        tx.commit().await?;
        apply_batch(store, &[retracted(signal("b", "fp", "s2", 1, 1), 2)], &config, 6).await?;
        let after = incident(store, "fp").await;
        assert_eq!(
            (after.status, after.confirmed_manually, after.occurrences),
            (IncidentStatus::Confirmed, true, 1),
            "{name}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_retracted_sample_is_replaced_by_the_next_earliest_live_signal() -> TestResult {
    for db in migrated_dbs().await? {
        let (store, name, config) = (&db.store, db.name(), IncidentConfig::default());
        let signals: Vec<SignalRecord> =
            (0..12).map(|n| signal(&format!("id{n:02}"), "fp", &format!("s{n}"), 1, n * 1000)).collect();
        apply_batch(store, &signals, &config, 1).await?;
        let ids = |i: &Incident| i.samples.iter().map(|s| s.signal_id.clone()).collect::<Vec<_>>();
        let expected = |from: usize, to: usize| (from..to).map(|n| format!("id{n:02}")).collect::<Vec<_>>();
        assert_eq!(ids(&incident(store, "fp").await), expected(0, 10), "{name}");
        // The two earliest are retracted: the evidence is the ten earliest live ones.
        apply_batch(store, &[retracted(signals[0].clone(), 2), retracted(signals[1].clone(), 2)], &config, 2).await?;
        assert_eq!(ids(&incident(store, "fp").await), expected(2, 12), "{name}");
    }
    Ok(())
}
