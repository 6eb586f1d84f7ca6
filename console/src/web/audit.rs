//! `GET /audit` (admins): the audit log, newest first, filtered by actor, action, resource and
//! outcome, a page at a time — the API's `GET /v1/audit` query (docs/console.md "Audit log").

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use friction_store::Role;
use maud::html;

use super::{encode_query, error_page, layout, page, PageCaller};
use crate::{ApiError, ConsoleState};

/// The filters the page carries in its query string (the API's parameters).
const FILTERS: &[&str] = &["actor", "action", "resource", "outcome", "cursor"];
const PAGE_SIZE: &str = "50";

/// `GET /audit?actor=&action=&resource=&outcome=&cursor=`
pub async fn list(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = super::require_page(&caller, Role::Admin, "reading the audit log") {
        return r;
    }
    let mut params: HashMap<String, String> =
        params.into_iter().filter(|(k, v)| FILTERS.contains(&k.as_str()) && !v.trim().is_empty()).collect();
    let value = |k: &str| params.get(k).cloned().unwrap_or_default();
    let filters: Vec<(&str, String)> = FILTERS.iter().filter(|k| **k != "cursor").map(|k| (*k, value(k))).collect();
    params.insert("limit".into(), PAGE_SIZE.into());
    let (entries, next_cursor, error) =
        match crate::audit::list(State(state.clone()), caller.clone(), Query(params)).await {
            Ok(Json(p)) => (p.entries, p.next_cursor, None),
            Err(e @ ApiError::BadRequest(_)) => (Vec::new(), None, Some(e.to_string())),
            Err(e) => return error_page(Some(&caller), e),
        };
    let next_link = next_cursor.map(|cursor| {
        let mut q: Vec<String> =
            filters.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode_query(v))).collect();
        q.push(format!("cursor={}", encode_query(&cursor)));
        format!("/audit?{}", q.join("&"))
    });
    let body = html! {
        h1 { "Audit log" }
        form.filters id="audit-filters" method="get" action="/audit" {
            @for (k, v) in &filters {
                @if *k == "outcome" {
                    label { "Outcome"
                        select name="outcome" {
                            option value="" { "any" }
                            option value="success" selected[v == "success"] { "success" }
                            option value="failure" selected[v == "failure"] { "failure" }
                        }
                    }
                } @else {
                    label { (k[..1].to_uppercase()) (k[1..]) input type="text" name=(k) value=(v); }
                }
            }
            button type="submit" { "Filter" }
        }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        @if entries.is_empty() && error.is_none() { p.muted { "No entries match." } }
        @if !entries.is_empty() {
            table id="audit-table" {
                thead { tr {
                    th scope="col" { "Time" } th scope="col" { "Actor" } th scope="col" { "Action" } th scope="col" { "Resource" }
                    th scope="col" { "Outcome" } th scope="col" { "Address" } th scope="col" { "Detail" }
                } }
                tbody {
                    @for e in &entries {
                        tr data-audit-id=(e.id) data-action=(e.action) data-outcome=(e.outcome) {
                            td { (e.at) } td { (e.actor) } td { code { (e.action) } } td { (e.resource) }
                            td { span class={ "badge outcome-" (e.outcome) } { (e.outcome) } }
                            td { (e.ip.as_deref().unwrap_or("")) } td { (e.detail.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        @if let Some(link) = &next_link {
            nav.pages aria-label="Pages" { a id="audit-next" href=(link) rel="next" { "Older entries →" } }
        }
    };
    page(StatusCode::OK, layout("Audit log", Some(&caller), body))
}
