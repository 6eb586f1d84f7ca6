//! The console's admin and reading pages on every backend (SQLite always, PostgreSQL when
//! FRICTION_TEST_POSTGRES_URL is set): projects and keys, integrations (test connection against
//! the fake Jira), rules, tokens, the audit log, analytics and the live feed — each renders for
//! the role that may use it and is 403 for a lower one, each form works with the session's CSRF
//! token and is refused without it, and user strings render as text (docs/console.md "Pages").

use axum::http::StatusCode;
use friction_console::ConsoleState;
use friction_exporter::MasterKey;
use friction_store::testing::migrated_dbs;
use friction_store::{Role, Store};
use friction_test_support::fakes::{jira_basic, Api, Fake};

mod common;
use common::page::{add_user, csrf_of, enc, login, send, Response};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const SCRIPT: &str = "<script>alert(1)</script>";
const ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

/// A logged-in user: the session id and its CSRF token.
struct Session {
    id: String,
    csrf: String,
}

async fn session(state: &ConsoleState, store: &Store, name: &str, role: Role) -> Result<Session, String> {
    add_user(store, name, role, None).await.map_err(|e| e.to_string())?;
    let id = login(state, name).await?;
    let csrf = csrf_of(store, &id).await?;
    Ok(Session { id, csrf })
}

async fn get(state: &ConsoleState, s: &Session, uri: &str) -> Response {
    send(state, "GET", uri, Some(&s.id), None, &[]).await
}

/// Posts `form` with the session's CSRF token.
async fn post(state: &ConsoleState, s: &Session, uri: &str, form: &str) -> Response {
    let form = if form.is_empty() { format!("csrf={}", s.csrf) } else { format!("{form}&csrf={}", s.csrf) };
    send(state, "POST", uri, Some(&s.id), Some(&form), &[]).await
}

/// Posts `form` without a CSRF token and with a wrong one: both refused (403).
async fn assert_csrf_refused(state: &ConsoleState, s: &Session, uri: &str, form: &str) {
    for form in [form.to_owned(), format!("{form}&csrf=0000")] {
        let r = send(state, "POST", uri, Some(&s.id), Some(&form), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri} {form}: {}", r.body);
        assert!(r.body.contains("CSRF"), "{}", r.body);
    }
}

/// The text between `after` and the next `<` in `body`.
fn text_after<'a>(body: &'a str, after: &str) -> Option<&'a str> {
    let start = body.find(after)? + after.len();
    body[start..].split('<').next()
}

#[tokio::test]
async fn each_page_renders_for_its_role_and_is_403_below_it_and_the_nav_shows_only_allowed_pages() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        store.create_project("shop").await?;
        let state = ConsoleState::new(store.clone(), None);
        let viewer = session(&state, store, "vic", Role::Viewer).await?;
        let engineer = session(&state, store, "erin", Role::Engineer).await?;
        let admin = session(&state, store, "ada", Role::Admin).await?;
        for (path, heading) in [
            ("/keys", "Projects and API keys"),
            ("/integrations", "Integrations"),
            ("/tokens", "API tokens"),
            ("/audit", "Audit log"),
        ] {
            let r = get(&state, &admin, path).await;
            assert_eq!(r.status, StatusCode::OK, "{} {path}: {}", db.name(), r.body);
            assert!(r.body.contains(&format!("<h1>{heading}</h1>")), "{path}: {}", r.body);
            for lower in [&viewer, &engineer] {
                let r = get(&state, lower, path).await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
                assert!(r.body.contains("admin role"), "{path}: {}", r.body);
            }
        }
        for (path, heading) in [("/rules", "Rules"), ("/analytics", "Analytics"), ("/live", "Live")] {
            let r = get(&state, &viewer, path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
            assert!(r.body.contains(&format!("<h1>{heading}</h1>")), "{path}: {}", r.body);
        }
        // No session: the login page.
        let r = send(&state, "GET", "/keys", None, None, &[]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login?next=%2Fkeys"));

        let nav = |r: &Response, path: &str| r.body.contains(&format!(r#"href="{path}" id="nav-"#));
        let r = get(&state, &viewer, "/incidents").await;
        for path in ["/incidents", "/live", "/analytics", "/rules"] {
            assert!(nav(&r, path), "a viewer's nav links {path}: {}", r.body);
        }
        for path in ["/keys", "/integrations", "/tokens", "/users", "/audit"] {
            assert!(!nav(&r, path), "a viewer's nav does not link {path}");
        }
        let r = get(&state, &admin, "/incidents").await;
        for path in ["/keys", "/integrations", "/tokens", "/users", "/audit", "/rules"] {
            assert!(nav(&r, path), "an admin's nav links {path}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_keys_page_creates_projects_and_keys_sets_limits_and_revokes() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let state = ConsoleState::new(store.clone(), None);
        let admin = session(&state, store, "ada", Role::Admin).await?;
        let engineer = session(&state, store, "erin", Role::Engineer).await?;

        assert_csrf_refused(&state, &admin, "/projects", "name=shop").await;
        assert!(store.project_by_name("shop").await?.is_none(), "refused: no project");
        let r = post(&state, &admin, "/projects", "name=shop").await;
        assert_eq!(
            (r.status, r.location()),
            (StatusCode::SEE_OTHER, "/keys?done=Created%20project%20shop."),
            "{}",
            r.body
        );
        let shop = store.project_by_name("shop").await?.ok_or("shop")?;
        let r = post(&state, &admin, "/projects", "name=Not%20A%20Name").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains(r#"id="flash""#), "the message is on the page: {}", r.body);
        let r = post(&state, &engineer, "/projects", "name=other").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

        // A key, its secret shown once; the label is text.
        let form = format!("project={}&label={}&origins=https%3A%2F%2Fshop.example&rate=50", shop.id, enc(SCRIPT));
        assert_csrf_refused(&state, &admin, "/keys", &form).await;
        assert!(store.list_api_keys(None).await?.is_empty());
        let r = post(&state, &admin, "/keys", &form).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let secret = text_after(&r.body, r#"<code id="key-secret-value">"#).ok_or("the secret")?;
        assert!(secret.starts_with("frk_"), "{secret}");
        assert!(r.body.contains(ESCAPED) && !r.body.contains(SCRIPT), "escaped label: {}", r.body);
        let key = store.list_api_keys(None).await?.pop().ok_or("key")?;
        assert_eq!(
            (key.allowed_origins.clone(), key.rate_limit_per_sec),
            (vec!["https://shop.example".to_owned()], Some(50.0))
        );
        let r = get(&state, &admin, "/keys").await;
        assert!(!r.body.contains(secret), "the secret is shown once");
        assert!(r.body.contains(&format!(r#"data-key-id="{}""#, key.id)), "{}", r.body);

        // Limits, then a refused rate, then revoke.
        let path = format!("/keys/{}", key.id);
        assert_csrf_refused(&state, &admin, &path, "action=limits&origins=&rate=").await;
        let r =
            post(&state, &admin, &path, "action=limits&origins=https%3A%2F%2Fa.example+https%3A%2F%2Fb.example&rate=")
                .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let key = store.api_key_by_id(&key.id).await?.ok_or("key")?;
        assert_eq!(key.allowed_origins, vec!["https://a.example", "https://b.example"]);
        assert_eq!(key.rate_limit_per_sec, None, "empty: the gateway's default");
        let r = post(&state, &admin, &path, "action=limits&origins=&rate=fast").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("rate &quot;fast&quot; is not a number"), "{}", r.body);
        let r = post(&state, &admin, &path, "action=revoke").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(store.api_key_by_id(&key.id).await?.ok_or("key")?.revoked_at_ms.is_some(), "{}", db.name());
        let audit = store.audit_log(100).await?;
        for action in ["project.create", "key.create", "key.update", "key.revoke"] {
            assert!(
                audit.iter().any(|e| e.action == action && e.success && e.actor == "user:ada"),
                "{action}: {audit:?}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_tokens_page_creates_with_role_expiry_and_project_and_revokes() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let shop = store.create_project("shop").await?;
        let state = ConsoleState::new(store.clone(), None);
        let admin = session(&state, store, "ada", Role::Admin).await?;
        let before = store.list_console_tokens().await?.len();
        let form = format!("role=viewer&label={}&expires=2099-01-01T00%3A00&project={}", enc(SCRIPT), shop.id);
        assert_csrf_refused(&state, &admin, "/tokens", &form).await;
        assert_eq!(store.list_console_tokens().await?.len(), before);
        let r = post(&state, &admin, "/tokens", &form).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let secret = text_after(&r.body, r#"<code id="token-secret-value">"#).ok_or("the secret")?.to_owned();
        assert!(secret.starts_with("frt_"));
        assert!(r.body.contains(ESCAPED) && !r.body.contains(SCRIPT), "{}", r.body);
        let token = store.console_token_by_secret(&secret).await?.ok_or("token")?;
        assert_eq!((token.role, token.project_id.as_deref()), (Role::Viewer, Some(shop.id.as_str())));
        assert!(token.expires_at_ms.is_some_and(|at| at > friction_runtime::now_ms()));

        let r = post(&state, &admin, "/tokens", "role=admin&expires=2001-01-01").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("not in the future"), "{}", r.body);

        let path = format!("/tokens/{}/revoke", token.id);
        assert_csrf_refused(&state, &admin, &path, "").await;
        let r = post(&state, &admin, &path, "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(store.console_token_by_secret(&secret).await?.ok_or("token")?.revoked_at_ms.is_some());
        let r = get(&state, &admin, "/tokens").await;
        assert!(r.body.contains(&format!(r#"data-token-id="{}""#, token.id)) && r.body.contains("revoked"));
    }
    Ok(())
}

#[tokio::test]
async fn the_rules_page_validates_before_saving_and_viewers_only_read() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let shop = store.create_project("shop").await?;
        let state = ConsoleState::new(store.clone(), None);
        let viewer = session(&state, store, "vic", Role::Viewer).await?;
        let engineer = session(&state, store, "erin", Role::Engineer).await?;
        let path = format!("/rules/{}", shop.id);
        let good = format!("rules={}", enc(r#"{"rage_min_clicks": 4}"#));

        let r = get(&state, &viewer, "/rules").await;
        assert!(r.status == StatusCode::OK && !r.body.contains("<textarea"), "a viewer reads: {}", r.body);
        let r = post(&state, &viewer, &path, &good).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(store.project_rules(&shop.id).await?.is_none());

        let r = get(&state, &engineer, "/rules").await;
        assert!(r.body.contains("<textarea"), "{}", r.body);
        assert_csrf_refused(&state, &engineer, &path, &good).await;
        let r = post(&state, &engineer, &path, &good).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let saved = store.project_rules(&shop.id).await?.ok_or("saved")?;
        assert!(saved.rules_json.contains("rage_min_clicks"), "{}", saved.rules_json);

        // Refused before saving: the 400 message on the page, the draft kept in the editor.
        let bad = r#"{"rage_min_clicks": 0, "x": "<b>"}"#;
        let r = post(&state, &engineer, &path, &format!("rules={}", enc(bad))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains(r#"class="error" role="alert" id="flash">rules: "#), "{}", r.body);
        assert!(r.body.contains("&lt;b&gt;") && !r.body.contains("<b>"), "the draft is text: {}", r.body);
        assert_eq!(store.project_rules(&shop.id).await?.ok_or("saved")?.rules_json, saved.rules_json, "unchanged");
    }
    Ok(())
}

#[tokio::test]
async fn the_audit_page_filters_pages_and_shows_details_as_text() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let state = ConsoleState::new(store.clone(), None);
        let admin = session(&state, store, "ada", Role::Admin).await?;
        store.audit("cli", "key.create", "key:1", false, Some("10.0.0.9"), Some(SCRIPT)).await?;
        for n in 0..60 {
            store.audit("token:t1", "rules.update", &format!("rules:{n}"), true, None, None).await?;
        }
        let r = get(&state, &admin, "/audit?outcome=failure").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains(ESCAPED) && !r.body.contains(SCRIPT), "{}", r.body);
        assert!(!r.body.contains(r#"data-action="rules.update""#), "only failures: {}", r.body);
        let r = get(&state, &admin, "/audit?actor=token%3At1&action=rules.update").await;
        assert_eq!(r.body.matches(r#"data-action="rules.update""#).count(), 50, "one page");
        let next = text_after(&r.body, r#"<a id="audit-next" href=""#).ok_or("a next page")?;
        let next = next.split('"').next().unwrap_or_default().replace("&amp;", "&");
        assert!(next.contains("actor=token%3At1") && next.contains("cursor="), "{next}");
        let r = get(&state, &admin, &next).await;
        assert_eq!(r.body.matches(r#"data-action="rules.update""#).count(), 10, "{}", r.body);
        assert!(!r.body.contains("audit-next"));
        let r = get(&state, &admin, "/audit?outcome=maybe").await;
        assert!(r.body.contains("outcome &quot;maybe&quot;"), "{}", r.body);
    }
    Ok(())
}

#[tokio::test]
async fn the_integrations_page_adds_tests_toggles_and_deletes_against_the_fake_jira() -> TestResult {
    let (email, token) = ("bot@example.com", "jira-api-token-123");
    let jira = Fake::start(Api::Jira, &jira_basic(email, token)).await;
    for db in migrated_dbs().await? {
        let store = &db.store;
        store.create_project("shop").await?;
        jira.set_always(None);
        let state = ConsoleState::new(store.clone(), None).with_master_key(MasterKey::random());
        let admin = session(&state, store, "ada", Role::Admin).await?;
        let engineer = session(&state, store, "erin", Role::Engineer).await?;
        let form = format!(
            "name={}&kind=jira&url={}&secret={token}&email={}&project_key=FR&issue_type_id=10001&team_id=&repo=&project=",
            enc(SCRIPT),
            enc(&jira.url()),
            enc(email)
        );
        assert_csrf_refused(&state, &admin, "/integrations", &form).await;
        let r = post(&state, &engineer, "/integrations", &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = post(&state, &admin, "/integrations", &form).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}: {}", db.name(), r.body);
        let r = get(&state, &admin, "/integrations").await;
        assert!(r.body.contains(ESCAPED) && !r.body.contains(SCRIPT), "{}", r.body);
        assert!(!r.body.contains(token), "the secret is never shown");
        let id = text_after(&r.body, r#"data-integration-id=""#)
            .ok_or("a row")?
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned();
        let path = format!("/integrations/{id}");

        // A form missing Jira's fields: the API's 400 message on the page.
        let r = post(&state, &admin, "/integrations", "name=j2&kind=jira&url=https%3A%2F%2Fj.example&secret=s").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body.contains("email is required for a jira integration"), "{}", r.body);

        // Test connection: success, then the failure once the token no longer works.
        assert_csrf_refused(&state, &admin, &path, "action=test").await;
        let r = post(&state, &admin, &path, "action=test").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains(r#"id="test-result" class="notice" role="status" data-ok="true""#), "{}", r.body);
        assert!(
            text_after(&r.body, r#"<p id="test-message">"#).is_some_and(|m| m.contains("authenticated")),
            "{}",
            r.body
        );
        jira.set_always(Some(401));
        let r = post(&state, &admin, &path, "action=test").await;
        assert!(r.body.contains(r#"data-ok="false" data-status="401""#), "{}", r.body);
        let message = text_after(&r.body, r#"<p id="test-message">"#).ok_or("message")?;
        assert!(!message.is_empty() && !message.contains(token), "{message}");
        jira.set_always(None);

        // Disable, enable, delete.
        assert_csrf_refused(&state, &admin, &path, "action=disable").await;
        let r = post(&state, &admin, &path, "action=disable").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let r = get(&state, &admin, "/integrations").await;
        assert!(r.body.contains(r#"<td class="state">disabled</td>"#), "{}", r.body);
        let r = post(&state, &admin, &path, "action=enable").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = post(&state, &admin, &path, "action=delete").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = get(&state, &admin, "/integrations").await;
        assert!(!r.body.contains("data-integration-id"), "{}", r.body);
        let audit = store.audit_log(100).await?;
        for action in
            ["integration.add", "integration.test", "integration.disable", "integration.enable", "integration.delete"]
        {
            assert!(audit.iter().any(|e| e.action == action && e.actor == "user:ada"), "{action}: {audit:?}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn analytics_say_when_clickhouse_is_missing_and_the_incidents_list_is_ready_for_live_rows() -> TestResult {
    let db = migrated_dbs().await?.into_iter().next().ok_or("db")?;
    let store = &db.store;
    store.create_project("shop").await?;
    let state = ConsoleState::new(store.clone(), None);
    let viewer = session(&state, store, "vic", Role::Viewer).await?;
    let r = get(&state, &viewer, "/analytics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains(r#"id="analytics-not-configured""#)
            && r.body.contains("<code>CLICKHOUSE_URL</code> is not set")
    );
    let r = get(&state, &viewer, "/incidents").await;
    assert!(r.body.contains(r#"<tbody id="incident-rows" data-live"#), "{}", r.body);
    let r = get(&state, &viewer, "/incidents?cursor=x").await;
    assert!(!r.body.contains("data-live"), "later pages do not change under the reader");
    let r = get(&state, &viewer, "/live").await;
    assert!(r.body.contains(r#"id="live-feed" data-live-feed"#), "{}", r.body);
    Ok(())
}

#[tokio::test]
async fn analytics_draw_the_warehouse_queries_as_inline_svg() -> TestResult {
    let Some(url) = friction_test_support::clickhouse_url("analytics_draw_the_warehouse_queries_as_inline_svg") else {
        return Ok(());
    };
    let db = migrated_dbs().await?.into_iter().next().ok_or("db")?;
    let store = &db.store;
    let a = store.create_project("shop").await?.id;
    let mut config = friction_warehouse::ClickHouseConfig::new(url);
    let suffix =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos() ^ std::process::id();
    config.database = format!("console_pages_{suffix:08x}");
    let client = config.client()?;
    friction_warehouse::migrate(&client, &config.database).await?;
    let t = friction_runtime::now_ms() - 3_600_000;
    // Two sessions on /checkout, one of them frustrated on an element whose key is markup; one on /home.
    client
        .query(&format!(
            "INSERT INTO events (project_id, event_id, session_id, seq, event_type, timestamp_ms, route_template) VALUES \
             ('{a}', 'e1', 's1', 1, 'click', {t}, '/checkout'), ('{a}', 'e2', 's2', 1, 'click', {t}, '/checkout'), \
             ('{a}', 'e3', 's3', 1, 'click', {t}, '/home')"
        ))
        .execute()
        .await?;
    client
        .query(&format!(
            "INSERT INTO signals (project_id, signal_id, kind, session_id, route_template, element_key, start_ms) \
             VALUES ('{a}', 'sig1', 'rage_click', 's1', '/checkout', '{SCRIPT}', {t})"
        ))
        .execute()
        .await?;
    let state = ConsoleState::new(store.clone(), None).with_clickhouse(client.clone());
    let viewer = session(&state, store, "vic", Role::Viewer).await?;
    let r = get(&state, &viewer, &format!("/analytics?project={a}&days=7")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for chart in ["chart-rate-per-day", "chart-rate-by-route", "chart-top-elements", "chart-kinds"] {
        let at = r.body.find(&format!(r#"id="{chart}""#)).ok_or(chart)?;
        assert!(r.body[at..].contains("<svg"), "{chart}: {}", r.body);
    }
    assert!(r.body.contains(r#"<g data-label="/checkout" data-value="0.5">"#), "1 of 2 sessions: {}", r.body);
    assert!(r.body.contains("50.0% of 2 sessions") && r.body.contains("rage click"), "{}", r.body);
    assert!(r.body.contains(ESCAPED) && !r.body.contains(SCRIPT), "the element key is text: {}", r.body);
    client.query(&format!("DROP DATABASE IF EXISTS {}", config.database)).execute().await?;
    Ok(())
}

#[tokio::test]
async fn a_user_limited_to_a_project_sees_only_that_projects_keys_rules_and_charts() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let a = store.create_project("alpha").await?;
        let b = store.create_project("bravo").await?;
        let key_a = store.create_api_key("alpha", Some("alpha-key")).await?.key;
        let key_b = store.create_api_key("bravo", Some("bravo-key")).await?.key;
        let state = ConsoleState::new(store.clone(), None);
        add_user(store, "scoped", Role::Admin, Some(&a.id)).await?;
        let id = login(&state, "scoped").await?;
        let s = Session { csrf: csrf_of(store, &id).await?, id };
        let r = get(&state, &s, "/keys").await;
        assert!(r.body.contains(&key_a.prefix) && !r.body.contains(&key_b.prefix), "{}", r.body);
        assert!(!r.body.contains("bravo"), "{}", r.body);
        // The pages about every project (403 for it) are not in its navigation.
        for global in ["nav-tokens", "nav-users", "nav-audit"] {
            assert!(!r.body.contains(global), "{global} offered to a project-limited admin: {}", r.body);
        }
        assert!(r.body.contains("nav-keys"), "{}", r.body);
        let r = get(&state, &s, "/rules").await;
        assert!(r.body.contains(&a.id) && !r.body.contains(&b.id), "{}", r.body);
        let r = get(&state, &s, "/analytics").await;
        assert!(!r.body.contains("bravo"), "{}", r.body);
        // Another project's key and rules: not found, unchanged.
        let r = post(&state, &s, &format!("/keys/{}", key_b.id), "action=revoke").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        assert!(store.api_key_by_id(&key_b.id).await?.ok_or("key")?.revoked_at_ms.is_none());
        let r = post(&state, &s, &format!("/rules/{}", b.id), "rules=%7B%7D").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    Ok(())
}
