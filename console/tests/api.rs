//! The incidents stage's store writes and the console API on every backend (SQLite always,
//! PostgreSQL when FRICTION_TEST_POSTGRES_URL is set): counting, replays, concurrent writers,
//! auth (401/403), filters, pagination, status changes and the audit log.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use friction_console::{router, ConsoleState};
use friction_incidents::model::ChangeKind;
use friction_incidents::{apply_batch, IncidentConfig};
use friction_schemas::SignalRecord;
use friction_store::testing::migrated_dbs;
use friction_store::{Role, Store};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn signal(id: &str, fingerprint: &str, kind: &str, session: &str, start_ms: i64) -> SignalRecord {
    SignalRecord {
        id: id.into(),
        project_id: "proj".into(),
        fingerprint: fingerprint.into(),
        kind: kind.into(),
        label: kind.into(),
        session_id: session.into(),
        view_id: "v".into(),
        route_template: if kind == "dead_click" { "/search".into() } else { "/checkout".into() },
        element_key: "button#pay".into(),
        start_ms,
        end_ms: start_ms + 100,
        user_id: Some(format!("user-{session}")),
        release: Some("1.0".into()),
        ..Default::default()
    }
}

fn seed_signals() -> Vec<SignalRecord> {
    vec![
        signal("r1", "fp-rage", "rage_click", "s1", 1_000),
        signal("r2", "fp-rage", "rage_click", "s1", 2_000),
        signal("r3", "fp-rage", "rage_click", "s2", 3_000),
        signal("r4", "fp-rage", "rage_click", "s3", 4_000),
        signal("d1", "fp-dead", "dead_click", "s1", 5_000),
    ]
}

async fn call(store: &Store, method: &str, uri: &str, token: Option<&str>, body: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req.header("content-type", "application/json").body(Body::from(body.unwrap_or("").to_owned()));
    let resp = router(ConsoleState::new(store.clone(), None)).oneshot(req.expect("request")).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn batches_count_once_and_replays_change_nothing() -> TestResult {
    for db in migrated_dbs().await? {
        let config = IncidentConfig::default();
        let touched = apply_batch(&db.store, &seed_signals(), &config, 10).await?;
        assert_eq!(touched.len(), 2, "{}", db.name());
        let rage = db.store.incident("fp-rage").await?.expect("rage incident");
        assert_eq!((rage.occurrences, rage.sessions, rage.users), (4, 3, 3), "{}", db.name());
        assert_eq!(rage.status.as_str(), "confirmed", "{}", db.name());
        assert_eq!(rage.samples.len(), 4);
        let dead = db.store.incident("fp-dead").await?.expect("dead incident");
        assert_eq!((dead.occurrences, dead.sessions, dead.status.as_str()), (1, 1, "open"));

        // The whole batch again (a replay after a crash): nothing changes, snapshots are re-sent.
        let again = apply_batch(&db.store, &seed_signals(), &config, 20).await?;
        assert!(again.iter().all(|t| t.change == ChangeKind::Replayed), "{}", db.name());
        assert_eq!(db.store.incident("fp-rage").await?.expect("rage"), rage, "{}", db.name());
    }
    Ok(())
}

#[tokio::test]
async fn concurrent_writers_never_double_count() -> TestResult {
    for db in migrated_dbs().await? {
        let config = IncidentConfig::default();
        let signals: Vec<SignalRecord> =
            (0..60).map(|i| signal(&format!("c{i}"), "fp-c", "rage_click", &format!("s{}", i % 20), i)).collect();
        let other = db.another_store().await?;
        // Two copies see overlapping halves (as during a rebalance) at the same time.
        let (a, b) = (signals[..40].to_vec(), signals[20..].to_vec());
        let run = |store: Store, batch: Vec<SignalRecord>, config: IncidentConfig| async move {
            for _ in 0..50 {
                match apply_batch(&store, &batch, &config, 1).await {
                    Ok(_) => return Ok(()),
                    Err(e) if e.is_transient() => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                    Err(e) => return Err(e),
                }
            }
            panic!("no progress after 50 attempts");
        };
        let (ra, rb) = tokio::join!(
            tokio::spawn(run(db.store.clone(), a, config.clone())),
            tokio::spawn(run(other, b, config.clone()))
        );
        ra??;
        rb??;
        let inc = db.store.incident("fp-c").await?.expect("incident");
        assert_eq!((inc.occurrences, inc.sessions, inc.users), (60, 20, 20), "{}", db.name());
    }
    Ok(())
}

#[tokio::test]
async fn auth_roles_filters_pagination_and_status_changes() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let project = store.create_project("proj-console").await?;
        let mut signals = seed_signals();
        for s in &mut signals {
            s.project_id = project.id.clone();
        }
        apply_batch(store, &signals, &IncidentConfig::default(), 10).await?;
        let viewer = store.create_console_token(Role::Viewer, Some("v")).await?.secret;
        let engineer = store.create_console_token(Role::Engineer, None).await?.secret;

        let (status, body) = call(store, "GET", "/v1/incidents", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        let (status, _) = call(store, "GET", "/v1/incidents", Some("frt_nope"), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let (status, body) = call(store, "GET", "/v1/incidents", Some(&viewer), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let list = body["incidents"].as_array().expect("incidents");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["id"], "fp-rage", "most severe first: {body}");
        assert_eq!(list[0]["sessions"], 3);
        assert_eq!(list[0]["status"], "confirmed");
        assert_eq!(list[0]["projectId"], project.id.as_str());
        assert!(list[0]["firstSeen"].as_str().is_some_and(|t| t.starts_with("1970-01-01T00:00:01")), "{body}");
        assert!(body["nextCursor"].is_null());

        let (_, body) =
            call(store, "GET", "/v1/incidents?kind=dead_click&project=proj-console", Some(&viewer), None).await;
        assert_eq!(body["incidents"].as_array().map(Vec::len), Some(1), "{body}");
        let (_, body) = call(store, "GET", "/v1/incidents?route=/checkout&status=confirmed", Some(&viewer), None).await;
        assert_eq!(body["incidents"][0]["id"], "fp-rage", "{body}");

        // Pagination: one per page, every incident once.
        let mut seen = Vec::new();
        let mut uri = "/v1/incidents?limit=1&sort=lastSeen".to_string();
        loop {
            let (status, body) = call(store, "GET", &uri, Some(&viewer), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            for i in body["incidents"].as_array().expect("page") {
                seen.push(i["id"].as_str().unwrap_or_default().to_owned());
            }
            match body["nextCursor"].as_str() {
                Some(c) => uri = format!("/v1/incidents?limit=1&sort=lastSeen&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, vec!["fp-dead", "fp-rage"], "newest first, each once");

        for (uri, names) in [
            ("/v1/incidents?status=closed", "closed"),
            ("/v1/incidents?kind=rage", "rage"),
            ("/v1/incidents?limit=0", "limit"),
            ("/v1/incidents?sort=random", "random"),
            ("/v1/incidents?cursor=zz", "cursor"),
            ("/v1/incidents?colour=red", "colour"),
        ] {
            let (status, body) = call(store, "GET", uri, Some(&viewer), None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(names), "{uri}: {message}");
        }

        let (status, body) = call(store, "GET", "/v1/incidents/fp-rage", Some(&viewer), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["samples"].as_array().map(Vec::len), Some(4), "{body}");
        assert!(body["samples"][0]["evidence"].is_object(), "{body}");
        let (status, _) = call(store, "GET", "/v1/incidents/nope", Some(&viewer), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let resolve = Some(r#"{"status":"resolved"}"#);
        let (status, body) = call(store, "PATCH", "/v1/incidents/fp-rage", Some(&viewer), resolve).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("engineer")), "{body}");
        let (status, body) = call(store, "PATCH", "/v1/incidents/fp-rage", Some(&engineer), resolve).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "resolved");
        let (status, body) =
            call(store, "PATCH", "/v1/incidents/fp-rage", Some(&engineer), Some(r#"{"status":"regressed"}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, body) =
            call(store, "PATCH", "/v1/incidents/fp-rage", Some(&engineer), Some(r#"{"state":"x"}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("state")), "{body}");

        // An engineer confirms the open dead-click incident by hand (issue 17: it used to be refused).
        let (status, body) = call(store, "GET", "/v1/incidents/fp-dead", Some(&viewer), None).await;
        assert_eq!(
            (status, body["status"].as_str(), body["confirmedManually"].as_bool()),
            (StatusCode::OK, Some("open"), Some(false))
        );
        let confirm = Some(r#"{"status":"confirmed"}"#);
        let (status, body) = call(store, "PATCH", "/v1/incidents/fp-dead", Some(&viewer), confirm).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, body) = call(store, "PATCH", "/v1/incidents/fp-dead", Some(&engineer), confirm).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((body["status"].as_str(), body["confirmedManually"].as_bool()), (Some("confirmed"), Some(true)));
        assert!(body["confirmedAt"].is_string(), "{body}");
        // Retracting its only signal leaves a hand-confirmed incident confirmed.
        let mut gone = signal("d1", "fp-dead", "dead_click", "s1", 5_000);
        gone.project_id = project.id.clone();
        (gone.version, gone.retracted) = (2, true);
        apply_batch(store, &[gone], &IncidentConfig::default(), 20).await?;
        let dead = store.incident("fp-dead").await?.expect("incident");
        assert_eq!((dead.status.as_str(), dead.occurrences), ("confirmed", 0), "{}", db.name());

        // A signal from a new release regresses it.
        let mut late = signal("r9", "fp-rage", "rage_click", "s9", 9_000);
        late.project_id = project.id.clone();
        late.release = Some("1.1".into());
        apply_batch(store, &[late], &IncidentConfig::default(), 30).await?;
        let inc = store.incident("fp-rage").await?.expect("incident");
        assert_eq!((inc.status.as_str(), inc.generation), ("regressed", 2), "{}", db.name());

        let audit = store.audit_log(10).await?;
        assert!(
            audit.iter().any(|a| a.success && a.detail.as_deref() == Some("status confirmed -> resolved")),
            "{audit:?}"
        );
        assert!(
            audit.iter().any(|a| a.success
                && a.resource == "incident:fp-dead"
                && a.detail.as_deref() == Some("status open -> confirmed")),
            "the manual confirmation is audited: {audit:?}"
        );
        assert!(audit.iter().any(|a| !a.success && a.action == "incident.update"), "the refused change is audited too");

        store.revoke_console_token(&viewer[..12]).await?;
        let (status, body) = call(store, "GET", "/v1/incidents", Some(&viewer), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("revoked")), "{body}");
    }
    Ok(())
}

#[tokio::test]
async fn how_signals_are_cut_into_batches_does_not_change_the_incidents() -> TestResult {
    let config = IncidentConfig::default();
    // 120 signals over 4 incidents, 15 sessions, 3 releases, starts spread over two days.
    let signals: Vec<SignalRecord> = (0..120)
        .map(|i: i64| {
            let mut s = signal(
                &format!("b{i}"),
                &format!("fp-b{}", i % 4),
                "rage_click",
                &format!("s{}", (i * 7) % 15),
                (i * 7_919 % 120) * 1_200_000,
            );
            s.release = Some(format!("2.{}", i % 3));
            s
        })
        .collect();
    let mut reversed = signals.clone();
    reversed.reverse();
    let mut results = Vec::new();
    for cut in [120usize, 1, 7, 50] {
        for db in migrated_dbs().await? {
            let input = if cut == 7 { &reversed } else { &signals };
            for chunk in input.chunks(cut) {
                apply_batch(&db.store, chunk, &config, 0).await?;
            }
            let mut all = Vec::new();
            for f in 0..4 {
                let mut inc = db.store.incident(&format!("fp-b{f}")).await?.expect("incident");
                // Versions count batches, and so differ by design.
                inc.version = 0;
                all.push(inc);
            }
            results.push((cut, db.name(), all));
        }
    }
    let (_, _, first) = &results[0];
    assert_eq!(first.iter().map(|i| i.occurrences).sum::<i64>(), 120);
    for (cut, name, r) in &results {
        assert_eq!(r, first, "batches of {cut} on {name}");
    }
    Ok(())
}

/// A NUL or another control character in an incident id or a query parameter is a 400 naming it on
/// every store (PostgreSQL answered 500: it cannot compare text holding a NUL; issue 18's suite,
/// cli/tests/hostile.rs, found it).
#[tokio::test]
async fn control_characters_in_ids_and_parameters_are_a_400_naming_them() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        store.create_project("shop").await?;
        let engineer = store.create_console_token(Role::Engineer, None).await?.secret;
        for (method, uri, names) in [
            ("GET", "/v1/incidents/%00", "id"),
            ("GET", "/v1/incidents/fp%00x", "id"),
            ("PATCH", "/v1/incidents/%00", "id"),
            ("GET", "/v1/incidents?project=%00", "project"),
            ("GET", "/v1/incidents?route=/a%00b", "route"),
            ("GET", "/v1/incidents?route=/a%1Bb", "route"),
            ("GET", "/v1/incidents?status=open&kind=rage_click&route=%7F", "route"),
            ("GET", "/v1/analytics/top-elements?project=%00", "project"),
            ("GET", "/v1/analytics/frustration-rate?project=shop&route=%00", "route"),
        ] {
            let body = (method == "PATCH").then_some(r#"{"status": "resolved"}"#);
            let (status, v) = call(store, method, uri, Some(&engineer), body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{} {method} {uri}: {v}", db.name());
            let message = v["error"]["message"].as_str().unwrap_or_default();
            assert!(message.starts_with(&format!("{names}: contains the control character")), "{uri}: {message}");
        }
        // The same without the control character: a plain 404 or an empty list.
        let (status, _) = call(store, "GET", "/v1/incidents/fpx", Some(&engineer), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{}", db.name());
        let (status, v) = call(store, "GET", "/v1/incidents?route=/ab", Some(&engineer), None).await;
        assert_eq!(status, StatusCode::OK, "{}: {v}", db.name());
    }
    Ok(())
}

async fn call_state(state: ConsoleState, uri: &str, token: &str) -> (StatusCode, Value) {
    let req = Request::get(uri).header("authorization", format!("Bearer {token}")).body(Body::empty());
    let resp = router(state).oneshot(req.expect("request")).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn analytics_need_clickhouse_and_name_bad_parameters() -> TestResult {
    let dbs = migrated_dbs().await?;
    let store = &dbs[0].store;
    store.create_project("shop").await?;
    let viewer = store.create_console_token(Role::Viewer, None).await?.secret;
    let bare = ConsoleState::new(store.clone(), None);
    for path in ["/v1/analytics/frustration-rate?project=shop", "/v1/analytics/top-elements?project=shop"] {
        let (status, body) = call_state(bare.clone(), path, &viewer).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("CLICKHOUSE_URL")), "{body}");
    }
    let (status, _) = call(store, "GET", "/v1/analytics/top-elements?project=shop", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (path, names) in [
        ("/v1/analytics/frustration-rate", "project"),
        ("/v1/analytics/frustration-rate?project=nope", "nope"),
        ("/v1/analytics/frustration-rate?project=shop&bucket=year", "year"),
        ("/v1/analytics/frustration-rate?project=shop&from=yesterday", "yesterday"),
        ("/v1/analytics/top-elements?project=shop&limit=many", "many"),
        ("/v1/analytics/top-elements?project=shop&colour=red", "colour"),
    ] {
        let (status, body) = call_state(bare.clone(), path, &viewer).await;
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND, "{path}: {status} {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{path}: {message}");
    }

    // Against the real ClickHouse when there is one: a fresh warehouse answers with no points.
    let Some(url) = friction_test_support::clickhouse_url("the ClickHouse half of this test") else {
        return Ok(());
    };
    let mut config = friction_warehouse::ClickHouseConfig::new(url);
    config.database = format!("console_test_{:08x}", rand_suffix());
    let client = config.client()?;
    friction_warehouse::migrate(&client, &config.database).await?;
    let state = ConsoleState::new(store.clone(), None).with_clickhouse(client.clone());
    let (status, body) = call_state(
        state.clone(),
        "/v1/analytics/frustration-rate?project=shop&from=0&to=86400000&bucket=hour",
        &viewer,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["from"], 0);
    assert!(body["points"].as_array().is_some(), "{body}");
    let (status, body) = call_state(
        state.clone(),
        "/v1/analytics/top-elements?project=shop&from=1970-01-01T00:00:00Z&to=1970-01-02T00:00:00Z",
        &viewer,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["to"], 86_400_000);
    let (status, body) = call_state(state, "/v1/analytics/frustration-rate?project=shop&from=10&to=5", &viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the warehouse's own check: {body}");
    client.query(&format!("DROP DATABASE IF EXISTS {}", config.database)).execute().await?;
    Ok(())
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(7)
        ^ std::process::id()
}
