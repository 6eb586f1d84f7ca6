//! Decoding an Avro binary datum straight into a Rust type: a [`serde::Deserializer`] that walks the
//! writer schema and reads the bytes as it goes, without building an `apache_avro::types::Value`
//! tree first and converting that with `from_value`.
//!
//! The writer schema is compiled once per schema version (in the registry) into a [`Tree`]: an arena
//! of [`Node`]s with every named reference resolved to an index, so decoding never looks a name up.
//! The deserializer answers serde the way `apache_avro::from_value` does for the same datum (records
//! as maps keyed by field name in schema order, `["null", X]` unions as options, enums by symbol,
//! …), so `#[serde(rename)]`, `#[serde(default)]` and missing `Option` fields behave as before.
//!
//! Differences from the `Value` path, all on corrupt input only:
//! - A datum that ends early is an error. apache-avro reads end-of-input at a union index as the
//!   union's first branch (`null`) and a string or boolean cut short as `null`, so a message cut in
//!   the middle of trailing optional fields decoded (with those fields `None`).
//! - Nothing is allocated before the bytes it is for are known to be there: a length prefix larger
//!   than the rest of the message is an error before anything is reserved.
//!
//! Trailing bytes after the datum are ignored, as apache-avro's reader does.
//!
//! The parts: [`tree`] (the compiled schema), [`input`] (the primitive encodings), [`error`],
//! [`datum`] (what serde is handed), [`de`] (the `Deserializer` over it), [`compound`] (records,
//! arrays, maps, enums and unions) and [`skip`] (reading what no one asks for).

mod compound;
mod datum;
mod de;
mod error;
mod input;
mod skip;
mod tree;

use serde::Deserialize;

pub(crate) use error::{DecodeError, Result};
pub(crate) use input::Input;
pub use input::MAX_DECODE_ALLOCATION;
pub(crate) use tree::{Field, Node, Tree};

use datum::Deser;

/// Decodes one datum written with `tree`'s schema from the start of `datum`; bytes after it are
/// ignored.
pub(crate) fn from_datum<'de, T: Deserialize<'de>>(tree: &Tree, datum: &'de [u8]) -> Result<T> {
    let mut input = Input { data: datum };
    T::deserialize(Deser { tree, node: tree.root(), input: &mut input })
}

#[cfg(test)]
mod tests {
    //! What the embedded families do not use (enums, fixed, bytes, float, logical types, named
    //! references, recursion, Rust enums over unions), against `from_value` on the same datum.

    use std::fmt;

    use apache_avro::types::Value;
    use apache_avro::{from_avro_datum, from_value, to_avro_datum, Schema};
    use serde::de::{self, DeserializeOwned, Visitor};
    use serde::Deserialize;

    use super::*;

    const SCHEMA: &str = r#"{
      "type": "record", "name": "Top", "namespace": "t",
      "fields": [
        {"name": "suit", "type": {"type": "enum", "name": "Suit", "symbols": ["HEARTS", "SPADES"]}},
        {"name": "other", "type": "Suit"},
        {"name": "id", "type": {"type": "fixed", "name": "Id", "size": 4}},
        {"name": "blob", "type": "bytes"},
        {"name": "ratio", "type": "float"},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "list", "type": {"type": "record", "name": "Link", "fields": [
          {"name": "value", "type": "long"},
          {"name": "next", "type": ["null", "Link"]}
        ]}},
        {"name": "choice", "type": ["null", "string", "long"]},
        {"name": "grid", "type": {"type": "map", "values": {"type": "array", "items": "int"}}},
        {"name": "extra", "type": {"type": "array", "items": "Link"}}
      ]
    }"#;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "UPPERCASE")]
    enum Suit {
        Hearts,
        Spades,
    }

    #[derive(Debug, PartialEq)]
    struct Raw(Vec<u8>);

    impl<'de> Deserialize<'de> for Raw {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Raw;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
                    Ok(Raw(v.to_vec()))
                }
            }
            d.deserialize_bytes(V)
        }
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Link {
        value: i64,
        next: Option<Box<Link>>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    enum Choice {
        Nothing,
        Text(String),
        Number(i64),
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Top {
        suit: Suit,
        other: Suit,
        id: Raw,
        blob: Raw,
        ratio: f32,
        day: i32,
        at: i64,
        list: Link,
        choice: Choice,
        grid: std::collections::BTreeMap<String, Vec<i32>>,
        /// Not in the schema: serde's default.
        #[serde(default)]
        absent: Vec<String>,
    }

    /// A subset of `Top`: `extra` and others are skipped.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Partial {
        #[serde(rename = "ratio")]
        r: f32,
        choice: Option<String>,
    }

    fn link(values: &[i64]) -> Value {
        match values.split_first() {
            None => Value::Union(0, Box::new(Value::Null)),
            Some((v, rest)) => Value::Union(
                1,
                Box::new(Value::Record(vec![("value".into(), Value::Long(*v)), ("next".into(), link(rest))])),
            ),
        }
    }

    fn datum(choice: Value) -> Vec<u8> {
        let schema = Schema::parse_str(SCHEMA).expect("schema");
        let Value::Union(_, list) = link(&[1, -2, 3]) else { unreachable!() };
        let Value::Union(_, extra) = link(&[7]) else { unreachable!() };
        let value = Value::Record(vec![
            ("suit".into(), Value::Enum(1, "SPADES".into())),
            ("other".into(), Value::Enum(0, "HEARTS".into())),
            ("id".into(), Value::Fixed(4, vec![1, 2, 3, 4])),
            ("blob".into(), Value::Bytes(vec![0, 255])),
            ("ratio".into(), Value::Float(0.5)),
            ("day".into(), Value::Date(19_000)),
            ("at".into(), Value::TimestampMillis(1_705_312_800_000)),
            ("list".into(), *list),
            ("choice".into(), choice),
            (
                "grid".into(),
                Value::Map(
                    [
                        ("a".to_string(), Value::Array(vec![Value::Int(1), Value::Int(-1)])),
                        ("b".into(), Value::Array(vec![])),
                    ]
                    .into(),
                ),
            ),
            ("extra".into(), Value::Array(vec![*extra])),
        ]);
        to_avro_datum(&schema, value).expect("encode")
    }

    fn both<T: DeserializeOwned + PartialEq + fmt::Debug>(bytes: &[u8]) -> T {
        let schema = Schema::parse_str(SCHEMA).expect("schema");
        let tree = Tree::compile(&schema).expect("compiles");
        let value = from_avro_datum(&schema, &mut &bytes[..], None).expect("value decode");
        let old: T = from_value(&value).expect("from_value");
        let new: T = from_datum(&tree, bytes).expect("direct");
        assert_eq!(new, old);
        new
    }

    #[test]
    fn other_schema_types_decode_like_from_value() {
        for (choice, expected) in [
            (Value::Union(0, Box::new(Value::Null)), Choice::Nothing),
            (Value::Union(1, Box::new(Value::String("x".into()))), Choice::Text("x".into())),
            (Value::Union(2, Box::new(Value::Long(-5))), Choice::Number(-5)),
        ] {
            let top: Top = both(&datum(choice));
            assert_eq!(top.choice, expected);
            assert_eq!((top.suit, top.other), (Suit::Spades, Suit::Hearts));
            assert_eq!((top.id, top.blob), (Raw(vec![1, 2, 3, 4]), Raw(vec![0, 255])));
            assert_eq!((top.ratio, top.day, top.at), (0.5, 19_000, 1_705_312_800_000));
            assert_eq!(top.list.next.and_then(|n| n.next).map(|n| n.value), Some(3));
            assert_eq!(top.grid.get("a"), Some(&vec![1, -1]));
            assert!(top.absent.is_empty());
        }
        let partial: Partial = both(&datum(Value::Union(1, Box::new(Value::String("y".into())))));
        assert_eq!(partial, Partial { r: 0.5, choice: Some("y".into()) });
    }
}
