//! Per-project rule documents the console saves (docs/console.md, `/v1/rules`): a JSON object of
//! detection rule fields, validated by the console with the detector's own parser before it is
//! stored. The store keeps the text as given; it does not interpret it.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{now_ms, Store, StoreError};

/// A project's saved rule document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRules {
    pub project_id: String,
    /// The JSON object, as saved.
    pub rules_json: String,
    pub updated_at_ms: i64,
    /// The audit actor who saved it (`token:<id>`, `cli`).
    pub updated_by: String,
}

fn rules_from_row(row: &AnyRow) -> Result<ProjectRules, sqlx::Error> {
    Ok(ProjectRules {
        project_id: row.try_get(0)?,
        rules_json: row.try_get(1)?,
        updated_at_ms: row.try_get(2)?,
        updated_by: row.try_get(3)?,
    })
}

impl Store {
    /// The rule document saved for a project, if any.
    pub async fn project_rules(&self, project_id: &str) -> Result<Option<ProjectRules>, StoreError> {
        let row =
            sqlx::query("SELECT project_id, rules, updated_at, updated_by FROM project_rules WHERE project_id = $1")
                .bind(project_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.as_ref().map(rules_from_row).transpose()?)
    }

    /// Saves (replaces) a project's rule document; the caller has validated it.
    pub async fn set_project_rules(
        &self,
        project_id: &str,
        rules_json: &str,
        actor: &str,
    ) -> Result<ProjectRules, StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO project_rules (project_id, rules, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (project_id) DO UPDATE SET rules = $2, updated_at = $3, updated_by = $4",
        )
        .bind(project_id)
        .bind(rules_json)
        .bind(now)
        .bind(actor)
        .execute(&self.pool)
        .await?;
        Ok(ProjectRules {
            project_id: project_id.to_owned(),
            rules_json: rules_json.to_owned(),
            updated_at_ms: now,
            updated_by: actor.to_owned(),
        })
    }
}
