//! Projects: the unit that owns keys, events and incidents.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{now_ms, random_id, Store, StoreError};

/// The longest project name.
pub const PROJECT_NAME_MAX_LEN: usize = 64;

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Project {
    /// 16 random lowercase hex characters; what events and keys refer to.
    pub id: String,
    /// The unique, human-chosen name (see [`validate_project_name`]).
    pub name: String,
    /// When it was created, epoch milliseconds.
    pub created_at_ms: i64,
}

/// Checks a project name: 1 to 64 characters, lowercase ASCII letters, digits, `_` and `-`,
/// starting with a letter or digit. Names appear in URLs, CLI arguments, topic keys and metric
/// labels, so they are kept to characters that need no quoting anywhere.
pub fn validate_project_name(name: &str) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::InvalidProjectName { name: name.to_owned(), reason };
    let Some(first) = name.chars().next() else {
        return Err(invalid("a project name must not be empty".to_owned()));
    };
    let len = name.chars().count();
    if len > PROJECT_NAME_MAX_LEN {
        return Err(invalid(format!(
            "a project name must be at most {PROJECT_NAME_MAX_LEN} characters, this one has {len}"
        )));
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(invalid(format!(
            "a project name must start with a lowercase letter or a digit (a-z, 0-9), not {first:?}"
        )));
    }
    if let Some((position, bad)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
    {
        return Err(invalid(format!(
            "a project name may contain only lowercase letters, digits, '_' and '-' \
             ([a-z0-9][a-z0-9_-]*); {bad:?} at position {} is not allowed",
            position + 1
        )));
    }
    Ok(())
}

const PROJECT_COLUMNS: &str = "id, name, created_at";

fn project_from_row(row: &AnyRow) -> Result<Project, sqlx::Error> {
    Ok(Project { id: row.try_get(0)?, name: row.try_get(1)?, created_at_ms: row.try_get(2)? })
}

impl Store {
    /// Creates a project. Fails with [`StoreError::InvalidProjectName`] when the name breaks the
    /// rule, and with [`StoreError::ProjectExists`] when the name is taken, also when another
    /// process takes it at the same moment (the UNIQUE constraint decides).
    pub async fn create_project(&self, name: &str) -> Result<Project, StoreError> {
        validate_project_name(name)?;
        let project = Project { id: random_id(), name: name.to_owned(), created_at_ms: now_ms() };
        let inserted = sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&project.id)
            .bind(&project.name)
            .bind(project.created_at_ms)
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(project),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                // Both backends report the violation, but not portably which constraint it was;
                // the name is the only one a caller can collide with (ids are 64 random bits).
                if self.project_by_name(name).await?.is_some() {
                    Err(StoreError::ProjectExists(name.to_owned()))
                } else {
                    Err(StoreError::Database(sqlx::Error::Database(db)))
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The project with this name, if any.
    pub async fn project_by_name(&self, name: &str) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query(&format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(project_from_row).transpose()?)
    }

    /// The project with this id, if any.
    pub async fn project_by_id(&self, id: &str) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query(&format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(project_from_row).transpose()?)
    }

    /// Every project, by name.
    pub async fn list_projects(&self) -> Result<Vec<Project>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {PROJECT_COLUMNS} FROM projects ORDER BY name")).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(project_from_row).collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> String {
        match validate_project_name(name) {
            Err(StoreError::InvalidProjectName { name: n, reason }) => {
                assert_eq!(n, name);
                reason
            }
            other => panic!("{name:?}: expected InvalidProjectName, got {other:?}"),
        }
    }

    #[test]
    fn accepts_valid_names() {
        for name in ["a", "0", "shop", "my-shop_2", "9lives", &"a".repeat(64)] {
            assert!(validate_project_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_invalid_names_naming_the_rule() {
        assert!(reason("").contains("empty"));
        assert!(reason(&"a".repeat(65)).contains("at most 64"));
        assert!(reason("-shop").contains("start with"));
        assert!(reason("_shop").contains("start with"));
        assert!(reason("Shop").contains("start with"));
        assert!(reason("shOp").contains("'O' at position 3"));
        assert!(reason("my shop").contains("' ' at position 3"));
        assert!(reason("café").contains("'é'"));
        assert!(reason("a/b").contains("'/'"));
    }
}
