//! `GET /analytics?project=&days=`: charts drawn on the server as inline SVG from the API's
//! analytics queries (`/v1/analytics/frustration-rate`, `/v1/analytics/top-elements`): the
//! frustration rate per day, by route, the top elements and their kinds. Without ClickHouse the
//! page says that `CLICKHOUSE_URL` is not set (docs/console.md "Pages").

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use friction_store::Role;
use maud::{html, Markup};

use super::{error_page, layout, page, PageCaller};
use crate::{ApiError, ConsoleState};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const WIDTH: f64 = 640.0;
const LABEL: f64 = 240.0;
const ROW: f64 = 24.0;

/// One bar: its label, its value (for the length) and the text shown after it.
struct Bar {
    label: String,
    value: f64,
    text: String,
}

/// A horizontal bar chart as inline SVG, with a text alternative (a table) for screen readers.
fn bars(id: &str, title: &str, rows: &[Bar]) -> Markup {
    let max = rows.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let height = ROW * rows.len() as f64 + 4.0;
    let span = WIDTH - LABEL - 90.0;
    html! {
        figure.chart id=(id) {
            figcaption { (title) }
            @if rows.is_empty() { p.muted { "No data in this period." } } @else {
                svg xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(height) viewBox={ "0 0 " (WIDTH) " " (height) }
                    role="img" aria-label=(title) {
                    title { (title) }
                    @for (n, b) in rows.iter().enumerate() {
                        @let y = ROW * n as f64 + 2.0;
                        @let w = if max > 0.0 { (b.value / max * span).max(1.0) } else { 1.0 };
                        g data-label=(b.label) data-value=(b.value) {
                            text x=(LABEL - 6.0) y=(y + 16.0) text-anchor="end" font-size="12" fill="currentColor" { (b.label) }
                            rect x=(LABEL) y=(y + 3.0) width=(w) height=(ROW - 6.0) fill="#c2410c" {}
                            text x=(LABEL + w + 6.0) y=(y + 16.0) font-size="12" fill="currentColor" { (b.text) }
                        }
                    }
                }
                table.sr-only {
                    caption { (title) }
                    tbody { @for b in rows { tr { th scope="row" { (b.label) } td { (b.text) } } } }
                }
            }
        }
    }
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

/// `GET /analytics`
pub async fn show(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = super::require_page(&caller, Role::Viewer, "reading analytics") {
        return r;
    }
    let projects: Vec<(String, String)> = match state.store.list_projects().await {
        Ok(p) => p.into_iter().filter(|p| caller.may_see(&p.id)).map(|p| (p.id, p.name)).collect(),
        Err(e) => return error_page(Some(&caller), e.into()),
    };
    let asked = q.get("project").map(|p| p.trim()).filter(|p| !p.is_empty());
    let project = asked.map(str::to_owned).or_else(|| projects.first().map(|(id, _)| id.clone()));
    let days: i64 = q.get("days").and_then(|d| d.trim().parse().ok()).filter(|d| (1..=90).contains(d)).unwrap_or(7);
    let now = friction_runtime::now_ms();
    let charts = match (&state.clickhouse, &project) {
        (None, _) => html! {
            p.notice id="analytics-not-configured" role="status" {
                "Analytics need ClickHouse: " code { "CLICKHOUSE_URL" } " is not set, so there are no charts. Set it (docs/analytics.md) and restart the console."
            }
        },
        (_, None) => html! { p.muted { "No projects yet." } },
        (Some(_), Some(project)) => charts(&state, &caller, project, now - days * DAY_MS, now).await,
    };
    let body = html! {
        h1 { "Analytics" }
        form.filters id="analytics-filters" method="get" action="/analytics" data-autosubmit {
            label { "Project"
                select name="project" {
                    @for (id, name) in &projects { option value=(id) selected[project.as_deref() == Some(id.as_str())] { (name) } }
                }
            }
            label { "Period"
                select name="days" {
                    @for d in [1, 7, 30, 90] { option value=(d) selected[d == days] { "last " (d) @if d == 1 { " day" } @else { " days" } } }
                }
            }
            button type="submit" { "Show" }
        }
        (charts)
    };
    page(StatusCode::OK, layout("Analytics", Some(&caller), body))
}

/// The charts of one project over `[from, to)`, or the queries' error.
async fn charts(state: &ConsoleState, caller: &crate::Caller, project: &str, from: i64, to: i64) -> Markup {
    let params = |extra: &[(&str, &str)]| {
        let mut p: HashMap<String, String> =
            [("project", project.to_owned()), ("from", from.to_string()), ("to", to.to_string())]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        p.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Query(p)
    };
    let s = || State(state.clone());
    let rate = crate::analytics::frustration_rate(s(), caller.clone(), params(&[("bucket", "day")])).await;
    let top = crate::analytics::top_elements(s(), caller.clone(), params(&[("limit", "15")])).await;
    let (rate, top) = match (rate, top) {
        (Ok(Json(r)), Ok(Json(t))) => (r.points, t.points),
        (Err(e), _) | (_, Err(e)) => {
            let e: ApiError = e;
            return html! { p.error role="alert" id="analytics-error" { (e.to_string()) } };
        }
    };
    // Per day and per route: frustrated sessions over sessions, summed over the other axis.
    let mut per_day: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    let mut per_route: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for p in &rate {
        let d = per_day.entry(p.bucket_start).or_default();
        d.0 += p.frustrated_sessions;
        d.1 += p.sessions;
        let r = per_route.entry(p.route.clone()).or_default();
        r.0 += p.frustrated_sessions;
        r.1 += p.sessions;
    }
    let ratio = |(f, s): (u64, u64)| if s == 0 { 0.0 } else { f as f64 / s as f64 };
    let day_bars: Vec<Bar> = per_day
        .into_iter()
        .map(|(day, c)| Bar {
            label: super::when(day).get(..10).unwrap_or_default().to_owned(),
            value: ratio(c),
            text: format!("{} ({} of {} sessions)", percent(ratio(c)), c.0, c.1),
        })
        .collect();
    let mut route_bars: Vec<Bar> = per_route
        .into_iter()
        .map(|(route, c)| Bar {
            label: route,
            value: ratio(c),
            text: format!("{} of {} sessions", percent(ratio(c)), c.1),
        })
        .collect();
    route_bars.sort_by(|a, b| b.value.total_cmp(&a.value));
    route_bars.truncate(15);
    let mut per_kind: BTreeMap<String, u64> = BTreeMap::new();
    for e in &top {
        for k in &e.kinds {
            *per_kind.entry(k.replace('_', " ")).or_default() += e.signals;
        }
    }
    let element_bars: Vec<Bar> = top
        .iter()
        .map(|e| Bar {
            label: format!("{} {}", e.route_template, e.element_key),
            value: e.signals as f64,
            text: format!("{} signals, {} users", e.signals, e.affected_users),
        })
        .collect();
    let mut kind_bars: Vec<Bar> =
        per_kind.into_iter().map(|(k, n)| Bar { label: k, value: n as f64, text: format!("{n} signals") }).collect();
    kind_bars.sort_by(|a, b| b.value.total_cmp(&a.value));
    html! {
        (bars("chart-rate-per-day", "Frustration rate per day (sessions with a frustration signal)", &day_bars))
        (bars("chart-rate-by-route", "Frustration rate by route", &route_bars))
        (bars("chart-top-elements", "Top elements by frustration signals", &element_bars))
        (bars("chart-kinds", "Signals of the top elements, by kind", &kind_bars))
    }
}
