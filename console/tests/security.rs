//! The console's security properties console/tests/web.rs does not already cover, on every backend
//! (SQLite always, PostgreSQL when FRICTION_TEST_POSTGRES_URL is set; docs/console.md "Users and
//! sessions", docs/architecture.md §6): the security headers of every HTML answer (error pages
//! too), a failed login echoing the username as text, session ids long, random and stored only
//! hashed with a CSRF token of their own, no change over GET, and another project's incident
//! answered exactly like a missing one.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Request, StatusCode};
use friction_console::{router, ConsoleState};
use friction_incidents::{apply_batch, IncidentConfig};
use friction_schemas::SignalRecord;
use friction_store::testing::migrated_dbs;
use friction_store::{Role, Store};
use http_body_util::BodyExt;
use tower::ServiceExt;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const PASSWORD: &str = "a long enough password";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

/// One request from a documentation address; `cookie` is a session id, `csrf` goes in
/// `X-CSRF-Token`, `form` is sent urlencoded.
async fn send(state: &ConsoleState, method: &str, uri: &str, cookie: Option<&str>, form: Option<&str>) -> Answer {
    let mut req = Request::builder().method(method).uri(uri).header(header::HOST, "console.test");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("friction_session={c}"));
    }
    if form.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let mut req = req.body(Body::from(form.unwrap_or("").to_owned())).expect("request");
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 20], 5000))));
    let resp = router(state.clone()).oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

fn header(a: &Answer, name: header::HeaderName) -> &str {
    a.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A user with [`PASSWORD`]; their id.
async fn add_user(
    store: &Store,
    name: &str,
    role: Role,
    project: Option<&str>,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let hash = friction_console::password::hash(PASSWORD).await?;
    Ok(store.create_user(name, &hash, role, project).await?.id)
}

/// A fresh session of `user_id`: (cookie value, CSRF token).
async fn session(store: &Store, user_id: &str) -> Result<(String, String), friction_store::StoreError> {
    let new = store.create_session(user_id, None, friction_runtime::now_ms(), 3_600_000, 8 * 3_600_000).await?;
    Ok((new.id, new.session.csrf_token))
}

/// Two projects with an incident each: `fp-a` in `a`, `fp-b` in `b`; the project ids.
async fn seed(store: &Store) -> Result<(String, String), Box<dyn std::error::Error + Send + Sync>> {
    let a = store.create_project("a").await?.id;
    let b = store.create_project("b").await?.id;
    let signal = |id: &str, project: &str, fp: &str| SignalRecord {
        id: id.into(),
        project_id: project.into(),
        fingerprint: fp.into(),
        kind: "rage_click".into(),
        label: "rage_click".into(),
        session_id: format!("s-{id}"),
        view_id: "v".into(),
        route_template: "/checkout".into(),
        element_key: "button#pay".into(),
        start_ms: 1_000,
        end_ms: 1_100,
        ..Default::default()
    };
    let signals = vec![signal("a1", &a, "fp-a"), signal("b1", &b, "fp-b")];
    apply_batch(store, &signals, &IncidentConfig::default(), 10).await?;
    Ok((a, b))
}

#[tokio::test]
async fn every_html_answer_carries_the_security_headers_error_pages_too() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        seed(store).await?;
        let state = ConsoleState::new(store.clone(), None);
        let admin = session(store, &add_user(store, "root", Role::Admin, None).await?).await?.0;
        let viewer = session(store, &add_user(store, "vic", Role::Viewer, None).await?).await?.0;
        for (uri, cookie, status) in [
            ("/login", None, StatusCode::OK),
            ("/incidents", Some(&admin), StatusCode::OK),
            ("/incidents/fp-a", Some(&admin), StatusCode::OK),
            ("/incidents/nothing", Some(&admin), StatusCode::NOT_FOUND),
            ("/users", Some(&admin), StatusCode::OK),
            ("/users", Some(&viewer), StatusCode::FORBIDDEN),
            ("/no-such-page", Some(&admin), StatusCode::NOT_FOUND),
        ] {
            let a = send(&state, "GET", uri, cookie.map(String::as_str), None).await;
            let what = format!("{} {uri}", db.name());
            assert_eq!(a.status, status, "{what}: {}", a.body);
            if !header(&a, header::CONTENT_TYPE).starts_with("text/html") {
                continue; // the JSON fallback of an unknown path
            }
            let csp = header(&a, header::CONTENT_SECURITY_POLICY);
            for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"]
            {
                assert!(csp.contains(directive), "{what}: {directive} in {csp:?}");
            }
            assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: {csp}");
            assert_eq!(header(&a, header::X_FRAME_OPTIONS), "DENY", "{what}");
            assert_eq!(header(&a, header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{what}");
            assert_eq!(header(&a, header::CACHE_CONTROL), "no-store", "{what}");
            assert!(!a.body.contains("<script>") && !a.body.contains(" onclick="), "{what}: no inline script");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_failed_login_shows_the_typed_username_as_text() -> TestResult {
    for db in migrated_dbs().await? {
        let state = ConsoleState::new(db.store.clone(), None);
        let form = "username=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E&password=wrong-password";
        let a = send(&state, "POST", "/login", None, Some(form)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", db.name());
        assert!(!a.body.contains("<script>alert"), "markup from the form: {}", a.body);
        assert!(a.body.contains("&lt;script&gt;alert(1)"), "kept as text: {}", a.body);
        assert!(!a.body.contains(r#"value="">"#), "the attribute is not closed by the input: {}", a.body);
    }
    Ok(())
}

#[tokio::test]
async fn session_ids_are_long_random_stored_only_hashed_with_a_csrf_token_of_their_own() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        seed(store).await?;
        let state = ConsoleState::new(store.clone(), None);
        add_user(store, "erin", Role::Engineer, None).await?;
        let form = format!("username=erin&password={}", PASSWORD.replace(' ', "+"));
        let mut ids = Vec::new();
        for _ in 0..2 {
            let a = send(&state, "POST", "/login", None, Some(&form)).await;
            assert_eq!(a.status, StatusCode::SEE_OTHER, "{}: {}", db.name(), a.body);
            let cookie = header(&a, header::SET_COOKIE);
            let id = cookie.strip_prefix("friction_session=").and_then(|c| c.split(';').next()).unwrap_or("");
            ids.push(id.to_owned());
        }
        for id in &ids {
            assert!(id.len() >= 32 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{id:?}");
        }
        assert_ne!(ids[0], ids[1], "each login gets its own id");

        // The store keeps hashes only: no column of any session row holds a cookie value.
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id_hash, csrf_token FROM console_sessions").fetch_all(store.pool()).await?;
        assert!(rows.len() >= 2);
        for (hash, csrf) in &rows {
            for id in &ids {
                assert!(!hash.contains(id.as_str()) && csrf != id, "{}: a session id is stored as is", db.name());
            }
        }

        // One session's CSRF token does not work with another's cookie.
        let first = store.session_by_id(&ids[0]).await?.ok_or("first session")?;
        let second = store.session_by_id(&ids[1]).await?.ok_or("second session")?;
        assert_ne!(first.csrf_token, second.csrf_token);
        let form = format!("status=resolved&csrf={}", first.csrf_token);
        let a = send(&state, "POST", "/incidents/fp-a/status", Some(&ids[1]), Some(&form)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}: {}", db.name(), a.body);
        assert_eq!(store.incident("fp-a").await?.ok_or("fp-a")?.status.as_str(), "open");
        let a = send(&state, "POST", "/incidents/fp-a/status", Some(&ids[0]), Some(&form)).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "its own token works: {}", a.body);
    }
    Ok(())
}

#[tokio::test]
async fn nothing_changes_over_get() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        seed(store).await?;
        let state = ConsoleState::new(store.clone(), None);
        let (id, _) = session(store, &add_user(store, "root", Role::Admin, None).await?).await?;
        for uri in ["/logout", "/incidents/fp-a/status?status=resolved", "/users/root?action=disable"] {
            let a = send(&state, "GET", uri, Some(&id), None).await;
            assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{} {uri}: {}", db.name(), a.body);
        }
        assert!(store.session_by_id(&id).await?.ok_or("session")?.ended_at_ms.is_none(), "still logged in");
        assert_eq!(store.incident("fp-a").await?.ok_or("fp-a")?.status.as_str(), "open");
        assert!(!store.user_by_username("root").await?.ok_or("root")?.user.disabled);
    }
    Ok(())
}

#[tokio::test]
async fn another_projects_incident_is_answered_exactly_like_a_missing_one() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let (a, _) = seed(store).await?;
        let state = ConsoleState::new(store.clone(), None);
        let (id, csrf) = session(store, &add_user(store, "ann", Role::Engineer, Some(&a)).await?).await?;
        let token = store.create_console_token_for(Role::Engineer, None, Some(&a)).await?.secret;
        for (method, path, form) in [
            ("GET", "/incidents/{}", None),
            ("POST", "/incidents/{}/status", Some(format!("status=resolved&csrf={csrf}"))),
        ] {
            let other = send(&state, method, &path.replace("{}", "fp-b"), Some(&id), form.as_deref()).await;
            let missing = send(&state, method, &path.replace("{}", "fp-zz"), Some(&id), form.as_deref()).await;
            assert_eq!(other.status, StatusCode::NOT_FOUND, "{} {method} {path}", db.name());
            assert_eq!(
                (other.status, other.body.replace("fp-b", "ID")),
                (missing.status, missing.body.replace("fp-zz", "ID"))
            );
        }
        for method in ["GET", "PATCH"] {
            let call = |fp: &'static str| {
                let (state, token) = (state.clone(), token.clone());
                async move {
                    let req = Request::builder()
                        .method(method)
                        .uri(format!("/v1/incidents/{fp}"))
                        .header(header::AUTHORIZATION, format!("Bearer {token}"))
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(if method == "PATCH" { r#"{"status":"resolved"}"# } else { "" }))
                        .expect("request");
                    let resp = router(state).oneshot(req).await.expect("response");
                    let status = resp.status();
                    let body = resp.into_body().collect().await.expect("body").to_bytes();
                    (status, String::from_utf8_lossy(&body).replace(fp, "ID"))
                }
            };
            let other = call("fp-b").await;
            assert_eq!(other.0, StatusCode::NOT_FOUND, "{} {method}", db.name());
            assert_eq!(other, call("fp-zz").await, "{method}: the same answer");
        }
        assert_eq!(store.incident("fp-b").await?.ok_or("fp-b")?.status.as_str(), "open");
    }
    Ok(())
}
