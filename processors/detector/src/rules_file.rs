//! Rule thresholds per project, from a YAML or JSON file:
//!
//! ```yaml
//! default:            # any RuleConfig field; unset fields keep their documented defaults
//!   dead_window_ms: 7000
//! projects:
//!   3f2a9c0d1e4b5a6f: # project id
//!     rage_min_clicks: 4
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use friction_rules::{RuleConfig, Rules};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    default: Option<RuleConfig>,
    #[serde(default)]
    projects: BTreeMap<String, RuleConfig>,
    /// The incidents stage's confirmation policies (docs/detection.md "Confirmation"): not the detector's.
    #[serde(default, rename = "confirmation")]
    _confirmation: Option<serde::de::IgnoredAny>,
}

/// The rules in effect for each project.
#[derive(Default)]
pub struct RulesByProject {
    default: Rules,
    projects: HashMap<String, Rules>,
}

impl RulesByProject {
    pub fn for_project(&self, project_id: &str) -> &Rules {
        self.projects.get(project_id).unwrap_or(&self.default)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RulesFileError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {scope}: {source}")]
    Invalid { path: String, scope: String, source: friction_rules::ConfigError },
}

/// Parses a rules file's text (YAML; JSON is YAML too).
pub fn parse_rules(text: &str, path: &str) -> Result<RulesByProject, RulesFileError> {
    let file: RulesFile = serde_norway::from_str(text)
        .map_err(|e| RulesFileError::Parse { path: path.into(), message: e.to_string() })?;
    let default_cfg = file.default.unwrap_or_default();
    let default = Rules::new(default_cfg).map_err(|source| RulesFileError::Invalid {
        path: path.into(),
        scope: "default".into(),
        source,
    })?;
    let mut projects = HashMap::new();
    for (project, cfg) in file.projects {
        let rules = Rules::new(cfg).map_err(|source| RulesFileError::Invalid {
            path: path.into(),
            scope: format!("projects.{project}"),
            source,
        })?;
        projects.insert(project, rules);
    }
    Ok(RulesByProject { default, projects })
}

pub fn load_rules(path: Option<&Path>) -> Result<RulesByProject, RulesFileError> {
    match path {
        None => Ok(RulesByProject::default()),
        Some(p) => {
            let display = p.display().to_string();
            let text =
                std::fs::read_to_string(p).map_err(|source| RulesFileError::Read { path: display.clone(), source })?;
            parse_rules(&text, &display)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let err =
            parse_rules("default:\n  rage_minimum: 3\n", "r.yaml").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("rage_minimum"), "{err}");
        assert!(parse_rules("projects:\n  p1: {}\n", "r.yaml").is_ok());
        assert!(parse_rules("{}", "r.yaml").is_ok());
        // The incidents stage's section is left to it.
        assert!(parse_rules("confirmation:\n  default: {min_sessions: 2}\n", "r.yaml").is_ok());
        let bad = parse_rules("projects:\n  p1: {rage_min_clicks: 0}\n", "r.yaml").err().map(|e| e.to_string());
        assert!(bad.as_deref().is_some_and(|e| e.contains("projects.p1")), "{bad:?}");
    }

    /// The example in this module's doc is a file the stage accepts (it named a field that does
    /// not exist, which the stage refuses at start).
    #[test]
    fn the_documented_example_parses() {
        let source = include_str!("rules_file.rs");
        let example: String = source
            .lines()
            .skip_while(|l| !l.starts_with("//! ```yaml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").strip_prefix(' ').unwrap_or("")))
            .collect();
        assert!(example.contains("projects:"), "{example}");
        let rules = parse_rules(&example, "example.yaml").map_err(|e| e.to_string());
        let rules = rules.as_ref().expect("the example parses");
        assert_eq!(rules.for_project("3f2a9c0d1e4b5a6f").config().rage_min_clicks, 4);
        assert_eq!(rules.for_project("other").config().dead_window_ms, 7000);
    }
}
