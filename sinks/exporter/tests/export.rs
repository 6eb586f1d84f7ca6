//! Exactly one remote ticket per (incident, integration, generation) against the local fakes,
//! on SQLite and (when FRICTION_TEST_POSTGRES_URL is set) PostgreSQL. The consumer half is driven
//! directly with IncidentChange values; dispatchers run in-process.

use std::future::Future;
use std::time::{Duration, Instant};

use friction_exporter::handler::record;
use friction_exporter::integration::{add_integration, integration, set_enabled};
use friction_exporter::ledger::{self, links_in_state, CREATED, FAILED};
use friction_exporter::outcome::{BreakerPolicy, RetryPolicy};
use friction_exporter::{
    Dispatcher, DispatcherConfig, Integration, IntegrationConfig, Kind, MasterKey, NewIntegration, RegressionPolicy,
    Secret,
};
use friction_schemas::IncidentChange;
use friction_store::testing::{migrated_dbs, TestDb};
use friction_store::Store;
use friction_test_support::fakes::{jira_basic, Api, Fake, Fault};

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const JIRA_EMAIL: &str = "bot@acme.com";
const JIRA_TOKEN: &str = "ATATT3xFfGF0-super-secret-jira-token";
const LINEAR_KEY: &str = "lin_api_secretsecretsecret";
const GITHUB_TOKEN: &str = "github_pat_secretsecretsecret";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn change(id: &str, version: i64, occurrences: i64) -> IncidentChange {
    IncidentChange {
        id: id.into(),
        project_id: "shop".into(),
        fingerprint: format!("fp-{id}"),
        kind: "rage_click".into(),
        title: format!("Rage clicks on Checkout › Pay ({id})"),
        route_template: "/checkout".into(),
        element_key: "button#pay".into(),
        status: "confirmed".into(),
        change: "status".into(),
        severity: 5.0,
        priority: "high".into(),
        occurrences,
        sessions: 3,
        users: 3,
        first_seen_ms: 1_759_226_531_000,
        last_seen_ms: 1_759_226_535_000,
        releases: vec!["1.2.0".into()],
        generation: 1,
        version,
        ..Default::default()
    }
}

fn jira_credential() -> String {
    jira_basic(JIRA_EMAIL, JIRA_TOKEN)
}

async fn fake(api: Api) -> Fake {
    let credential = match api {
        Api::Jira => jira_credential(),
        Api::Linear => LINEAR_KEY.to_owned(),
        Api::Github => format!("Bearer {GITHUB_TOKEN}"),
        Api::Webhook => WEBHOOK_SECRET.to_owned(),
    };
    Fake::start(api, &credential).await
}

async fn add(
    store: &Store,
    key: &MasterKey,
    fake: &Fake,
    name: &str,
    tweak: impl FnOnce(&mut IntegrationConfig),
) -> Result<Integration, Box<dyn std::error::Error + Send + Sync>> {
    let (kind, secret) = match fake.api {
        Api::Jira => (Kind::Jira, JIRA_TOKEN),
        Api::Linear => (Kind::Linear, LINEAR_KEY),
        Api::Github => (Kind::Github, GITHUB_TOKEN),
        Api::Webhook => (Kind::Webhook, WEBHOOK_SECRET),
    };
    let mut config = IntegrationConfig {
        base_url: fake.url(),
        email: Some(JIRA_EMAIL.into()),
        project_key: Some("OPS".into()),
        issue_type_id: Some("10004".into()),
        team_id: Some("9cfb482a-81e3-4154-b5b9-2c805e70a02d".into()),
        repo: Some("acme/web".into()),
        allow_private_network: true,
        ..Default::default()
    };
    tweak(&mut config);
    let new = NewIntegration {
        name: name.into(),
        kind,
        project_id: None,
        kinds: vec![],
        min_severity: 0.0,
        config,
        secret: Secret::new(secret),
    };
    Ok(add_integration(store, key, &new).await?)
}

fn config(owner: &str) -> DispatcherConfig {
    DispatcherConfig {
        owner: owner.into(),
        lease: Duration::from_millis(1500),
        poll_interval: Duration::from_millis(20),
        batch: 16,
        retry: RetryPolicy {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(400),
            max_age: Duration::from_secs(120),
            rate_limit_jitter: Duration::from_millis(100),
        },
        breaker: fast_breaker(),
        jira_lag_grace: Duration::from_millis(700),
        // Generous: under a loaded CI a normal answer must not look like a timeout.
        request_timeout: Duration::from_secs(3),
        console_url: Some("https://friction.example".into()),
        allow_private_network: false,
        llm: None,
    }
}

/// The integration-wide backoff and breaker, scaled down for tests.
fn fast_breaker() -> BreakerPolicy {
    BreakerPolicy {
        threshold: 5,
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        cooldown_base: Duration::from_millis(300),
        cooldown_cap: Duration::from_secs(2),
        probe_lease: Duration::from_secs(3),
    }
}

/// Runs `dispatcher` rounds until `done` holds (or fails after `limit`).
async fn drive<F, Fut>(dispatcher: &Dispatcher, limit: Duration, mut done: F) -> R
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if done().await {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(format!("condition not reached within {limit:?}").into());
        }
        dispatcher.run_once().await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn created(store: &Store) -> usize {
    links_in_state(store, CREATED).await.map(|l| l.len()).unwrap_or(0)
}

async fn dbs() -> Result<Vec<TestDb>, Box<dyn std::error::Error + Send + Sync>> {
    migrated_dbs().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_of_the_same_change_makes_one_jira_ticket() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let jira = fake(Api::Jira).await;
        add(&db.store, &key, &jira, "jira", |_| {}).await?;
        let d = Dispatcher::new(db.store.clone(), key.clone(), config("a"))?;
        let c = change("inc-1", 3, 10);
        record(&db.store, &[c.clone(), c.clone()]).await?;
        record(&db.store, std::slice::from_ref(&c)).await?;
        drive(&d, Duration::from_secs(10), || async { created(&db.store).await == 1 }).await?;
        // Redelivery after the ticket exists, and an older version.
        record(&db.store, &[c.clone(), change("inc-1", 2, 8)]).await?;
        for _ in 0..5 {
            d.run_once().await?;
        }
        let issues = jira.issues();
        assert_eq!(issues.len(), 1, "{}: {issues:?}", db.name());
        let link = &links_in_state(&db.store, CREATED).await?[0];
        assert_eq!(link.external_key.as_deref(), Some(issues[0].key.as_str()));
        assert!(issues[0].labels.contains(&link.marker) && issues[0].labels.contains(&"frustration".to_owned()));
        // The console's view of the ledger.
        let tickets = db.store.incident_tickets("inc-1").await?;
        assert_eq!(tickets.len(), 1);
        assert_eq!(
            (tickets[0].state.as_str(), tickets[0].key.as_deref(), tickets[0].integration.as_deref()),
            (CREATED, Some("OPS-1"), Some("jira"))
        );
        assert!(
            issues[0].body.contains("button#pay") && issues[0].body.contains("did not respond"),
            "{}",
            issues[0].body
        );
        // An open incident, or one below the filters, gets nothing.
        let mut open = change("inc-2", 1, 1);
        open.status = "open".into();
        record(&db.store, &[open]).await?;
        d.run_once().await?;
        assert_eq!(jira.issues().len(), 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_remote_create_and_ledger_update_makes_one_ticket() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let jira = fake(Api::Jira).await;
        jira.set_lag(Duration::from_millis(300));
        add(&db.store, &key, &jira, "jira", |_| {}).await?;
        record(&db.store, &[change("inc-1", 1, 10)]).await?;
        // The fake stores the issue and then holds the response; the dispatcher is killed
        // (its task dropped) after the remote create and before its ledger write.
        jira.push_faults([Fault::CreatedThenHang(Duration::from_secs(30))]);
        let mut first = config("crashing");
        first.request_timeout = Duration::from_secs(60);
        let a = Dispatcher::new(db.store.clone(), key.clone(), first)?;
        let task = tokio::spawn(a.run());
        let start = Instant::now();
        while jira.issues().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(10), "the fake never saw the create");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        task.abort();
        let _ = task.await;
        assert_eq!(created(&db.store).await, 0, "the ledger must not know about the ticket yet");
        // A restarted copy: takes the row after the lease, waits out the index lag, finds the
        // ticket by its marker label and records it instead of creating another.
        let b = Dispatcher::new(db.store.clone(), key.clone(), config("restarted"))?;
        drive(&b, Duration::from_secs(15), || async { created(&db.store).await == 1 }).await?;
        assert_eq!(jira.issues().len(), 1, "{}", db.name());
        let link = &links_in_state(&db.store, CREATED).await?[0];
        assert_eq!(link.external_key.as_deref(), Some("OPS-1"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_waits_out_retry_after_and_makes_one_ticket_each() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let jira = fake(Api::Jira).await;
        add(&db.store, &key, &jira, "jira", |_| {}).await?;
        let changes: Vec<_> = (0..4).map(|i| change(&format!("inc-{i}"), 1, 10)).collect();
        record(&db.store, &changes).await?;
        jira.push_faults((0..8).map(|_| Fault::RateLimit(1)));
        let d = Dispatcher::new(db.store.clone(), key.clone(), config("a"))?;
        drive(&d, Duration::from_secs(20), || async { created(&db.store).await == 4 }).await?;
        assert_eq!(jira.issues().len(), 4, "{}", db.name());
        for link in links_in_state(&db.store, CREATED).await? {
            assert_eq!(jira.issues_with_label(&link.marker), 1);
        }
        // After a 429 no request at all (for any incident: the limit is the credential's) came
        // sooner than Retry-After.
        let log = jira.log();
        let mut limited = 0;
        for (i, entry) in log.iter().enumerate().filter(|(_, e)| e.status == 429) {
            limited += 1;
            if let Some(next) = log.get(i + 1) {
                assert!(
                    next.at.duration_since(entry.at) >= Duration::from_secs(1),
                    "retried after {:?}",
                    next.at.duration_since(entry.at)
                );
            }
        }
        assert_eq!(limited, 8);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_timeouts_and_lost_responses_are_reconciled_not_duplicated() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let jira = fake(Api::Jira).await;
        jira.set_lag(Duration::from_millis(400));
        add(&db.store, &key, &jira, "jira", |_| {}).await?;
        record(&db.store, &[change("inc-1", 1, 10), change("inc-2", 1, 10), change("inc-3", 1, 10)]).await?;
        // Created but the client times out; created but a 502; a slow answer that did nothing; a 503.
        jira.push_faults([
            Fault::CreatedThenHang(Duration::from_secs(2)),
            Fault::CreatedButLost,
            Fault::SlowNotCreated(Duration::from_secs(1)),
            Fault::ServerError,
        ]);
        let mut short = config("a");
        short.request_timeout = Duration::from_millis(400);
        let d = Dispatcher::new(db.store.clone(), key.clone(), short)?;
        drive(&d, Duration::from_secs(20), || async { created(&db.store).await == 3 }).await?;
        let issues = jira.issues();
        assert_eq!(issues.len(), 3, "{}: {issues:?}", db.name());
        for link in links_in_state(&db.store, CREATED).await? {
            assert_eq!(jira.issues_with_label(&link.marker), 1, "{}", link.marker);
        }
        assert!(jira.log().iter().any(|e| e.path == "/rest/api/3/search/jql"), "reconcile must search by marker");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_exporter_copies_make_one_ticket_per_incident() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let jira = fake(Api::Jira).await;
        add(&db.store, &key, &jira, "jira", |_| {}).await?;
        let changes: Vec<_> = (0..12).map(|i| change(&format!("inc-{i}"), 1, 10)).collect();
        record(&db.store, &changes).await?;
        let other = db.another_store().await?;
        let a = Dispatcher::new(db.store.clone(), key.clone(), config("copy-a"))?;
        let b = Dispatcher::new(other.clone(), key.clone(), config("copy-b"))?;
        let ta = tokio::spawn(a.run());
        let tb = tokio::spawn(b.run());
        // Both copies also consume (the same changes, redelivered to each).
        record(&other, &changes).await?;
        let start = Instant::now();
        while created(&db.store).await < 12 {
            assert!(start.elapsed() < Duration::from_secs(20), "not all created");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ta.abort();
        tb.abort();
        assert_eq!(jira.issues().len(), 12, "{}", db.name());
        for link in links_in_state(&db.store, CREATED).await? {
            assert_eq!(jira.issues_with_label(&link.marker), 1);
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linear_uses_the_client_id_and_reads_errors_in_a_200_body() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let linear = fake(Api::Linear).await;
        add(&db.store, &key, &linear, "linear", |_| {}).await?;
        record(&db.store, &[change("inc-1", 1, 10), change("inc-2", 1, 10)]).await?;
        linear.push_faults([Fault::RateLimit(1), Fault::CreatedButLost]);
        let d = Dispatcher::new(db.store.clone(), key.clone(), config("a"))?;
        drive(&d, Duration::from_secs(15), || async { created(&db.store).await == 2 }).await?;
        assert_eq!(linear.issues().len(), 2, "{}", db.name());
        for link in links_in_state(&db.store, CREATED).await? {
            assert_eq!(link.external_id.as_deref(), Some(link.marker.as_str()), "the client-chosen id is the issue id");
            assert!(uuid::Uuid::parse_str(&link.marker).is_ok_and(|u| u.get_version_num() == 4));
        }
        assert!(linear.log().iter().any(|e| e.status == 429) || linear.log().len() > 2);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_reconciles_by_listing_the_marker_label() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let gh = fake(Api::Github).await;
        add(&db.store, &key, &gh, "github", |_| {}).await?;
        record(&db.store, &[change("inc-1", 1, 10)]).await?;
        gh.push_faults([Fault::SecondaryRateLimit(1), Fault::CreatedButLost]);
        let d = Dispatcher::new(db.store.clone(), key.clone(), config("a"))?;
        drive(&d, Duration::from_secs(10), || async { created(&db.store).await == 1 }).await?;
        let issues = gh.issues();
        assert_eq!(issues.len(), 1, "{}", db.name());
        let link = &links_in_state(&db.store, CREATED).await?[0];
        assert_eq!(link.external_key.as_deref(), Some("1"), "the pull request in the list is skipped");
        assert!(issues[0].body.contains(&link.marker), "the body carries the marker too");
        let breaker = friction_exporter::integration::list_integrations(&db.store).await?[0].breaker_open;
        assert!(!breaker, "a secondary rate limit (403 + retry-after) is a wait, not a configuration error");
        let log = gh.log();
        let limited = log.iter().position(|e| e.status == 403).ok_or("no 403 seen")?;
        assert!(log[limited + 1].at.duration_since(log[limited].at) >= Duration::from_secs(1));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_resent_with_the_same_id_and_guarded() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let hook = fake(Api::Webhook).await;
        add(&db.store, &key, &hook, "hook", |_| {}).await?;
        record(&db.store, &[change("inc-1", 1, 10)]).await?;
        hook.push_faults([Fault::ServerError, Fault::CreatedButLost]);
        let d = Dispatcher::new(db.store.clone(), key.clone(), config("a"))?;
        drive(&d, Duration::from_secs(10), || async { created(&db.store).await == 1 }).await?;
        assert_eq!(hook.distinct_deliveries(), 1, "{}: the receiver dedupes by webhook-id", db.name());
        assert!(hook.log().iter().all(|e| e.status != 401), "every delivery was correctly signed");

        // Without the opt-in, a loopback receiver is refused and the integration's breaker opens.
        let guarded = add(&db.store, &key, &hook, "guarded", |c| c.allow_private_network = false).await?;
        record(&db.store, &[change("inc-2", 1, 10)]).await?;
        let before = hook.log().len();
        for _ in 0..3 {
            d.run_once().await?;
        }
        let now = integration(&db.store, &guarded.id).await?.ok_or("gone")?;
        assert!(now.breaker_open, "SSRF refusal opens the breaker");
        assert!(now.breaker_reason.unwrap_or_default().contains("non-public"));
        // inc-2 went to the first (opted-in) hook; the guarded one sent nothing.
        assert_eq!(hook.log().len(), before + 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recurrence_is_one_coalesced_comment_and_regression_follows_the_policy() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let gh = fake(Api::Github).await;
        add(&db.store, &key, &gh, "reopen", |c| {
            c.comment_window_secs = Some(0);
            c.comment_min_new = Some(5);
        })
        .await?;
        add(&db.store, &key, &gh, "newgen", |c| {
            c.regression = RegressionPolicy::NewGeneration;
            c.comment_window_secs = Some(3600);
        })
        .await?;
        record(&db.store, &[change("inc-1", 1, 10)]).await?;
        let d = Dispatcher::new(db.store.clone(), key.clone(), config("a"))?;
        drive(&d, Duration::from_secs(10), || async { created(&db.store).await == 2 }).await?;
        // Three recurrences in one go: one comment on the "reopen" integration's ticket (window 0),
        // none on "newgen" (window 1 h); +2 more is below min_new.
        record(&db.store, &[change("inc-1", 2, 12), change("inc-1", 3, 14), change("inc-1", 4, 16)]).await?;
        for _ in 0..5 {
            d.run_once().await?;
        }
        record(&db.store, &[change("inc-1", 5, 18)]).await?;
        for _ in 0..5 {
            d.run_once().await?;
        }
        let issues = gh.issues();
        assert_eq!(issues.len(), 2, "{}", db.name());
        let comments: usize = issues.iter().map(|i| i.comments.len()).sum();
        assert_eq!(comments, 1, "{issues:?}");
        assert!(
            issues.iter().any(|i| i.comments.first().is_some_and(|c| c.contains("6 more occurrences"))),
            "{issues:?}"
        );

        // Closed, then the incident regresses (generation 2): "reopen" reopens its ticket, "newgen"
        // makes a second ticket.
        for i in 1..=2 {
            gh.state.lock().map_err(|_| "poisoned")?.issues.iter_mut().for_each(|x| {
                if x.number == i {
                    x.open = false
                }
            });
        }
        let mut regressed = change("inc-1", 6, 40);
        regressed.status = "regressed".into();
        regressed.generation = 2;
        record(&db.store, &[regressed.clone(), regressed]).await?;
        drive(&d, Duration::from_secs(10), || async {
            created(&db.store).await == 3 && gh.issues().iter().filter(|i| i.open).count() == 2
        })
        .await?;
        assert_eq!(gh.issues().len(), 3);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regression_moves_a_completed_linear_issue_back_to_its_reopen_state() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let linear = fake(Api::Linear).await;
        add(&db.store, &key, &linear, "linear", |c| {
            c.reopen_state_id = Some("5e2c6a4e-1f0b-4c59-9d7e-1c7e0f8a2b11".into());
        })
        .await?;
        record(&db.store, &[change("inc-1", 1, 10)]).await?;
        let d = Dispatcher::new(db.store.clone(), key.clone(), config("a"))?;
        drive(&d, Duration::from_secs(10), || async { created(&db.store).await == 1 }).await?;
        linear.state.lock().map_err(|_| "poisoned")?.issues.iter_mut().for_each(|i| i.open = false);
        let mut regressed = change("inc-1", 2, 40);
        regressed.status = "regressed".into();
        regressed.generation = 2;
        record(&db.store, &[regressed]).await?;
        drive(&d, Duration::from_secs(10), || async { linear.issues().iter().all(|i| i.open) }).await?;
        let issues = linear.issues();
        assert_eq!(issues.len(), 1, "{}: reopened, not a second issue", db.name());
        assert!(issues[0].body.contains("5e2c6a4e"), "moved to the configured state: {issues:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_dead_letter_and_config_errors_open_the_breaker() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let jira = fake(Api::Jira).await;
        // No issue type: the fake answers 400 → dead, visible.
        let broken = add(&db.store, &key, &jira, "broken", |c| c.issue_type_id = Some(String::new())).await?;
        record(&db.store, &[change("inc-1", 1, 10)]).await?;
        let d = Dispatcher::new(db.store.clone(), key.clone(), config("a"))?;
        drive(&d, Duration::from_secs(5), || async {
            integration(&db.store, &broken.id).await.ok().flatten().is_some_and(|i| i.breaker_open)
        })
        .await?;
        set_enabled(&db.store, &broken.id, false).await?;

        let jira2 = fake(Api::Jira).await;
        let bad = add(&db.store, &key, &jira2, "jira", |_| {}).await?;
        jira2.push_faults([]);
        let mut c = change("inc-2", 1, 10);
        c.title = "x".into();
        record(&db.store, &[c]).await?;
        jira2.set_always(Some(422));
        drive(&d, Duration::from_secs(5), || async {
            links_in_state(&db.store, FAILED).await.map(|l| l.len()).unwrap_or(0) == 1
        })
        .await?;
        let dead = &links_in_state(&db.store, FAILED).await?[0];
        assert_eq!(dead.last_error_class.as_deref(), Some("permanent"));
        // 401: breaker open, no more calls until re-enabled.
        jira2.set_always(Some(401));
        record(&db.store, &[change("inc-3", 1, 10)]).await?;
        drive(&d, Duration::from_secs(5), || async {
            integration(&db.store, &bad.id).await.ok().flatten().is_some_and(|i| i.breaker_open)
        })
        .await?;
        let calls = jira2.log().len();
        for _ in 0..3 {
            d.run_once().await?;
        }
        assert_eq!(jira2.log().len(), calls, "an open breaker stops calls");
        jira2.set_always(None);
        set_enabled(&db.store, &bad.id, true).await?;
        drive(&d, Duration::from_secs(5), || async {
            ledger::links_for_incident(&db.store, "inc-3")
                .await
                .ok()
                .is_some_and(|l| l.iter().any(|x| x.state == CREATED))
        })
        .await?;
    }
    Ok(())
}

/// A fake OpenAI-compatible endpoint: answers after `delay` with `text`, requires the bearer key.
async fn fake_llm(delay: Duration, text: &'static str) -> String {
    use axum::http::HeaderMap;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |headers: HeaderMap, body: axum::Json<serde_json::Value>| async move {
            tokio::time::sleep(delay).await;
            let authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer sk-llm-key");
            let well_formed = body["messages"].as_array().is_some_and(|m| m.len() == 2) && body["model"] == "small";
            if !authorized || !well_formed {
                return (axum::http::StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": "bad request"})));
            }
            (
                axum::http::StatusCode::OK,
                axum::Json(serde_json::json!({"choices": [{"message": {"role": "assistant", "content": text}}]})),
            )
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/v1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_may_write_the_explanation_and_a_slow_one_falls_back() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let jira = fake(Api::Jira).await;
        add(&db.store, &key, &jira, "jira", |_| {}).await?;
        let llm = |url: String, timeout: Duration| friction_exporter::llm::LlmConfig {
            url,
            api_key: Some(Secret::new("sk-llm-key")),
            model: "small".into(),
            timeout,
        };
        let mut good = config("a");
        good.llm = Some(llm(
            fake_llm(Duration::ZERO, "The Pay button ignores clicks; check its handler.").await,
            Duration::from_secs(5),
        ));
        record(&db.store, &[change("inc-1", 1, 10)]).await?;
        let d = Dispatcher::new(db.store.clone(), key.clone(), good)?;
        drive(&d, Duration::from_secs(10), || async { created(&db.store).await == 1 }).await?;
        let mut slow = config("b");
        slow.llm = Some(llm(fake_llm(Duration::from_secs(5), "too late").await, Duration::from_millis(300)));
        record(&db.store, &[change("inc-2", 1, 10)]).await?;
        let d = Dispatcher::new(db.store.clone(), key.clone(), slow)?;
        drive(&d, Duration::from_secs(10), || async { created(&db.store).await == 2 }).await?;
        let issues = jira.issues();
        assert!(issues[0].body.contains("The Pay button ignores clicks"), "{}: {}", db.name(), issues[0].body);
        assert!(
            issues[1].body.contains("did not respond") && !issues[1].body.contains("too late"),
            "{}",
            issues[1].body
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_comment_never_undoes_the_ticket() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let jira = fake(Api::Jira).await;
        add(&db.store, &key, &jira, "jira", |c| {
            c.comment_window_secs = Some(0);
            c.comment_min_new = Some(1);
        })
        .await?;
        record(&db.store, &[change("inc-1", 1, 10)]).await?;
        let d = Dispatcher::new(db.store.clone(), key.clone(), config("a"))?;
        drive(&d, Duration::from_secs(10), || async { created(&db.store).await == 1 }).await?;
        // Jira's per-issue comment limit (413): the comment is dropped, the ticket stays.
        jira.set_always(Some(413));
        record(&db.store, &[change("inc-1", 2, 30)]).await?;
        drive(&d, Duration::from_secs(5), || async {
            ledger::links_for_incident(&db.store, "inc-1").await.ok().is_some_and(|l| !l[0].comment_wanted)
        })
        .await?;
        let link = &ledger::links_for_incident(&db.store, "inc-1").await?[0];
        assert_eq!(link.state, CREATED, "{}", db.name());
        assert_eq!(link.last_error_class.as_deref(), Some("permanent"));
        assert_eq!(jira.issues().len(), 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_whose_response_was_lost_is_not_posted_twice() -> R {
    for db in dbs().await? {
        let key = MasterKey::random();
        let gh = fake(Api::Github).await;
        add(&db.store, &key, &gh, "github", |c| {
            c.comment_window_secs = Some(0);
            c.comment_min_new = Some(1);
        })
        .await?;
        record(&db.store, &[change("inc-1", 1, 10)]).await?;
        let d = Dispatcher::new(db.store.clone(), key.clone(), config("a"))?;
        drive(&d, Duration::from_secs(10), || async { created(&db.store).await == 1 }).await?;
        gh.push_faults([Fault::CreatedButLost]);
        record(&db.store, &[change("inc-1", 2, 30)]).await?;
        drive(&d, Duration::from_secs(10), || async {
            ledger::links_for_incident(&db.store, "inc-1").await.ok().is_some_and(|l| !l[0].comment_wanted)
        })
        .await?;
        let issues = gh.issues();
        assert_eq!(issues[0].comments.len(), 1, "{}: {:?}", db.name(), issues[0].comments);
        assert!(gh.log().iter().any(|e| e.method == "GET" && e.path.ends_with("/comments")), "the retry looked first");
    }
    Ok(())
}
