//! The kinds a signal record may carry (`friction_schemas::signal::KINDS`, which the incidents
//! stage validates against and the exporter explains) are exactly the rules' issue kinds, so a kind
//! added to the rules cannot be dead-lettered downstream or fall back to a generic ticket text.

use friction_rules::SignalKind;

#[test]
fn schema_kinds_are_the_rules_issue_kinds() {
    let rules: Vec<&str> = SignalKind::ALL.iter().filter(|k| k.is_issue_kind()).map(|k| k.as_str()).collect();
    assert_eq!(rules, friction_schemas::signal::KINDS);
}
