//! The serde `Deserializer` over one datum: how each thing a Rust type asks for (a string, an
//! option, a struct, an enum, ...) is read from the node the writer schema has there, the way
//! `apache_avro::from_value` answers for the same datum.

use serde::de::{self, DeserializeSeed, Visitor};
use serde::Deserialize;

use super::compound::{UnionVariant, UnitVariant};
use super::datum::Deser;
use super::error::{err, DecodeError, ErrorKind, Result};
use super::skip::skip;
use super::tree::Node;

impl<'de> de::Deserializer<'de> for Deser<'_, 'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value> {
        match self.tree.node(self.node) {
            Node::Null => visitor.visit_unit(),
            Node::Boolean => visitor.visit_bool(self.input.boolean()?),
            Node::Int => visitor.visit_i32(self.input.int("int")?),
            Node::Long => visitor.visit_i64(self.input.long("long")?),
            Node::Float => visitor.visit_f32(self.input.f32()?),
            Node::Double => visitor.visit_f64(self.input.f64()?),
            Node::Bytes => visitor.visit_borrowed_bytes(self.input.length_prefixed("bytes")?),
            Node::String => visitor.visit_borrowed_str(self.input.str()?),
            &Node::Fixed(size) => visitor.visit_borrowed_bytes(self.input.take(size, "fixed")?),
            Node::Enum(symbols) => {
                let i = self.input.enum_index(symbols.len())?;
                visitor.visit_str(&symbols[i])
            }
            &Node::Array(items) => self.visit_array(items, visitor),
            &Node::Map(values) => self.visit_map_node(values, visitor),
            Node::Union(_) => match self.branch()? {
                Some(branch) => self.at(branch).deserialize_any(visitor),
                None => self.mismatch("a union"),
            },
            Node::Record(fields) => self.visit_record(fields, visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64
    }

    fn deserialize_char<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(de::Error::custom("avro does not support char"))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value> {
        match self.tree.node(self.node) {
            Node::String => visitor.visit_borrowed_str(self.input.str()?),
            Node::Bytes => {
                let b = self.input.length_prefixed("bytes")?;
                visitor.visit_borrowed_str(std::str::from_utf8(b).map_err(de::Error::custom)?)
            }
            &Node::Fixed(size) => {
                let b = self.input.take(size, "fixed")?;
                visitor.visit_borrowed_str(std::str::from_utf8(b).map_err(de::Error::custom)?)
            }
            Node::Enum(symbols) => {
                let i = self.input.enum_index(symbols.len())?;
                visitor.visit_str(&symbols[i])
            }
            Node::Union(_) => match self.branch()? {
                Some(branch) => self.at(branch).deserialize_string(visitor),
                None => self.mismatch("a union"),
            },
            _ => self.mismatch("a string, bytes, fixed or enum"),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.tree.node(self.node) {
            Node::String => visitor.visit_borrowed_bytes(self.input.length_prefixed("string")?),
            Node::Bytes => visitor.visit_borrowed_bytes(self.input.length_prefixed("bytes")?),
            &Node::Fixed(size) => visitor.visit_borrowed_bytes(self.input.take(size, "fixed")?),
            _ => self.mismatch("a string, bytes or fixed"),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value> {
        match self.branch()? {
            Some(branch) => match self.tree.node(branch) {
                Node::Null => visitor.visit_none(),
                _ => visitor.visit_some(self.at(branch)),
            },
            None => self.mismatch("a union"),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value> {
        match self.tree.node(self.node) {
            Node::Null => visitor.visit_unit(),
            Node::Union(_) => match self.branch()? {
                Some(branch) if matches!(self.tree.node(branch), Node::Null) => visitor.visit_unit(),
                Some(branch) => self.at(branch).mismatch("null"),
                None => self.mismatch("null"),
            },
            _ => self.mismatch("null"),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value> {
        match self.tree.node(self.node) {
            &Node::Array(items) => self.visit_array(items, visitor),
            Node::Union(_) => match self.branch()? {
                Some(branch) => match self.tree.node(branch) {
                    &Node::Array(items) => self.at(branch).visit_array(items, visitor),
                    Node::Null => visitor.visit_seq(de::value::SeqDeserializer::new(std::iter::empty::<()>())),
                    _ => self.at(branch).mismatch("an array or null"),
                },
                None => self.mismatch("an array"),
            },
            _ => self.mismatch("an array"),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.tree.node(self.node) {
            &Node::Map(values) => self.visit_map_node(values, visitor),
            Node::Record(fields) => self.visit_record(fields, visitor),
            _ => self.mismatch("a map or record"),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.tree.node(self.node) {
            Node::Record(fields) => self.visit_record(fields, visitor),
            Node::Union(_) => match self.branch()? {
                Some(branch) => match self.tree.node(branch) {
                    Node::Record(fields) => self.at(branch).visit_record(fields, visitor),
                    Node::Null => visitor.visit_map(de::value::MapDeserializer::new(std::iter::empty::<((), ())>())),
                    _ => self.at(branch).mismatch("a record or null"),
                },
                None => self.mismatch("a record"),
            },
            _ => self.mismatch("a record"),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.tree.node(self.node) {
            Node::Enum(symbols) => {
                let i = self.input.enum_index(symbols.len())?;
                visitor.visit_enum(UnitVariant(&symbols[i]))
            }
            Node::String => {
                let s = self.input.str()?;
                visitor.visit_enum(UnitVariant(s))
            }
            // A Rust enum over a union: the branch index picks the variant, in declaration order.
            Node::Union(variant_nodes) => {
                let index = self.input.union_index(variant_nodes.len())?;
                let branch = variant_nodes[index];
                let Some(name) = variants.get(index) else {
                    return err(ErrorKind::UnionIndex {
                        index: i64::try_from(index).unwrap_or(i64::MAX),
                        variants: variants.len(),
                    });
                };
                visitor.visit_enum(UnionVariant { name, de: self.at(branch) })
            }
            _ => self.mismatch("an enum, string or union"),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        skip(self.tree, self.node, self.input)?;
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        // apache-avro's default (`util::DEFAULT_SERDE_HUMAN_READABLE`), which nothing here changes.
        apache_avro::util::DEFAULT_SERDE_HUMAN_READABLE
    }
}

impl<'de> de::VariantAccess<'de> for Deser<'_, 'de> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<()> {
        <() as Deserialize>::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}
