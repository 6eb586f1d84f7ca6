//! Route templates: a path or URL with its id-like segments replaced by `:id`, so one page of many
//! orders or users is one route.

use super::token::{is_hexish, is_uuid};

/// The route template of a path or URL (docs/detection.md "Grouping and fingerprints"): scheme, host and query are dropped, hash
/// routes (`#/...`) are kept and templated too, and every id-like segment (numbers, UUIDs, hex,
/// long mixed tokens, dates, e-mail addresses) becomes `:id`.
///
/// ```
/// use friction_rules::route_template;
/// assert_eq!(route_template("/orders/123/items/9f8e7d6c5b4a3f2e1d0c"), "/orders/:id/items/:id");
/// assert_eq!(route_template("https://shop.example/cart?coupon=X#top"), "/cart");
/// ```
pub fn route_template(route: &str) -> String {
    let s = route.trim();
    let s = match s.find("://") {
        Some(p) => {
            let rest = s.get(p + 3..).unwrap_or("");
            match rest.find(['/', '?', '#']) {
                Some(q) => rest.get(q..).unwrap_or(""),
                None => "/",
            }
        }
        None => s,
    };
    let (before_hash, fragment) = match s.find('#') {
        Some(p) => (s.get(..p).unwrap_or(""), s.get(p + 1..)),
        None => (s, None),
    };
    let path = before_hash.split('?').next().unwrap_or("");
    let mut out = String::with_capacity(path.len() + 4);
    write_path(path, &mut out);
    if let Some(f) = fragment {
        let (bang, f) = match f.strip_prefix('!') {
            Some(rest) => ("!", rest),
            None => ("", f),
        };
        if f.starts_with('/') {
            out.push('#');
            out.push_str(bang);
            let f = f.split('?').next().unwrap_or("");
            let before = out.len();
            write_path(f, &mut out);
            if out.len() == before {
                out.push('/');
            }
        }
    }
    out
}

fn write_path(path: &str, out: &mut String) {
    let mut any = false;
    for seg in path.split('/') {
        // `;jsessionid=...` style matrix parameters carry session ids.
        let seg = seg.split(';').next().unwrap_or("");
        if seg.is_empty() {
            continue;
        }
        out.push('/');
        if is_id_segment(seg) {
            out.push_str(":id");
        } else {
            out.push_str(seg);
        }
        any = true;
    }
    if !any && !path.is_empty() {
        out.push('/');
    }
}

/// Whether one path segment is an identifier rather than a name.
fn is_id_segment(seg: &str) -> bool {
    if seg.starts_with(':') {
        return false; // already a template parameter
    }
    let b = seg.as_bytes();
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    if digits == b.len() {
        return true;
    }
    if is_uuid(seg) || seg.contains('@') || is_hexish(seg, 6) {
        return true;
    }
    // Dates and dotted/dashed numbers: 2024-01-15, 1.2.3.4
    if digits > 0 && b.iter().all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'.' | b'_')) {
        return true;
    }
    // Prefixed ids: cus_J2mLqR8xYz, user_12345678
    let core = match seg.find('_') {
        Some(p) if (1..=8).contains(&p) && b[..p].iter().all(u8::is_ascii_lowercase) => seg.get(p + 1..).unwrap_or(""),
        _ => seg,
    };
    let cb = core.as_bytes();
    if !cb.is_empty() && cb.iter().all(u8::is_ascii_alphanumeric) {
        let cd = cb.iter().filter(|c| c.is_ascii_digit()).count();
        if core.len() != seg.len() && cd > 0 && core.len() >= 6 {
            return true;
        }
        let has_alpha = cd < cb.len();
        if has_alpha && cd > 0 && ((core.len() >= 8 && cd >= 3) || core.len() >= 16) {
            return true;
        }
        let mixed_case = cb.iter().any(u8::is_ascii_uppercase) && cb.iter().any(u8::is_ascii_lowercase);
        if core.len() >= 20 && mixed_case {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates() {
        assert_eq!(route_template("/orders/123/items/9f8e7d6c5b4a3f2e1d0c"), "/orders/:id/items/:id");
        assert_eq!(route_template("/u/5f2b9c1e-0000-4000-8000-123456789abc/settings"), "/u/:id/settings");
        assert_eq!(route_template("/checkout"), "/checkout");
        assert_eq!(route_template("/"), "/");
        assert_eq!(route_template(""), "");
        assert_eq!(route_template("/a//b/"), "/a/b");
        assert_eq!(route_template("/v1/products/iphone15pro"), "/v1/products/iphone15pro");
        assert_eq!(route_template("/customers/cus_J2mLqR8xYz"), "/customers/:id");
        assert_eq!(route_template("/reports/2024-01-15"), "/reports/:id");
        assert_eq!(route_template("/c/01ARZ3NDEKTSV4RRFFQ69G5FAV"), "/c/:id");
        assert_eq!(route_template("/users/jane@example.com"), "/users/:id");
        assert_eq!(route_template("https://shop.example:8443/p/42?x=1#frag"), "/p/:id");
        assert_eq!(route_template("https://shop.example"), "/");
        assert_eq!(route_template("/app#/orders/77?tab=2"), "/app#/orders/:id");
        assert_eq!(route_template("/app/#!/orders/77"), "/app#!/orders/:id");
        assert_eq!(route_template("/cart;jsessionid=ABC123"), "/cart");
        assert_eq!(route_template("/orders/:id"), "/orders/:id");
        assert_eq!(route_template("/blog/cafe"), "/blog/cafe");
        assert_eq!(route_template("/commit/a1b2c3d"), "/commit/:id");
    }
}
