//! Shared by the warehouse tests: the documented queries, the warehouse's configuration for a test
//! database, and a known stream of records. The services themselves (ClickHouse, the broker, a
//! throwaway database per test) are `friction_test_support`'s.
#![allow(dead_code)]

use std::collections::BTreeMap;

use friction_schemas::event::{Click, Navigation, Target};
use friction_schemas::{EvidenceRecord, IncidentChange, RawEvent, SessionSummary, Sessionized, SignalRecord};
use friction_warehouse::ClickHouseConfig;

/// docs/analytics.md, whose queries the tests run.
pub const DOC: &str = include_str!("../../../../docs/analytics.md");

/// The ```sql blocks of the doc, in order.
pub fn sql_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sql") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unterminated ```sql block in docs/analytics.md");
    blocks
}

/// A documented query with its tables in database `db` instead of `friction`.
pub fn in_database(sql: &str, db: &str) -> String {
    let mut s = sql.to_string();
    for t in ["events", "sessions", "signals", "incidents"] {
        s = s.replace(&format!("friction.{t}"), &format!("{db}.{t}"));
    }
    s
}

/// Runs `sql` and returns its answer as tab-separated text with a header line.
pub async fn tsv(client: &clickhouse::Client, sql: &str) -> Result<String, clickhouse::error::Error> {
    let bytes = client.query(sql).fetch_bytes("TabSeparatedWithNames")?.collect().await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The answer of the doc's first query ("How much of each table there is") over `db`.
pub async fn documented_counts(client: &clickhouse::Client, db: &str) -> Result<String, clickhouse::error::Error> {
    let first = sql_blocks(DOC).into_iter().next().unwrap_or_default();
    tsv(client, &in_database(&first, db)).await
}

/// What [`documented_counts`] answers for `stream`, stored exactly once.
pub fn expected_counts(stream: &Stream) -> String {
    let versions: std::collections::BTreeSet<(String, i64)> =
        stream.incidents.iter().map(|i| (i.id.clone(), i.version)).collect();
    let incidents: std::collections::BTreeSet<&str> = stream.incidents.iter().map(|i| i.id.as_str()).collect();
    format!(
        "events\tsessions\tsignals\tincidents\tincident_versions\n{}\t{}\t{}\t{}\t{}\n",
        stream.events.len(),
        stream.sessions.len(),
        stream.signals.len(),
        incidents.len(),
        versions.len()
    )
}

/// Rows ever inserted into the four tables, repeats included. Not `count()`: a background merge
/// of the ReplacingMergeTree tables collapses a repeated row within moments of its insert, so a
/// replay could be over before a poll of `count()` saw it (and a duplicate insert could hide).
/// Every insert makes level-0 parts, and a part merged away stays listed (inactive) in
/// `system.parts` for `old_parts_lifetime` (8 minutes by default), far longer than a test.
pub async fn raw_rows(client: &clickhouse::Client) -> u64 {
    client
        .query(
            "SELECT toUInt64(sum(rows)) FROM system.parts WHERE database = currentDatabase() AND level = 0 \
             AND table IN ('events', 'sessions', 'signals', 'incidents')",
        )
        .fetch_one::<u64>()
        .await
        .unwrap_or(0)
}

/// Rows ever inserted into `table`, repeats included (see [`raw_rows`] for why not `count()`).
pub async fn raw_rows_of(client: &clickhouse::Client, table: &str) -> u64 {
    client
        .query("SELECT toUInt64(sum(rows)) FROM system.parts WHERE database = currentDatabase() AND level = 0 AND table = ?")
        .bind(table)
        .fetch_one::<u64>()
        .await
        .unwrap_or_else(|e| panic!("rows of {table} in system.parts: {e}"))
}

pub fn config(url: &str, database: &str) -> ClickHouseConfig {
    ClickHouseConfig { database: database.to_string(), ..ClickHouseConfig::new(url) }
}

/// 2024-01-15T10:00:00Z, the day of the known stream.
pub const T0: i64 = 1_705_312_800_000;
pub const PROJECT: &str = "shop";

/// The known stream: what the pipeline would have produced for it.
pub struct Stream {
    pub events: Vec<Sessionized<'static>>,
    pub sessions: Vec<SessionSummary>,
    pub signals: Vec<SignalRecord>,
    pub incidents: Vec<IncidentChange>,
}

impl Stream {
    pub fn len(&self) -> usize {
        self.events.len() + self.sessions.len() + self.signals.len() + self.incidents.len()
    }
}

pub fn event(
    session: usize,
    i: usize,
    ts: i64,
    kind: &str,
    route: &str,
    user: Option<&str>,
    release: &str,
) -> Sessionized<'static> {
    let sid = format!("s{session:03}");
    let mut e = RawEvent {
        project_id: PROJECT.into(),
        session_id: sid.clone().into(),
        event_id: format!("{sid}-e{i:03}").into(),
        event_type: kind.to_string().into(),
        timestamp: ts,
        client_timestamp: ts,
        received_at: ts + 50,
        user_id: user.map(|u| u.to_string().into()),
        route: Some(route.to_string().into()),
        url: Some(format!("https://shop.example{route}").into()),
        release: Some(release.to_string().into()),
        metadata: "{}".into(),
        ..RawEvent::default()
    };
    match kind {
        "pageview" => {
            e.navigation = Some(Navigation { from: None, to: Some(route.to_string().into()), kind: "push".into() })
        }
        "click" => {
            e.target = Some(Target { key: Some("button#pay".into()), tag: Some("button".into()), ..Target::default() });
            e.click = Some(Click::default());
        }
        _ => {}
    }
    Sessionized {
        session_key: format!("{sid}#{}", T0).into(),
        seq: i as i64,
        view_id: format!("{sid}:v0").into(),
        view_index: 0,
        late: false,
        reordered: false,
        session_start: T0,
        event: e,
    }
}

/// `sessions` sessions over two days and two releases. Each session: a pageview of `/product/<n>`,
/// a pageview of `/checkout`, three clicks on the pay button, a pageview of `/thanks` when it
/// completes. Every third session is frustrated on `/checkout` (a rage click, and every sixth also a
/// dead click with a measured latency) and never reaches `/thanks`. Session `n` belongs to user
/// `u<n/2>` except every fifth session, which is anonymous. The frustrated sessions' signals form
/// one incident with a version per change.
pub fn known_stream(sessions: usize) -> Stream {
    let mut s = Stream { events: Vec::new(), sessions: Vec::new(), signals: Vec::new(), incidents: Vec::new() };
    let mut incident_version = 0i64;
    let mut frustrated_users: Vec<String> = Vec::new();
    for n in 0..sessions {
        let day = (n % 2) as i64;
        let start = T0 + day * 86_400_000 + n as i64 * 10_000;
        let user = (n % 5 != 0).then(|| format!("u{}", n / 2));
        let release = if n % 2 == 0 { "1.0.0" } else { "1.1.0" };
        let frustrated = n % 3 == 0;
        let product = format!("/product/{}", 100 + n % 4);
        let mut i = 0;
        let mut push = |ts: i64, kind: &str, route: &str, out: &mut Vec<Sessionized<'static>>| {
            out.push(event(n, i, ts, kind, route, user.as_deref(), release));
            i += 1;
        };
        push(start, "pageview", &product, &mut s.events);
        push(start + 1_000, "pageview", "/checkout", &mut s.events);
        for c in 0..3 {
            push(start + 2_000 + c * 300, "click", "/checkout", &mut s.events);
        }
        if !frustrated {
            push(start + 4_000, "pageview", "/thanks", &mut s.events);
        }
        let count = s.events.iter().filter(|e| e.event.session_id == format!("s{n:03}")).count() as i64;
        let routes: Vec<String> = if frustrated {
            vec![product.clone(), "/checkout".into()]
        } else {
            vec![product.clone(), "/checkout".into(), "/thanks".into()]
        };
        s.sessions.push(SessionSummary {
            project_id: PROJECT.into(),
            session_id: format!("s{n:03}"),
            session_key: format!("s{n:03}#{T0}"),
            start,
            end: start + if frustrated { 2_600 } else { 4_000 },
            duration_ms: if frustrated { 2_600 } else { 4_000 },
            events: count,
            views: routes.len() as i64,
            clicks: 3,
            errors: 0,
            routes,
            routes_truncated: false,
            release: Some(release.into()),
            user_id: user.clone(),
            close_reason: "inactivity".into(),
            late_events: 0,
            duplicates_dropped: 0,
        });
        if frustrated {
            let mut kinds = vec![("rage_click", 0i64)];
            if n % 6 == 0 {
                kinds.push(("dead_click", 7_000 + n as i64));
            }
            for (kind, latency) in kinds {
                let mut measurements = BTreeMap::new();
                if kind == "dead_click" {
                    measurements.insert("observed_ms".to_string(), latency as f64);
                } else {
                    measurements.insert("click_count".to_string(), 3.0);
                }
                s.signals.push(SignalRecord {
                    id: format!("sig-{kind}-{n:03}"),
                    project_id: PROJECT.into(),
                    fingerprint: format!("fp-{kind}"),
                    kind: kind.into(),
                    unresponsive: true,
                    label: kind.into(),
                    session_id: format!("s{n:03}"),
                    tab_id: None,
                    view_id: format!("s{n:03}:v1"),
                    route_template: "/checkout".into(),
                    element_key: "button#pay".into(),
                    start_ms: start + 2_000,
                    end_ms: start + 2_600,
                    decided_at_ms: Some(start + 10_000),
                    user_id: user.clone(),
                    release: Some(release.into()),
                    url: Some("https://shop.example/checkout".into()),
                    episode_id: None,
                    evidence: EvidenceRecord {
                        rule: kind.into(),
                        rule_version: 1,
                        event_ids: vec![format!("s{n:03}-e002")],
                        measurements,
                        ..EvidenceRecord::default()
                    },
                    ..SignalRecord::default()
                });
            }
            if let Some(u) = &user {
                if !frustrated_users.contains(u) {
                    frustrated_users.push(u.clone());
                }
            }
            incident_version += 1;
            let frustrated_sessions = incident_version;
            s.incidents.push(IncidentChange {
                id: "inc-checkout-pay".into(),
                project_id: PROJECT.into(),
                fingerprint: "fp-rage_click".into(),
                kind: "rage_click".into(),
                labels: vec!["rage_click".into()],
                title: "Rage clicks on button#pay at /checkout".into(),
                route_template: "/checkout".into(),
                element_key: "button#pay".into(),
                status: if frustrated_sessions >= 3 { "confirmed".into() } else { "open".into() },
                previous_status: None,
                change: if incident_version == 1 { "created".into() } else { "occurrence".into() },
                severity: 0.5,
                priority: "high".into(),
                occurrences: frustrated_sessions,
                sessions: frustrated_sessions,
                users: frustrated_users.len() as i64,
                first_seen_ms: T0,
                last_seen_ms: start + 2_000,
                confirmed_at_ms: None,
                releases: vec!["1.0.0".into()],
                latest_release: Some(release.into()),
                generation: 1,
                version: incident_version,
                changed_at_ms: start + 10_000,
                samples: Vec::new(),
            });
        }
    }
    s
}
