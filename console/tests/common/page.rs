//! Requests as a browser makes them (docs/console.md "Pages"): a session cookie, urlencoded
//! forms, the answer as status, headers and text; logging in users made in the store.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Request, StatusCode};
use friction_console::{router, ConsoleState};
use friction_store::{Role, Store};
use http_body_util::BodyExt;
use tower::ServiceExt;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub const PASSWORD: &str = "a long enough password";

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Response {
    pub fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn set_cookie(&self) -> &str {
        self.headers.get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The session id the response's `Set-Cookie` carries.
    pub fn session_id(&self) -> Option<String> {
        let c = self.set_cookie();
        let value = c.strip_prefix("friction_session=")?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_owned())
    }
}

/// One request from `peer`; `cookie` is a session id; `form` is sent urlencoded.
pub async fn send_from(
    state: &ConsoleState,
    peer: &str,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    extra: &[(&str, &str)],
) -> Response {
    let mut req = Request::builder().method(method).uri(uri).header(header::HOST, "console.test");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("other=1; friction_session={c}"));
    }
    if form.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::from(form.unwrap_or("").to_owned())).expect("request");
    let addr: SocketAddr = peer.parse().expect("peer address");
    req.extensions_mut().insert(ConnectInfo(addr));
    let resp = router(state.clone()).oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Response { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

pub async fn send(
    state: &ConsoleState,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    extra: &[(&str, &str)],
) -> Response {
    send_from(state, "192.0.2.10:5000", method, uri, cookie, form, extra).await
}

/// Percent-encodes a form value.
pub fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn add_user(store: &Store, name: &str, role: Role, project: Option<&str>) -> TestResult {
    let hash = friction_console::password::hash(PASSWORD).await?;
    store.create_user(name, &hash, role, project).await?;
    Ok(())
}

/// Logs in and returns the session id.
pub async fn login(state: &ConsoleState, name: &str) -> Result<String, String> {
    let form = format!("username={}&password={}", enc(name), enc(PASSWORD));
    let r = send(state, "POST", "/login", None, Some(&form), &[]).await;
    if r.status != StatusCode::SEE_OTHER {
        return Err(format!("login of {name}: {} {}", r.status, r.body));
    }
    r.session_id().ok_or_else(|| format!("no session cookie: {:?}", r.headers))
}

pub async fn csrf_of(store: &Store, session: &str) -> Result<String, String> {
    Ok(store.session_by_id(session).await.map_err(|e| e.to_string())?.ok_or("no session")?.csrf_token)
}
