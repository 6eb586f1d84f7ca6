//! Database URL handling: which backend a URL names, the SQLite URL for a file, and a form that is
//! safe to log.

use std::path::Path;

use crate::{Backend, StoreError};

/// What [`classify`] learned about a URL: the backend, whether it is a private in-memory SQLite
/// database (which lives only as long as its one connection), and whether it is opened read-only
/// (`mode=ro`, where the journal mode cannot be changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UrlKind {
    pub backend: Backend,
    pub in_memory: bool,
    pub read_only: bool,
}

/// Works out the backend of `url`, and rewrites SQLite file URLs so a missing file is created
/// (`mode=rwc`) unless the URL already chose a mode.
pub(crate) fn classify(url: &str) -> Result<(UrlKind, String), StoreError> {
    let invalid = |reason: &str| StoreError::InvalidUrl { url: redact_url(url), reason: reason.to_owned() };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let kind = UrlKind { backend: Backend::Postgres, in_memory: false, read_only: false };
        return Ok((kind, url.to_owned()));
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(invalid("expected sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DATABASE"));
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let params: Vec<(&str, &str)> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let in_memory = path == ":memory:" || params.contains(&("mode", "memory"));
    if path.is_empty() && !in_memory {
        return Err(invalid("the SQLite URL names no file"));
    }
    let kind = UrlKind { backend: Backend::Sqlite, in_memory, read_only: params.contains(&("mode", "ro")) };
    if in_memory || params.iter().any(|(k, _)| *k == "mode") {
        return Ok((kind, url.to_owned()));
    }
    let separator = if query.is_some() { '&' } else { '?' };
    Ok((kind, format!("{url}{separator}mode=rwc")))
}

/// The `sqlite://` URL for a database file. The path is percent-encoded, because the driver
/// percent-decodes it and treats `?` and `#` as delimiters.
pub(crate) fn sqlite_url_for_path(path: &Path) -> Result<String, StoreError> {
    let Some(text) = path.to_str() else {
        return Err(StoreError::DataDir { path: path.to_path_buf(), reason: "the path is not valid UTF-8".to_owned() });
    };
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(format!("sqlite://{encoded}?mode=rwc"))
}

/// `url` with passwords replaced by `***`: the one after `user:` in the authority and any query
/// parameter whose name contains "password". SQLite URLs are paths and are kept as they are.
pub fn redact_url(url: &str) -> String {
    if url.starts_with("sqlite:") {
        return url.to_owned();
    }
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len());
    match base.split_once("://") {
        // The last `@` ends the user info even when the password holds an unencoded `/` or `@`.
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => {
                let (userinfo, host) = rest.split_at(at);
                out.push_str(scheme);
                out.push_str("://");
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(host);
            }
            None => out.push_str(base),
        },
        None => out.push_str(base),
    }
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.to_ascii_lowercase().contains("password") => {
                    format!("{key}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_backends() -> Result<(), StoreError> {
        let (kind, url) = classify("postgres://u@h/db")?;
        assert_eq!(kind.backend, Backend::Postgres);
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(classify("postgresql://h/db")?.0.backend, Backend::Postgres);

        let (kind, url) = classify("sqlite::memory:")?;
        assert_eq!((kind.backend, kind.in_memory), (Backend::Sqlite, true));
        assert_eq!(url, "sqlite::memory:");

        let (kind, url) = classify("sqlite:///tmp/x.db")?;
        assert_eq!((kind.backend, kind.in_memory), (Backend::Sqlite, false));
        assert_eq!(url, "sqlite:///tmp/x.db?mode=rwc");

        let (_, url) = classify("sqlite://x.db?cache=shared")?;
        assert_eq!(url, "sqlite://x.db?cache=shared&mode=rwc");
        let (kind, url) = classify("sqlite://x.db?mode=ro")?;
        assert_eq!(url, "sqlite://x.db?mode=ro");
        assert!(kind.read_only);
        Ok(())
    }

    #[test]
    fn rejects_other_urls() {
        for url in ["mysql://u:secret@h/db", "", "x.db", "sqlite://"] {
            match classify(url) {
                Err(StoreError::InvalidUrl { url: shown, .. }) => {
                    assert!(!shown.contains("secret"), "{shown}")
                }
                other => panic!("{url}: expected InvalidUrl, got {other:?}"),
            }
        }
    }

    #[test]
    fn encodes_paths() -> Result<(), StoreError> {
        let url = sqlite_url_for_path(Path::new("/data dir/a?b#c%d/friction.db"))?;
        assert_eq!(url, "sqlite:///data%20dir/a%3Fb%23c%25d/friction.db?mode=rwc");
        Ok(())
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact_url("postgres://user:s3cret@db:5432/friction"), "postgres://user:***@db:5432/friction");
        assert_eq!(
            redact_url("postgres://user:a/b@c@db/friction?sslmode=require&password=x"),
            "postgres://user:***@db/friction?sslmode=require&password=***"
        );
        assert_eq!(redact_url("postgres://user@db/friction"), "postgres://user@db/friction");
        assert_eq!(redact_url("postgres://db/friction"), "postgres://db/friction");
        assert_eq!(redact_url("sqlite:///tmp/friction.db?mode=rwc"), "sqlite:///tmp/friction.db?mode=rwc");
    }
}
