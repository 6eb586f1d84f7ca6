//! Structure-aware mutations for the JSON and YAML targets: the input is parsed into a document,
//! one node is changed (a string or number replaced by one that has broken parsers, a key renamed
//! to one the contract reads, an element repeated or dropped), and the document written back. Most
//! byte mutations of JSON are no longer JSON; these reach the validation behind the parser.

use serde_json::{Map, Number, Value};

use crate::rng::Rng;

/// How a target's inputs are structured, for [`mutate_tree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    /// Bytes only.
    Bytes,
    Json,
    Yaml,
}

/// Strings that have broken text handling somewhere.
const STRINGS: &[&str] = &[
    "",
    " ",
    "\u{0}",
    "a\u{0}b",
    "\u{1b}[0m",
    "\u{7}\u{8}\u{7f}\u{85}\u{9f}",
    "\t\n\r",
    "\u{feff}",
    "\u{2028}\u{2029}",
    "\u{fffd}",
    "\u{10ffff}",
    "😀👨‍👩‍👧",
    "e\u{301}",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "jane.doe@example.com",
    "4111 1111 1111 1111",
    "https://x.io/cb?code=abc&access_token=eyJ\"x#id_token=zz",
    "0b2b9c1e-1111-4000-8000-abcdef012345",
    "0B2B9C1E111140008000ABCDEF012345",
    "2024-01-15T10:00:00Z",
    "9999-12-31T23:59:59.999Z",
    "1999-12-31T23:59:59Z",
    "2024-02-30T10:00:00Z",
    "pageview",
    "click",
    "network",
    "error",
    "log",
    "push",
    "hidden",
    "error",
    "fatal",
    "first_occurrence",
    "sessions",
];

const NUMBERS: &[f64] = &[0.0, -0.0, -1.0, 0.5, 1e308, -1e308, 5e-324, 2147483648.0, 4294967296.0, 1e19];
const INTEGERS: &[i64] =
    &[0, 1, -1, 2, 255, 65_536, 946_684_799_999, 1_765_000_000_000, 253_402_300_800_000, i64::MAX, i64::MIN];

/// `input` with one node of its document changed; `None` when it is not a document of `structure`.
pub fn mutate_tree(input: &[u8], structure: Structure, dictionary: &[&[u8]], rng: &mut Rng) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(input).ok()?;
    let mut doc: Value = match structure {
        Structure::Bytes => return None,
        Structure::Json => serde_json::from_str(text).ok()?,
        Structure::Yaml => serde_norway::from_str(text).ok()?,
    };
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let count = count_nodes(&doc);
        let mut target = rng.below(count);
        change(&mut doc, &mut target, dictionary, rng);
    }
    match structure {
        Structure::Json => serde_json::to_vec(&doc).ok(),
        Structure::Yaml => serde_norway::to_string(&doc).ok().map(String::into_bytes),
        Structure::Bytes => None,
    }
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// A dictionary token that is a JSON or YAML key (`"name":` or `name: `), unquoted.
fn dictionary_key(dictionary: &[&[u8]], rng: &mut Rng) -> Option<String> {
    let keys: Vec<String> = dictionary
        .iter()
        .filter_map(|t| std::str::from_utf8(t).ok())
        .filter_map(|t| {
            let t = t.trim();
            let t = t.strip_suffix(':').or_else(|| t.split_once(':').map(|(k, _)| k))?;
            let t = t.trim().trim_matches('"').trim_start_matches('{');
            (!t.is_empty() && !t.contains(['"', '{', '['])).then(|| t.trim_matches('"').to_string())
        })
        .collect();
    (!keys.is_empty()).then(|| keys[rng.below(keys.len())].clone())
}

fn scalar(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => Value::String(STRINGS[rng.below(STRINGS.len())].to_string()),
        1 => Value::String("a".repeat([199, 200, 201, 2048, 2049, 32 * 1024 + 1][rng.below(6)])),
        2 => Number::from_f64(NUMBERS[rng.below(NUMBERS.len())]).map_or(Value::Null, Value::Number),
        3 => Value::Number(INTEGERS[rng.below(INTEGERS.len())].into()),
        4 => Value::Bool(rng.one_in(2)),
        _ => Value::Null,
    }
}

/// Changes the `target`-th node (pre-order); `target` counts down as nodes are passed.
fn change(v: &mut Value, target: &mut usize, dictionary: &[&[u8]], rng: &mut Rng) -> bool {
    if *target == 0 {
        match v {
            Value::Array(items) if !items.is_empty() && rng.one_in(2) => {
                let at = rng.below(items.len());
                if rng.one_in(2) {
                    let copy = items[at].clone();
                    items.insert(at, copy);
                } else {
                    items.remove(at);
                }
            }
            Value::Object(map) if !map.is_empty() && rng.one_in(2) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                let key = &keys[rng.below(keys.len())];
                match rng.below(3) {
                    0 => {
                        map.remove(key);
                    }
                    1 => {
                        if let (Some(value), Some(new)) = (map.remove(key), dictionary_key(dictionary, rng)) {
                            map.insert(new, value);
                        }
                    }
                    _ => {
                        if let Some(new) = dictionary_key(dictionary, rng) {
                            map.insert(new, scalar(rng));
                        }
                    }
                }
            }
            _ => {
                *v = match rng.below(8) {
                    0 => Value::Object(Map::new()),
                    1 => Value::Array(vec![v.clone()]),
                    _ => scalar(rng),
                }
            }
        }
        return true;
    }
    *target -= 1;
    match v {
        Value::Array(items) => items.iter_mut().any(|item| change(item, target, dictionary, rng)),
        Value::Object(map) => map.values_mut().any(|item| change(item, target, dictionary, rng)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_mutations_keep_the_document_parseable_and_change_it() {
        let mut rng = Rng::new(3);
        let input = br#"{"events":[{"eventType":"click","timestamp":1,"sessionId":"s","target":{"x":1}}]}"#;
        let mut changed = 0;
        for _ in 0..500 {
            let out = mutate_tree(input, Structure::Json, &[b"\"route\":"], &mut rng).expect("JSON in, JSON out");
            assert!(serde_json::from_slice::<Value>(&out).is_ok());
            changed += usize::from(out != input);
        }
        assert!(changed > 400, "{changed}");
        let yaml = b"default:\n  dead_window_ms: 7000\n";
        let out = mutate_tree(yaml, Structure::Yaml, &[b"min_sessions: "], &mut rng).expect("YAML in, YAML out");
        assert!(serde_norway::from_slice::<Value>(&out).is_ok());
        assert!(mutate_tree(b"{not json", Structure::Json, &[], &mut rng).is_none());
    }
}
