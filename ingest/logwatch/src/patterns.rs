//! Pattern rules (docs/operators.md "Tailing log files"): a regex over a record's message names it
//! (`MISSING_PRICE`), may set its level, and adds the named groups it captured as attributes. The
//! name travels as the `pattern` attribute, which the detector puts in the incident's grouping key.
//!
//! ```yaml
//! patterns:
//!   - name: MISSING_PRICE
//!     regex: 'MISSING_PRICE.*product[ =#]*(?P<product>\d+)'
//!     level: error          # optional
//!     services: [pos]       # optional: only these services
//! ```

use std::path::Path;

use regex::{Regex, RegexSet};
use serde::Deserialize;

use crate::parse::Level;

/// The attribute carrying the matched rule's name (read by the detector's server_error rule).
pub const PATTERN_ATTRIBUTE: &str = "pattern";
/// Longest captured value kept.
const MAX_CAPTURE_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Yaml { path: String, source: serde_norway::Error },
    #[error("pattern {name:?}: {message}")]
    Invalid { name: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    patterns: Vec<RuleSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: String,
    regex: String,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    services: Vec<String>,
}

#[derive(Debug)]
struct Rule {
    name: String,
    regex: Regex,
    level: Option<Level>,
    services: Vec<String>,
}

/// The compiled rules; the first that matches a record wins.
#[derive(Debug, Default)]
pub struct Patterns {
    set: Option<RegexSet>,
    rules: Vec<Rule>,
}

/// What a rule adds to a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched {
    pub name: String,
    pub level: Option<Level>,
    /// Named groups that matched: (group, text).
    pub captures: Vec<(String, String)>,
}

impl Patterns {
    /// Loads rules from a YAML file.
    pub fn load(path: &Path) -> Result<Self, PatternError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| PatternError::Read { path: shown.clone(), source })?;
        Self::parse(&text).map_err(|e| match e {
            PatternError::Yaml { source, .. } => PatternError::Yaml { path: shown, source },
            other => other,
        })
    }

    /// Parses rules from YAML text.
    pub fn parse(yaml: &str) -> Result<Self, PatternError> {
        let spec: FileSpec =
            serde_norway::from_str(yaml).map_err(|source| PatternError::Yaml { path: String::new(), source })?;
        let mut rules = Vec::with_capacity(spec.patterns.len());
        for r in spec.patterns {
            let invalid = |message: String| PatternError::Invalid { name: r.name.clone(), message };
            let plain = (1..=128).contains(&r.name.len())
                && r.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !plain {
                return Err(invalid("a name is 1 to 128 letters, digits, '_', '-' or '.'".into()));
            }
            let regex = Regex::new(&r.regex).map_err(|e| invalid(e.to_string()))?;
            let level = match r.level.as_deref() {
                None => None,
                Some(l) => Some(Level::from_name(l).ok_or_else(|| invalid(format!("unknown level {l:?}")))?),
            };
            rules.push(Rule { name: r.name, regex, level, services: r.services });
        }
        let set = if rules.is_empty() {
            None
        } else {
            Some(
                RegexSet::new(rules.iter().map(|r| r.regex.as_str()))
                    .map_err(|e| PatternError::Invalid { name: "(all)".into(), message: e.to_string() })?,
            )
        };
        Ok(Patterns { set, rules })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule (in file order) that applies to `service` and matches `message`.
    pub fn apply(&self, service: &str, message: &str) -> Option<Matched> {
        let set = self.set.as_ref()?;
        let hits = set.matches(message);
        let rule = hits
            .iter()
            .filter_map(|i| self.rules.get(i))
            .find(|r| r.services.is_empty() || r.services.iter().any(|s| s == service))?;
        let caps = rule.regex.captures(message)?;
        let captures = rule
            .regex
            .capture_names()
            .flatten()
            .filter_map(|name| {
                let m = caps.name(name)?;
                let mut value = m.as_str();
                if value.len() > MAX_CAPTURE_BYTES {
                    let mut cut = MAX_CAPTURE_BYTES;
                    while !value.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    value = value.get(..cut).unwrap_or("");
                }
                Some((name.to_string(), value.to_string()))
            })
            .collect();
        Some(Matched { name: rule.name.clone(), level: rule.level, captures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
patterns:
  - name: MISSING_PRICE
    regex: 'MISSING_PRICE.*product[ =#]*(?P<product>\d+)(.*order[ =#]*(?P<order>\w+))?'
    level: error
  - name: SLOW
    regex: 'took (?P<ms>\d+)ms'
    services: [api]
"#;

    #[test]
    fn the_first_matching_rule_names_the_record_and_captures_groups() {
        let p = Patterns::parse(RULES).expect("rules");
        assert_eq!(p.len(), 2);
        let m = p.apply("pos", "WARN MISSING_PRICE product=999 order=A17").expect("match");
        assert_eq!(m.name, "MISSING_PRICE");
        assert_eq!(m.level, Some(Level::Error));
        assert_eq!(m.captures, vec![("product".into(), "999".into()), ("order".into(), "A17".into())]);
        let m = p.apply("pos", "MISSING_PRICE for product #1000").expect("match");
        assert_eq!(m.captures, vec![("product".into(), "1000".into())]);
        assert_eq!(p.apply("pos", "took 12ms"), None, "SLOW is for api only");
        assert_eq!(p.apply("api", "took 12ms").map(|m| m.name), Some("SLOW".into()));
        assert_eq!(p.apply("api", "all good"), None);
    }

    #[test]
    fn bad_rules_are_refused_by_name() {
        let e = Patterns::parse("patterns:\n  - name: X\n    regex: '('\n").expect_err("bad regex");
        assert!(e.to_string().contains("\"X\""), "{e}");
        assert!(Patterns::parse("patterns:\n  - name: 'two words'\n    regex: x\n").is_err());
        assert!(Patterns::parse("patterns:\n  - name: X\n    regex: x\n    level: loud\n").is_err());
        assert!(Patterns::parse("patterns:\n  - name: X\n    regex: x\n    colour: red\n").is_err());
        assert!(Patterns::parse("").map(|p| p.is_empty()).unwrap_or(false) || Patterns::parse("patterns: []").is_ok());
    }
}
