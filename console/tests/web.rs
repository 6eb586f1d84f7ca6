//! The console's pages and sessions on every backend (SQLite always, PostgreSQL when
//! FRICTION_TEST_POSTGRES_URL is set): login (303, cookie flags, a new session id at each login),
//! logout ending the session in the store, CSRF on forms and cookie API calls, login throttling,
//! roles (a viewer forcing a status change gets 403), project scoping, HTML escaping of user
//! strings, and idle and absolute expiry under a test clock (docs/console.md).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use friction_console::{router, ConsoleArgs, ConsoleState, SessionSettings};
use friction_incidents::{apply_batch, IncidentConfig};
use friction_store::testing::migrated_dbs;
use friction_store::{Role, Store};
use tower::ServiceExt;

mod common;
use common::page::{add_user, csrf_of, enc, login, send, send_from, PASSWORD};
use common::rage_signal as signal;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Two projects with one incident each (`fp-a` in `a`, `fp-b` in `b`); returns the project ids.
async fn seed(store: &Store) -> Result<(String, String), Box<dyn std::error::Error + Send + Sync>> {
    let a = store.create_project("a").await?.id;
    let b = store.create_project("b").await?.id;
    let signals = vec![
        signal("a1", &a, "fp-a", "button#pay", "s1", 1_000),
        signal("a2", &a, "fp-a", "button#pay", "s2", 2_000),
        signal("b1", &b, "fp-b", "<script>alert(1)</script>", "s3", 3_000),
    ];
    apply_batch(store, &signals, &IncidentConfig::default(), 10).await?;
    Ok((a, b))
}

#[tokio::test]
async fn login_sets_a_fresh_session_cookie_and_logout_ends_it_in_the_store() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let state = ConsoleState::new(store.clone(), None);
        add_user(store, "alice", Role::Engineer, None).await?;

        // No session: the console sends people to the login page.
        let r = send(&state, "GET", "/", None, None, &[]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"), "{}", db.name());
        let r = send(&state, "GET", "/incidents?status=open", None, None, &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location(), "/login?next=%2Fincidents%3Fstatus%3Dopen");
        let r = send(&state, "GET", "/login", None, None, &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains(r#"name="username""#) && r.body.contains(r#"type="password""#), "{}", r.body);
        assert!(r.headers.get(header::CONTENT_SECURITY_POLICY).is_some());

        // Log in: 303 with an HttpOnly, SameSite=Lax cookie; Secure only over HTTPS.
        let form = format!("username=alice&password={}&next=%2Fincidents%3Fstatus%3Dopen", enc(PASSWORD));
        let r = send(&state, "POST", "/login", None, Some(&form), &[]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/incidents?status=open"), "{}", r.body);
        let cookie = r.set_cookie().to_owned();
        for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(flag), "{flag} in {cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
        let first = r.session_id().ok_or("session id")?;
        let r = send(&state, "POST", "/login", None, Some(&form), &[("x-forwarded-proto", "https")]).await;
        assert!(r.set_cookie().contains("; Secure"), "{}", r.set_cookie());

        // A login form posted from another site is refused.
        let r = send(&state, "POST", "/login", None, Some(&form), &[("origin", "https://evil.example")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(r.session_id().is_none());
        let r = send(&state, "POST", "/login", None, Some(&form), &[("origin", "http://console.test")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "same origin: {}", r.body);

        // A login from a browser that has a session gets a new id; the old one ends.
        let r = send(&state, "POST", "/login", Some(&first), Some(&form), &[]).await;
        let second = r.session_id().ok_or("session id")?;
        assert_ne!(first, second, "no fixation");
        let r = send(&state, "GET", "/incidents", Some(&first), None, &[]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login?expired=1&next=%2Fincidents"));

        let r = send(&state, "GET", "/incidents", Some(&second), None, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("<h1>Incidents</h1>") && r.body.contains("alice"), "{}", r.body);
        assert_eq!(r.headers.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()), Some("no-store"));
        let csrf = csrf_of(store, &second).await?;
        assert!(r.body.contains(&format!(r#"name="csrf" value="{csrf}""#)), "the logout form carries the token");
        let r = send(&state, "GET", "/", Some(&second), None, &[]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/incidents"));

        // Logout needs the CSRF token, then ends the session in the store.
        let r = send(&state, "POST", "/logout", Some(&second), Some("csrf=wrong"), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = send(&state, "POST", "/logout", Some(&second), Some(&format!("csrf={csrf}")), &[]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"));
        assert!(r.set_cookie().contains("Max-Age=0"), "{}", r.set_cookie());
        assert!(store.session_by_id(&second).await?.ok_or("session")?.ended_at_ms.is_some(), "{}", db.name());
        let r = send(&state, "GET", "/incidents", Some(&second), None, &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "the old cookie no longer works");
        let r = send(&state, "GET", "/v1/incidents", Some(&second), None, &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);

        // Wrong credentials: the form again, 401, one message, audited.
        for form in ["username=alice&password=wrong-password", "username=nobody&password=wrong-password"] {
            let r = send(&state, "POST", "/login", None, Some(form), &[]).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            assert!(r.body.contains("Wrong username or password."), "{}", r.body);
            assert!(r.session_id().is_none());
        }
        let audit = store.audit_log(100).await?;
        let failed: Vec<_> = audit.iter().filter(|e| e.action == "login" && !e.success).collect();
        assert_eq!(failed.len(), 3, "the cross-site form and two wrong credentials: {audit:?}");
        assert!(failed.iter().all(|e| e.ip.as_deref() == Some("192.0.2.10")));
        assert!(audit.iter().any(|e| e.action == "logout" && e.actor == "user:alice"));
    }
    Ok(())
}

#[tokio::test]
async fn changes_need_the_csrf_token_with_a_cookie_but_not_with_a_bearer_token() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        seed(store).await?;
        let state = ConsoleState::new(store.clone(), None);
        add_user(store, "erin", Role::Engineer, None).await?;
        let session = login(&state, "erin").await?;
        let csrf = csrf_of(store, &session).await?;

        // The page's form: refused without or with a wrong token.
        for form in ["status=resolved", "status=resolved&csrf=0000"] {
            let r = send(&state, "POST", "/incidents/fp-a/status", Some(&session), Some(form), &[]).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{}: {form}", db.name());
            assert!(r.body.contains("CSRF"), "{}", r.body);
        }
        assert_eq!(store.incident("fp-a").await?.ok_or("fp-a")?.status.as_str(), "open");
        let form = format!("status=resolved&csrf={csrf}");
        let r = send(&state, "POST", "/incidents/fp-a/status", Some(&session), Some(&form), &[]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/incidents/fp-a?changed=resolved"));
        assert_eq!(store.incident("fp-a").await?.ok_or("fp-a")?.status.as_str(), "resolved");
        let audit = store.audit_log(50).await?;
        assert!(audit.iter().any(|e| e.actor == "user:erin" && e.action == "incident.update" && e.success));

        // The JSON API with the cookie: the header is needed.
        let patch = |extra: Vec<(&'static str, String)>| {
            let (state, session) = (state.clone(), session.clone());
            async move {
                let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let mut all = vec![("content-type", "application/json")];
                all.extend(extra);
                let req_body = r#"{"status":"ignored"}"#;
                let mut req = Request::builder().method("PATCH").uri("/v1/incidents/fp-a");
                req = req.header(header::COOKIE, format!("friction_session={session}"));
                for (k, v) in &all {
                    req = req.header(*k, *v);
                }
                let resp = router(state).oneshot(req.body(Body::from(req_body)).expect("request")).await;
                resp.expect("response").status()
            }
        };
        assert_eq!(patch(vec![]).await, StatusCode::FORBIDDEN, "{}", db.name());
        assert_eq!(patch(vec![("x-csrf-token", "nope".into())]).await, StatusCode::FORBIDDEN);
        assert_eq!(patch(vec![("x-csrf-token", csrf.clone())]).await, StatusCode::OK);
        // A cookie read needs no token.
        let r = send(&state, "GET", "/v1/incidents", Some(&session), None, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);

        // A bearer token needs none.
        let token = store.create_console_token(Role::Engineer, None).await?;
        let req = Request::builder()
            .method("PATCH")
            .uri("/v1/incidents/fp-a")
            .header("authorization", format!("Bearer {}", token.secret))
            .header("content-type", "application/json")
            .body(Body::from(r#"{"status":"open"}"#))?;
        assert_eq!(router(state.clone()).oneshot(req).await?.status(), StatusCode::OK);
    }
    Ok(())
}

#[tokio::test]
async fn a_viewer_sees_no_status_buttons_and_gets_403_when_forcing_one() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        seed(store).await?;
        let state = ConsoleState::new(store.clone(), None);
        add_user(store, "vic", Role::Viewer, None).await?;
        add_user(store, "erin", Role::Engineer, None).await?;
        let viewer = login(&state, "vic").await?;
        let engineer = login(&state, "erin").await?;

        let r = send(&state, "GET", "/incidents/fp-a", Some(&viewer), None, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(!r.body.contains("/incidents/fp-a/status"), "no status form for a viewer");
        let r = send(&state, "GET", "/incidents/fp-a", Some(&engineer), None, &[]).await;
        assert!(r.body.contains(r#"action="/incidents/fp-a/status""#), "{}", r.body);
        assert!(r.body.contains("Resolve"));

        let csrf = csrf_of(store, &viewer).await?;
        let form = format!("status=resolved&csrf={csrf}");
        let r = send(&state, "POST", "/incidents/fp-a/status", Some(&viewer), Some(&form), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", db.name());
        assert!(r.body.contains("Not allowed") && r.body.contains("engineer"), "{}", r.body);
        assert_eq!(store.incident("fp-a").await?.ok_or("fp-a")?.status.as_str(), "open");
        let audit = store.audit_log(50).await?;
        assert!(audit.iter().any(|e| e.actor == "user:vic" && e.action == "incident.update" && !e.success));

        // Only admins manage users.
        let r = send(&state, "GET", "/users", Some(&engineer), None, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = send(&state, "GET", "/incidents", Some(&viewer), None, &[]).await;
        assert!(!r.body.contains(r#"href="/users""#), "no Users link for a viewer");
    }
    Ok(())
}

#[tokio::test]
async fn a_user_or_token_limited_to_a_project_sees_only_that_project() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let (a, b) = seed(store).await?;
        let state = ConsoleState::new(store.clone(), None);
        add_user(store, "ann", Role::Viewer, Some(&a)).await?;
        let session = login(&state, "ann").await?;

        let r = send(&state, "GET", "/incidents", Some(&session), None, &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains(r#"data-incident-id="fp-a""#), "{}", r.body);
        assert!(!r.body.contains("fp-b") && !r.body.contains(&b), "another project's incident leaks: {}", r.body);
        let r = send(&state, "GET", "/incidents/fp-b", Some(&session), None, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", db.name());
        assert!(!r.body.contains("alert(1)"), "nothing of it is shown: {}", r.body);
        let r = send(&state, "GET", &format!("/incidents?project={b}"), Some(&session), None, &[]).await;
        assert!(!r.body.contains("fp-b"), "{}", r.body);

        // The same through the API, with the cookie and with a scoped token.
        let token = store.create_console_token_for(Role::Viewer, None, Some(&a)).await?;
        let auth = format!("Bearer {}", token.secret);
        for (cookie, extra) in [(Some(session.as_str()), vec![]), (None, vec![("authorization", auth.as_str())])] {
            let r = send(&state, "GET", "/v1/incidents", cookie, None, &extra).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert!(r.body.contains("fp-a") && !r.body.contains("fp-b"), "{}", r.body);
            let r = send(&state, "GET", "/v1/incidents/fp-b", cookie, None, &extra).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
            let r = send(&state, "GET", "/v1/incidents?project=b", cookie, None, &extra).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
            let r = send(&state, "GET", "/v1/incidents/fp-a", cookie, None, &extra).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    }
    Ok(())
}

#[tokio::test]
async fn user_strings_are_shown_as_text_never_as_markup() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        seed(store).await?;
        let state = ConsoleState::new(store.clone(), None);
        add_user(store, "vic", Role::Viewer, None).await?;
        let session = login(&state, "vic").await?;
        for uri in ["/incidents", "/incidents/fp-b", "/incidents?route=%3Cscript%3Ealert(2)%3C%2Fscript%3E"] {
            let r = send(&state, "GET", uri, Some(&session), None, &[]).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
            assert!(!r.body.contains("<script>alert"), "{uri} renders markup: {}", r.body);
        }
        let r = send(&state, "GET", "/incidents/fp-b", Some(&session), None, &[]).await;
        assert!(r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "shown as text: {}", r.body);
        let title_start = r.body.find("<title>").ok_or("title")?;
        assert!(
            r.body[title_start..].starts_with("<title>Rage clicks on &lt;script&gt;"),
            "{}",
            &r.body[title_start..]
        );
        let r = send(&state, "GET", "/incidents?route=%3Cscript%3Ealert(2)%3C%2Fscript%3E", Some(&session), None, &[])
            .await;
        assert!(r.body.contains("&lt;script&gt;alert(2)"), "the filter value is escaped: {}", r.body);
    }
    Ok(())
}

#[tokio::test]
async fn failed_logins_are_throttled_per_user_and_per_address() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let args = ConsoleArgs { login_failures_per_user: 3, login_failures_per_address: 5, ..ConsoleArgs::default() };
        let state = ConsoleState::new(store.clone(), None).with_console_args(&args);
        add_user(store, "alice", Role::Viewer, None).await?;
        add_user(store, "bob", Role::Viewer, None).await?;
        let attempt = |peer: &'static str, name: &'static str, password: &'static str| {
            let state = state.clone();
            async move {
                let form = format!("username={name}&password={}", enc(password));
                send_from(&state, peer, "POST", "/login", None, Some(&form), &[]).await
            }
        };
        for _ in 0..3 {
            assert_eq!(attempt("198.51.100.1:1", "alice", "wrong-password").await.status, StatusCode::UNAUTHORIZED);
        }
        // Alice's budget is used: even the right password waits, from any address.
        let r = attempt("198.51.100.2:1", "alice", PASSWORD).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}: {}", db.name(), r.body);
        assert!(r.headers.get(header::RETRY_AFTER).is_some());
        assert!(r.body.contains("Too many failed logins"), "{}", r.body);
        // Bob is not affected from another address.
        assert_eq!(attempt("198.51.100.2:1", "bob", PASSWORD).await.status, StatusCode::SEE_OTHER);
        // The first address fails twice more for bob: its budget of 5 is used, for everyone.
        for _ in 0..2 {
            assert_eq!(attempt("198.51.100.1:1", "bob", "wrong-password").await.status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(attempt("198.51.100.1:1", "carol", "wrong-password").await.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(attempt("198.51.100.3:1", "bob", PASSWORD).await.status, StatusCode::SEE_OTHER);
        let refused = store.audit_log(100).await?.into_iter().filter(|e| e.action == "login" && !e.success).count();
        assert_eq!(refused, 7, "every refused login is audited");
    }
    Ok(())
}

#[tokio::test]
async fn sessions_end_after_idle_time_and_at_their_absolute_limit() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let now = Arc::new(AtomicI64::new(1_000_000));
        let clock = now.clone();
        let settings = SessionSettings {
            idle: Duration::from_millis(1_000),
            absolute: Duration::from_millis(3_000),
            clock: Arc::new(move || clock.load(Ordering::SeqCst)),
        };
        let state = ConsoleState::new(store.clone(), None).with_sessions(settings);
        add_user(store, "alice", Role::Viewer, None).await?;
        let at = |ms: i64| now.store(1_000_000 + ms, Ordering::SeqCst);

        // Used often enough, a session lives until its absolute limit.
        at(0);
        let session = login(&state, "alice").await?;
        for ms in [900, 1_800, 2_700, 2_999] {
            at(ms);
            let r = send(&state, "GET", "/incidents", Some(&session), None, &[]).await;
            assert_eq!(r.status, StatusCode::OK, "{} at {ms}: {}", db.name(), r.location());
        }
        at(3_000);
        let r = send(&state, "GET", "/incidents", Some(&session), None, &[]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login?expired=1&next=%2Fincidents"));
        assert!(r.set_cookie().contains("Max-Age=0"), "the cookie is cleared: {}", r.set_cookie());

        // Left alone, it ends after the idle time.
        at(10_000);
        let session = login(&state, "alice").await?;
        at(10_999);
        assert_eq!(send(&state, "GET", "/incidents", Some(&session), None, &[]).await.status, StatusCode::OK);
        at(12_000);
        let r = send(&state, "GET", "/incidents", Some(&session), None, &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", db.name());
        let r = send(&state, "GET", "/v1/incidents", Some(&session), None, &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("expired"), "{}", r.body);

        // A disabled user's session ends at once.
        at(20_000);
        let session = login(&state, "alice").await?;
        store.set_user_disabled("alice", true).await?;
        assert_eq!(send(&state, "GET", "/incidents", Some(&session), None, &[]).await.status, StatusCode::SEE_OTHER);
    }
    Ok(())
}

#[tokio::test]
async fn admins_add_disable_and_change_users_from_the_users_page() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let state = ConsoleState::new(store.clone(), None);
        add_user(store, "root", Role::Admin, None).await?;
        let admin = login(&state, "root").await?;
        let csrf = csrf_of(store, &admin).await?;

        let r = send(&state, "GET", "/users", Some(&admin), None, &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains(r#"href="/users""#) && r.body.contains("root"), "{}", r.body);

        let r = send(&state, "POST", "/users", Some(&admin), Some("username=dana&role=engineer"), &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "CSRF");
        let form = format!("csrf={csrf}&username=dana&role=engineer&project=");
        let r = send(&state, "POST", "/users", Some(&admin), Some(&form), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let marker = "Their password, shown only now: ";
        let start = r.body.find(marker).ok_or("password shown")? + marker.len();
        let password: String = r.body[start..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        assert_eq!(password.len(), 20);
        let form = format!("username=dana&password={password}");
        let r = send(&state, "POST", "/login", None, Some(&form), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "dana logs in with it");
        let dana = r.session_id().ok_or("session")?;

        let form = format!("csrf={csrf}&action=role&role=viewer");
        let r = send(&state, "POST", "/users/dana", Some(&admin), Some(&form), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(store.user_by_username("dana").await?.ok_or("dana")?.user.role, Role::Viewer);
        let form = format!("csrf={csrf}&action=disable");
        let r = send(&state, "POST", "/users/dana", Some(&admin), Some(&form), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(send(&state, "GET", "/incidents", Some(&dana), None, &[]).await.status, StatusCode::SEE_OTHER);
        let r = send(&state, "POST", "/users/nobody", Some(&admin), Some(&form), &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);

        let actions: Vec<String> = store.audit_log(100).await?.into_iter().map(|e| e.action).collect();
        for a in ["user.create", "user.role", "user.disable"] {
            assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn assets_are_embedded_and_cached_by_version() -> TestResult {
    let db = migrated_dbs().await?.into_iter().next().ok_or("db")?;
    let state = ConsoleState::new(db.store.clone(), None);
    let r = send(&state, "GET", "/login", None, None, &[]).await;
    let start = r.body.find("/assets/").ok_or("asset link")?;
    let href: String = r.body[start..].chars().take_while(|c| *c != '"').collect();
    assert!(href.ends_with("/console.css"), "{href}");
    let r = send(&state, "GET", &href, None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some("text/css; charset=utf-8"));
    assert!(r
        .headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("immutable")));
    let r = send(&state, "GET", "/assets/old/console.css", None, None, &[]).await;
    assert_eq!(r.headers.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()), Some("no-cache"));
    assert_eq!(send(&state, "GET", "/assets/x/nothing.js", None, None, &[]).await.status, StatusCode::NOT_FOUND);
    let r = send(&state, "GET", "/v1/nothing", None, None, &[]).await;
    assert!(r.status == StatusCode::NOT_FOUND && r.body.contains("\"not_found\""), "{}", r.body);
    Ok(())
}

#[tokio::test]
async fn the_evidence_timeline_shows_a_sessions_events_from_clickhouse_or_the_kept_evidence() -> TestResult {
    let db = migrated_dbs().await?.into_iter().next().ok_or("db")?;
    let store = &db.store;
    let (a, _) = seed(store).await?;
    add_user(store, "vic", Role::Viewer, None).await?;

    // Without ClickHouse: the detector's evidence, and a note saying what would show more.
    let state = ConsoleState::new(store.clone(), None);
    let session = login(&state, "vic").await?;
    let r = send(&state, "GET", "/incidents/fp-a", Some(&session), None, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("set CLICKHOUSE_URL") && r.body.contains("<pre>"), "{}", r.body);
    assert!(r.body.contains("in session <code>s1</code>") && r.body.contains("in session <code>s2</code>"));

    let Some(url) = friction_test_support::clickhouse_url("the ClickHouse half of this test") else {
        return Ok(());
    };
    let mut config = friction_warehouse::ClickHouseConfig::new(url);
    let suffix =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos() ^ std::process::id();
    config.database = format!("console_web_{suffix:08x}");
    let client = config.client()?;
    friction_warehouse::migrate(&client, &config.database).await?;
    // Session s1's events, inserted out of order; another session's event must not show.
    client
        .query(&format!(
            "INSERT INTO events (project_id, event_id, session_id, seq, event_type, timestamp_ms, route_template, \
             target_key, target_text, network_method, network_url, network_status) VALUES \
             ('{a}', 'e3', 's1', 3, 'network', 1300, '/checkout', '', '', 'POST', '/api/pay', 500), \
             ('{a}', 'e1', 's1', 1, 'click', 1000, '/checkout', 'button#pay', '<b>Pay</b>', '', '', NULL), \
             ('{a}', 'e2', 's1', 2, 'click', 1100, '/checkout', 'button#pay', '<b>Pay</b>', '', '', NULL), \
             ('{a}', 'x1', 's9', 1, 'click', 1050, '/other', 'a#elsewhere', '', '', '', NULL)"
        ))
        .execute()
        .await?;
    let state = state.with_clickhouse(client.clone());
    let r = send(&state, "GET", "/incidents/fp-a", Some(&session), None, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let first = r.body.find("click on button#pay").ok_or("the first click")?;
    let request = r.body.find("network POST /api/pay → 500").ok_or("the request")?;
    assert!(first < request, "in order: {}", r.body);
    assert_eq!(r.body.matches("click on button#pay").count(), 2, "{}", r.body);
    assert!(r.body.contains("&lt;b&gt;Pay&lt;/b&gt;") && !r.body.contains("<b>Pay"), "escaped: {}", r.body);
    assert!(!r.body.contains("elsewhere"), "another session's event: {}", r.body);
    assert!(r.body.contains("ClickHouse has no events of this session"), "s2 falls back: {}", r.body);
    client.query(&format!("DROP DATABASE IF EXISTS {}", config.database)).execute().await?;
    Ok(())
}

#[tokio::test]
async fn a_login_goes_only_to_a_plain_path_on_this_site() -> TestResult {
    let db = migrated_dbs().await?.into_iter().next().ok_or("db")?;
    let state = ConsoleState::new(db.store.clone(), None);
    add_user(&db.store, "alice", Role::Viewer, None).await?;
    for (next, to) in [
        ("%2Fincidents%2Fx", "/incidents/x"),
        ("%2F%2Fevil.example", "/incidents"),
        ("https%3A%2F%2Fevil.example", "/incidents"),
        ("%2Fa%0D%0ASet-Cookie%3A%20x%3D1", "/incidents"),
    ] {
        let form = format!("username=alice&password={}&next={next}", enc(PASSWORD));
        let r = send(&state, "POST", "/login", None, Some(&form), &[]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, to), "{next}");
    }
    let r = send(&state, "GET", "/login?next=%2Fa%0D%0Ab", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("/a\r\nb"), "{}", r.body);
    Ok(())
}
