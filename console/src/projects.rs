//! `GET /v1/projects`, `POST /v1/projects` (admin), `GET /v1/projects/{project}`: the projects a
//! caller may see ([`Caller::may_see`]); and the helpers other resources use to resolve a
//! `project` given as an id or a name, refusing one the caller may not see as if it did not exist.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use friction_store::{Project, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::body::rfc3339;
use crate::{audit, body, ApiError, ConsoleState};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        let Project { id, name, created_at_ms } = p;
        ProjectView { id, name, created_at: rfc3339(created_at_ms) }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// Lowercase letters, digits, `-` and `_`, starting with a letter or digit; at most 64.
    pub name: String,
}

fn not_found(project: &str) -> ApiError {
    ApiError::NotFound(format!("project {project:?} not found (give its id or name)"))
}

/// The project `project` names (an id or a name), if the caller may see it; 404 otherwise.
pub(crate) async fn resolve(state: &ConsoleState, caller: &Caller, project: &str) -> Result<Project, ApiError> {
    let found = match state.store.project_by_id(project).await? {
        Some(p) => Some(p),
        None => state.store.project_by_name(project).await?,
    };
    match found {
        Some(p) if caller.may_see(&p.id) => Ok(p),
        _ => Err(not_found(project)),
    }
}

/// `GET /v1/projects`: the projects the caller may see, by name.
#[utoipa::path(get, path = "/v1/projects", tag = "projects",
    responses((status = 200, body = ProjectList), (status = 401)))]
pub async fn list(State(state): State<ConsoleState>, caller: Caller) -> Result<Json<ProjectList>, ApiError> {
    caller.require(Role::Viewer, "listing projects")?;
    let projects = state.store.list_projects().await?;
    Ok(Json(ProjectList {
        projects: projects.into_iter().filter(|p| caller.may_see(&p.id)).map(ProjectView::from).collect(),
    }))
}

/// `POST /v1/projects` with `{"name"}` (admin): 201 and the project.
#[utoipa::path(post, path = "/v1/projects", tag = "projects", request_body = NewProject,
    responses((status = 201, body = ProjectView), (status = 400), (status = 401), (status = 403), (status = 409)))]
pub async fn create(
    State(state): State<ConsoleState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    audit::require_global(&state, &caller, Role::Admin, "creating a project", "project.create", "project:*").await?;
    let new: NewProject = match body::json(&body, r#"{"name": "shop"}"#) {
        Ok(new) => new,
        Err(e) => return audit::outcome(&state, &caller, "project.create", "project:*", None, Err(e)).await,
    };
    let result = state.store.create_project(new.name.trim()).await.map_err(ApiError::from);
    let resource = match &result {
        Ok(p) => format!("project:{}", p.id),
        Err(_) => format!("project:{}", new.name.trim()),
    };
    let detail = format!("name {}", new.name.trim());
    let project = audit::outcome(&state, &caller, "project.create", &resource, Some(&detail), result).await?;
    Ok((StatusCode::CREATED, Json(ProjectView::from(project))))
}

/// `GET /v1/projects/{project}`: one project, by id or name.
#[utoipa::path(get, path = "/v1/projects/{project}", tag = "projects",
    params(("project" = String, Path, description = "id or name")),
    responses((status = 200, body = ProjectView), (status = 401), (status = 404)))]
pub async fn get(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<ProjectView>, ApiError> {
    caller.require(Role::Viewer, "reading a project")?;
    Ok(Json(ProjectView::from(resolve(&state, &caller, &project).await?)))
}
