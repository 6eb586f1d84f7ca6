//! Fixtures for the tests that run against the real services `scripts/services.sh` starts (tansu,
//! PostgreSQL, ClickHouse): where each one is, names no other test run uses, and what a test does
//! when a service is missing.
//!
//! A service's address comes from its variable ([`BROKERS_ENV`], [`POSTGRES_ENV`],
//! [`CLICKHOUSE_ENV`]; `source .services/env` sets them all). A test that can do without it skips
//! (prints `SKIPPED` and returns) when the variable is unset, unless [`REQUIRE_ENV`] is `1`
//! (scripts/test.sh sets it): then a missing service fails the test, naming the variable, so a
//! run that meant to test against the services cannot pass without them.
//!
//! The broker fixtures are in [`kafka`] (feature `kafka`), the ClickHouse ones in [`clickhouse`]
//! (feature `clickhouse`); the PostgreSQL schema per test is `friction_store::testing`'s, which
//! reads its address through [`postgres_url`]. The fake ticket systems (Jira, Linear, GitHub, a
//! webhook receiver) are in [`fakes`] (feature `fakes`), and ingest bodies a user's SDK would post
//! in [`payloads`] (same feature).

#[cfg(feature = "clickhouse")]
pub mod clickhouse;
#[cfg(feature = "fakes")]
pub mod fakes;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "fakes")]
pub mod payloads;

use std::process::Child;

/// The broker (tansu) the tests use: `host:port`.
pub const BROKERS_ENV: &str = "FRICTION_TEST_BROKERS";
/// The PostgreSQL server the tests use (a URL; each test makes a schema of its own in it).
pub const POSTGRES_ENV: &str = "FRICTION_TEST_POSTGRES_URL";
/// The ClickHouse HTTP endpoint the tests use (each test makes a database of its own in it).
pub const CLICKHOUSE_ENV: &str = "FRICTION_TEST_CLICKHOUSE_URL";
/// `1`: a missing service fails the test instead of skipping it.
pub const REQUIRE_ENV: &str = "FRICTION_REQUIRE_SERVICES";

/// True when [`REQUIRE_ENV`] is `1`.
pub fn services_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v.trim() == "1")
}

/// The value of the service variable `var`; unset or empty: `None` after printing that `what` is
/// skipped, or a panic naming `var` when services are required ([`services_required`]).
pub fn service(var: &str, what: &str) -> Option<String> {
    resolve(var, std::env::var(var).ok(), services_required(), what)
}

/// [`service`] with the variable's value and the requirement passed in.
fn resolve(var: &str, value: Option<String>, required: bool, what: &str) -> Option<String> {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        return Some(value);
    }
    let start = match var {
        BROKERS_ENV => "scripts/services.sh start tansu",
        POSTGRES_ENV => "scripts/services.sh start postgres",
        CLICKHOUSE_ENV => "scripts/services.sh start clickhouse",
        _ => "scripts/services.sh start",
    };
    if required {
        panic!("{var} is not set and {REQUIRE_ENV}=1: {what} needs it ({start} && source .services/env)");
    }
    eprintln!("SKIPPED {what}: {var} is not set ({start} && source .services/env)");
    None
}

/// [`POSTGRES_ENV`] through [`service`].
pub fn postgres_url(what: &str) -> Option<String> {
    service(POSTGRES_ENV, what)
}

/// [`CLICKHOUSE_ENV`] through [`service`].
pub fn clickhouse_url(what: &str) -> Option<String> {
    service(CLICKHOUSE_ENV, what)
}

/// The URL of `schema` on the PostgreSQL server at `admin_url`: every connection through it has
/// `schema` as its search path.
pub fn postgres_schema_url(admin_url: &str, schema: &str) -> String {
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    format!("{admin_url}{separator}options=-csearch_path%3D{schema}")
}

/// A topic, group or database name no other test run uses: `prefix`, `separator`, 32 hex digits.
pub fn unique_with(prefix: &str, separator: char) -> String {
    format!("{prefix}{separator}{}", uuid::Uuid::new_v4().simple())
}

/// A topic or group name no other test run uses (`prefix.<32 hex digits>`).
pub fn unique(prefix: &str) -> String {
    unique_with(prefix, '.')
}

/// A child process (a stage binary under test), killed and reaped when the test ends, passing or
/// not.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_keep_their_prefix() {
        let (a, b) = (unique("e2e.topic"), unique("e2e.topic"));
        assert_ne!(a, b);
        assert!(a.starts_with("e2e.topic.") && a.len() == "e2e.topic.".len() + 32, "{a}");
        assert!(unique_with("wh", '_').starts_with("wh_"));
    }

    #[test]
    fn a_missing_service_skips_unless_services_are_required() {
        assert_eq!(resolve(POSTGRES_ENV, Some("postgres://h".into()), true, "t"), Some("postgres://h".into()));
        assert_eq!(resolve(POSTGRES_ENV, None, false, "this skip (expected)"), None);
        assert_eq!(resolve(POSTGRES_ENV, Some(String::new()), false, "this skip (expected)"), None);
    }

    #[test]
    #[should_panic(expected = "FRICTION_TEST_CLICKHOUSE_URL is not set and FRICTION_REQUIRE_SERVICES=1")]
    fn a_missing_service_fails_when_services_are_required() {
        resolve(CLICKHOUSE_ENV, None, true, "the test");
    }

    #[test]
    fn schema_urls_add_the_search_path_as_an_option() {
        assert_eq!(
            postgres_schema_url("postgres://pg@h:1/db", "s1"),
            "postgres://pg@h:1/db?options=-csearch_path%3Ds1"
        );
        assert_eq!(
            postgres_schema_url("postgres://pg@h:1/db?sslmode=disable", "s1"),
            "postgres://pg@h:1/db?sslmode=disable&options=-csearch_path%3Ds1"
        );
    }
}
