//! The confirmation policies of the rules file (`--rules-file`, the file the detector reads for its
//! thresholds; docs/detection.md "Confirmation"). The incidents stage reads only its
//! `confirmation:` section and ignores the detector's keys:
//!
//! ```yaml
//! confirmation:
//!   default:                      # unset fields keep the flags' values
//!     min_sessions: 3
//!     window_ms: 86400000
//!     server_error: first_occurrence   # or: sessions
//!   projects:
//!     3f2a9c0d1e4b5a6f:           # unset fields keep confirmation.default's
//!       min_sessions: 5
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::model::{ConfirmationPolicy, ConfirmationRules, PolicyOverrides};

#[derive(Debug, Default, Deserialize)]
struct RulesFile {
    #[serde(default)]
    confirmation: ConfirmationSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmationSection {
    #[serde(default)]
    default: PolicyOverrides,
    #[serde(default)]
    projects: BTreeMap<String, PolicyOverrides>,
}

/// Why the rules file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesFileError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {scope}: {message}")]
    Invalid { path: String, scope: String, message: String },
}

fn check(policy: &ConfirmationPolicy, path: &str, scope: &str) -> Result<(), RulesFileError> {
    let invalid =
        |message: &str| RulesFileError::Invalid { path: path.into(), scope: scope.into(), message: message.into() };
    if policy.min_sessions == 0 {
        return Err(invalid("min_sessions must be at least 1"));
    }
    if policy.window_ms <= 0 {
        return Err(invalid("window_ms must be positive"));
    }
    Ok(())
}

/// The confirmation rules of a rules file's text (YAML; JSON is YAML too) over `base`, the default
/// policy the flags give.
pub fn parse_confirmation(
    text: &str,
    path: &str,
    base: &ConfirmationPolicy,
) -> Result<ConfirmationRules, RulesFileError> {
    let file: RulesFile = serde_norway::from_str(text)
        .map_err(|e| RulesFileError::Parse { path: path.into(), message: e.to_string() })?;
    let default = file.confirmation.default.over(base);
    check(&default, path, "confirmation.default")?;
    let mut projects = std::collections::HashMap::new();
    for (project, overrides) in file.confirmation.projects {
        let policy = overrides.over(&default);
        check(&policy, path, &format!("confirmation.projects.{project}"))?;
        projects.insert(project, policy);
    }
    Ok(ConfirmationRules { default, projects })
}

/// [`parse_confirmation`] of the file at `path`; `base` alone without one.
pub fn load_confirmation(path: Option<&Path>, base: &ConfirmationPolicy) -> Result<ConfirmationRules, RulesFileError> {
    match path {
        None => Ok(ConfirmationRules { default: *base, projects: Default::default() }),
        Some(p) => {
            let display = p.display().to_string();
            let text =
                std::fs::read_to_string(p).map_err(|source| RulesFileError::Read { path: display.clone(), source })?;
            parse_confirmation(&text, &display, base)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerErrorConfirmation;

    #[test]
    fn the_confirmation_section_is_read_and_the_detectors_keys_ignored() {
        let text = "default:\n  dead_window_ms: 7000\nprojects:\n  p1:\n    rage_min_clicks: 4\n\
                    confirmation:\n  default:\n    min_sessions: 2\n  projects:\n    p1:\n      server_error: sessions\n";
        let base = ConfirmationPolicy::default();
        let rules = parse_confirmation(text, "rules.yaml", &base).expect("parses");
        assert_eq!(rules.default, ConfirmationPolicy { min_sessions: 2, ..base });
        assert_eq!(
            *rules.for_project("p1"),
            ConfirmationPolicy { min_sessions: 2, server_error: ServerErrorConfirmation::Sessions, ..base }
        );
        assert_eq!(*rules.for_project("other"), rules.default);
        // A file without the section: the flags' policy.
        assert_eq!(parse_confirmation("default: {}\n", "r", &base).expect("parses").default, base);
    }

    #[test]
    fn unknown_or_invalid_confirmation_settings_are_refused() {
        let base = ConfirmationPolicy::default();
        let unknown = parse_confirmation("confirmation:\n  default:\n    min_session: 2\n", "r", &base);
        assert!(matches!(unknown, Err(RulesFileError::Parse { .. })), "{unknown:?}");
        let zero = parse_confirmation("confirmation:\n  projects:\n    p:\n      min_sessions: 0\n", "r", &base);
        assert!(matches!(zero, Err(RulesFileError::Invalid { ref scope, .. }) if scope == "confirmation.projects.p"));
        let level = parse_confirmation("confirmation:\n  default:\n    server_error: always\n", "r", &base);
        assert!(level.is_err());
    }
}
