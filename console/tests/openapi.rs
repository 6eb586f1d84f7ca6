//! `/v1/openapi.json` is OpenAPI 3.1 and describes exactly the API the router serves: every
//! documented operation is served (no 404 from the fallback, no 405), no documented path answers
//! a method the document does not list, every annotated handler is in the document, and no
//! `/v1` route is added to the router outside the documented set (console/src/openapi.rs).

mod common;

use axum::http::StatusCode;
use common::call;
use friction_console::ConsoleState;
use friction_store::testing::migrated_dbs;
use friction_store::Role;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// `/v1/keys/{id}/revoke` with every `{param}` replaced by `x`.
fn concrete(path: &str) -> String {
    path.split('/').map(|s| if s.starts_with('{') && s.ends_with('}') { "x" } else { s }).collect::<Vec<_>>().join("/")
}

#[tokio::test]
async fn the_document_and_the_router_agree() -> TestResult {
    let dbs = migrated_dbs().await?;
    let store = &dbs[0].store;
    store.create_project("x").await?;
    let admin = store.create_console_token(Role::Admin, None).await?.secret;
    let state = ConsoleState::new(store.clone(), None);

    let (status, doc) = call(&state, "GET", "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK, "served without a token: {doc}");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object(), "bearer auth is described");
    let paths = doc["paths"].as_object().ok_or("paths")?;
    assert!(paths.len() >= 15, "{:?}", paths.keys());

    let mut operations = 0;
    for (path, item) in paths {
        assert!(path.starts_with("/v1/"), "{path}");
        let uri = concrete(path);
        for method in METHODS {
            let documented = item.get(method.to_ascii_lowercase()).is_some();
            let (status, body) = call(&state, method, &uri, Some(&admin), Some("{}")).await;
            let fallback = body["error"]["message"].as_str().is_some_and(|m| m.contains("no such endpoint"));
            if documented {
                operations += 1;
                let op = &item[method.to_ascii_lowercase()];
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}: responses");
                assert!(
                    status != StatusCode::METHOD_NOT_ALLOWED && !fallback,
                    "{method} {path} is documented but not served: {status} {body}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented: {body}"
                );
            }
        }
    }

    // Every annotated handler is routed (and so documented), and the router has no other /v1 route.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut annotated = 0;
    for entry in std::fs::read_dir(&src)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)?;
            annotated += text.matches("#[utoipa::path(").count();
            let squeezed: String = text.split_whitespace().collect();
            for bad in [".route(\"/v1", ".nest(\"/v1", ".route_service(\"/v1"] {
                assert!(!squeezed.contains(bad), "{}: a /v1 route outside openapi::api_router ({bad})", path.display());
            }
        }
    }
    assert_eq!(annotated, operations, "every #[utoipa::path] handler is in the document, once");

    // An unknown path is the fallback's JSON 404.
    let (status, body) = call(&state, "GET", "/v1/nothing", Some(&admin), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    Ok(())
}
