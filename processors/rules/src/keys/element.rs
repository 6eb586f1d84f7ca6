//! The stable key of a clicked element: the SDK's key, else its selector stripped of what changes
//! between page loads (see [`super::selector`]), else its tag, role and type. Never its text.

use crate::event::Target;

use super::selector::write_selector_key;
use super::sink::{put_lower, Fnv, KeySink};

/// The stable key of a clicked element.
///
/// Precedence: the SDK's `key` as given; else the `selector` with generated ids, CSS-in-JS/hashed
/// classes, state classes and state attributes stripped; else `tag[role=..][type=..]`. Never text.
/// Returns an empty string when nothing identifies the element.
///
/// ```
/// use friction_rules::{element_key, Target};
/// let t = Target { selector: Some("div#ember123 > button.css-1a2b3c.btn.is-active".into()), ..Target::default() };
/// assert_eq!(element_key(&t), "div > button.btn");
/// ```
pub fn element_key(target: &Target<'_>) -> String {
    let mut s = String::new();
    write_element_key(target, &mut s);
    s
}

/// How an element key was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// Nothing identifies the element: the key is empty.
    None,
    /// The SDK's key or a selector: it identifies one element.
    Identifying,
    /// Only tag/role/type: a label, shared by many elements.
    Generic,
}

/// Hash of [`element_key`] (always, for grouping by the reported key) and how it was obtained.
pub(crate) fn element_key_hash(target: &Target<'_>) -> (u64, KeySource) {
    let mut h = Fnv::new();
    let src = write_element_key(target, &mut h);
    (h.0, src)
}

/// Writes the element key; returns how it was obtained.
fn write_element_key<S: KeySink>(t: &Target<'_>, out: &mut S) -> KeySource {
    if let Some(k) = t.key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        out.put(k);
        return KeySource::Identifying;
    }
    if let Some(sel) = t.selector.as_deref() {
        if write_selector_key(sel, out) {
            return KeySource::Identifying;
        }
    }
    let mut wrote = false;
    if let Some(tag) = t.tag.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        put_lower(tag, out);
        wrote = true;
    }
    for (name, value) in [("role", t.role.as_deref()), ("type", t.r#type.as_deref())] {
        if let Some(v) = value.map(str::trim).filter(|s| !s.is_empty()) {
            out.put("[");
            out.put(name);
            out.put("=");
            put_lower(v, out);
            out.put("]");
            wrote = true;
        }
    }
    if wrote {
        KeySource::Generic
    } else {
        KeySource::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::sink::fnv;

    fn sel(s: &str) -> Target<'_> {
        Target { selector: Some(s.into()), ..Target::default() }
    }

    #[test]
    fn element_key_prefers_given_key() {
        let t = Target {
            key: Some("checkout-submit".into()),
            selector: Some("button.css-1x".into()),
            text: Some("Pay now".into()),
            ..Target::default()
        };
        assert_eq!(element_key(&t), "checkout-submit");
    }

    #[test]
    fn element_key_strips_generated_ids_and_classes() {
        assert_eq!(element_key(&sel("div#ember123 > button.btn")), "div > button.btn");
        assert_eq!(element_key(&sel("#\\:r1\\: button")), "button");
        assert_eq!(element_key(&sel("button.css-1a2b3c.sc-bdVaJa.jsx-123.primary")), "button.primary");
        assert_eq!(element_key(&sel("a.Button_primary__3xk2Z.nav__link")), "a.nav__link");
        assert_eq!(element_key(&sel("div.kVtMtA > span._1x2y3")), "div > span");
        assert_eq!(element_key(&sel("DIV#main-nav LI:nth-of-type(2) A:hover")), "div#main-nav li:nth-of-type(2) a");
        assert_eq!(element_key(&sel("button.toggle.is-active[aria-pressed=true]")), "button.toggle");
        assert_eq!(element_key(&sel("div[data-v-7ba5bd90] > button[type=submit]")), "div > button[type=submit]");
        assert_eq!(element_key(&sel("ul > li#item-3 > button")), "ul > li > button");
        assert_eq!(element_key(&sel("div.col-md-12.mt-4")), "div.col-md-12.mt-4");
        assert_eq!(element_key(&sel("#mui-12")), "");
        // the same toggle before and after it changed state
        assert_eq!(element_key(&sel("button.like.css-9xz12a")), element_key(&sel("button.like.active.css-9xz12a")));
    }

    #[test]
    fn element_key_falls_back_to_tag_role_type_and_never_text() {
        let t = Target {
            tag: Some("BUTTON".into()),
            role: Some("menuitem".into()),
            text: Some("Delete account of jane@example.com".into()),
            ..Target::default()
        };
        let k = element_key(&t);
        assert_eq!(k, "button[role=menuitem]");
        assert!(!k.contains("jane"));
        assert_eq!(element_key(&Target::default()), "");
        assert_eq!(element_key_hash(&Target::default()), (fnv(""), KeySource::None));
    }

    #[test]
    fn key_hash_matches_string_hash() {
        for s in ["div#ember1 > button.x", "a.b c > d:nth-child(3)", "span"] {
            let t = sel(s);
            assert_eq!(element_key_hash(&t), (fnv(&element_key(&t)), KeySource::Identifying));
        }
    }

    #[test]
    fn weird_selectors_do_not_panic() {
        for s in ["[", "]", "((", "a[b='c", "#", ".", "::", "\\", "é.ü#ß", "a > > b", ">>>", "a\\", "[x=\"]\"]"] {
            let _ = element_key(&sel(s));
        }
    }
}
