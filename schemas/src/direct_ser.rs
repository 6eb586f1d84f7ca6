//! Encoding a Rust value straight into an Avro binary datum: a [`serde::Serializer`] that walks the
//! compiled schema ([`Tree`], the one the direct decoder uses) and writes bytes as it goes.
//!
//! apache-avro's schema-aware serializer looks every record field up by name in a `BTreeMap` (string
//! compares for each field of each record) and every output went through it; this one follows the
//! schema's field order with a cursor. It handles exactly the shapes the derived `Serialize` impls of
//! this crate produce against their schemas: records whose Rust fields come in schema order,
//! `Option` over a two-branch `["null", X]` union, primitives of the matching Avro type (an `i32`
//! into a `long` is widened), strings, bytes, fixed, enums by unit variant, sequences and maps of
//! known length. Anything else is [`EncodeError::Unsupported`], and the codec then encodes the
//! value with apache-avro instead (from the start, so the output is the same either way; the
//! tests compare the two byte for byte).

use std::fmt;

use serde::ser::{self, Serialize};

use crate::direct::{Node, Tree};

#[derive(Debug, thiserror::Error)]
pub(crate) enum EncodeError {
    /// A value shape this encoder does not handle (the caller falls back to apache-avro).
    #[error("not encoded directly: {0}")]
    Unsupported(&'static str),
    #[error("{0}")]
    Custom(String),
}

impl ser::Error for EncodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        EncodeError::Custom(msg.to_string())
    }
}

type Result<T> = std::result::Result<T, EncodeError>;

/// Appends the Avro binary datum of `value` written with `tree`'s schema to `out`. On error `out`
/// may hold a partial datum: the caller truncates it.
pub(crate) fn to_datum<T: Serialize + ?Sized>(tree: &Tree, value: &T, out: &mut Vec<u8>) -> Result<()> {
    value.serialize(Ser { tree, node: tree.root(), out })
}

/// An Avro `long` (or `int`: the same zig-zag varint).
pub(crate) fn long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// An Avro `string`: its length, then its UTF-8 bytes.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) -> Result<()> {
    len(out, s.len())?;
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn len(out: &mut Vec<u8>, n: usize) -> Result<()> {
    long(out, i64::try_from(n).map_err(|_| EncodeError::Unsupported("length over i64"))?);
    Ok(())
}

struct Ser<'a> {
    tree: &'a Tree,
    node: usize,
    out: &'a mut Vec<u8>,
}

impl<'a> Ser<'a> {
    fn kind(&self) -> &'a Node {
        self.tree.node(self.node)
    }

    /// The branch index and node of a `["null", X]` union: `null` for `None`, `X` for `Some`.
    fn option_branch(&self, some: bool) -> Result<(usize, usize)> {
        let Node::Union(branches) = self.kind() else { return Err(EncodeError::Unsupported("option, not a union")) };
        let [a, b] = &branches[..] else { return Err(EncodeError::Unsupported("option over a wider union")) };
        let a_null = matches!(self.tree.node(*a), Node::Null);
        let b_null = matches!(self.tree.node(*b), Node::Null);
        match (a_null, b_null, some) {
            (true, false, false) => Ok((0, *a)),
            (true, false, true) => Ok((1, *b)),
            (false, true, false) => Ok((1, *b)),
            (false, true, true) => Ok((0, *a)),
            _ => Err(EncodeError::Unsupported("option over a union without exactly one null")),
        }
    }
}

impl<'a> ser::Serializer for Ser<'a> {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = ser::Impossible<(), EncodeError>;
    type SerializeTupleStruct = ser::Impossible<(), EncodeError>;
    type SerializeTupleVariant = ser::Impossible<(), EncodeError>;
    type SerializeMap = MapSer<'a>;
    type SerializeStruct = Rec<'a>;
    type SerializeStructVariant = ser::Impossible<(), EncodeError>;

    fn serialize_bool(self, v: bool) -> Result<()> {
        match self.kind() {
            Node::Boolean => {
                self.out.push(u8::from(v));
                Ok(())
            }
            _ => Err(EncodeError::Unsupported("bool")),
        }
    }
    fn serialize_i8(self, v: i8) -> Result<()> {
        self.serialize_i32(i32::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<()> {
        self.serialize_i32(i32::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<()> {
        match self.kind() {
            Node::Int | Node::Long => {
                long(self.out, i64::from(v));
                Ok(())
            }
            _ => Err(EncodeError::Unsupported("i32")),
        }
    }
    fn serialize_i64(self, v: i64) -> Result<()> {
        match self.kind() {
            Node::Long => {
                long(self.out, v);
                Ok(())
            }
            _ => Err(EncodeError::Unsupported("i64")),
        }
    }
    fn serialize_u8(self, _v: u8) -> Result<()> {
        Err(EncodeError::Unsupported("u8"))
    }
    fn serialize_u16(self, _v: u16) -> Result<()> {
        Err(EncodeError::Unsupported("u16"))
    }
    fn serialize_u32(self, _v: u32) -> Result<()> {
        Err(EncodeError::Unsupported("u32"))
    }
    fn serialize_u64(self, _v: u64) -> Result<()> {
        Err(EncodeError::Unsupported("u64"))
    }
    fn serialize_f32(self, v: f32) -> Result<()> {
        match self.kind() {
            Node::Float => {
                self.out.extend_from_slice(&v.to_le_bytes());
                Ok(())
            }
            _ => Err(EncodeError::Unsupported("f32")),
        }
    }
    fn serialize_f64(self, v: f64) -> Result<()> {
        match self.kind() {
            Node::Double => {
                self.out.extend_from_slice(&v.to_le_bytes());
                Ok(())
            }
            _ => Err(EncodeError::Unsupported("f64")),
        }
    }
    fn serialize_char(self, _v: char) -> Result<()> {
        Err(EncodeError::Unsupported("char"))
    }
    fn serialize_str(self, v: &str) -> Result<()> {
        match self.kind() {
            Node::String => string(self.out, v),
            _ => Err(EncodeError::Unsupported("str")),
        }
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        match self.kind() {
            Node::Bytes => {
                len(self.out, v.len())?;
                self.out.extend_from_slice(v);
                Ok(())
            }
            Node::Fixed(n) if *n == v.len() => {
                self.out.extend_from_slice(v);
                Ok(())
            }
            _ => Err(EncodeError::Unsupported("bytes")),
        }
    }
    fn serialize_none(self) -> Result<()> {
        if matches!(self.kind(), Node::Null) {
            return Ok(());
        }
        let (index, _) = self.option_branch(false)?;
        len(self.out, index)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        let (index, node) = self.option_branch(true)?;
        len(self.out, index)?;
        value.serialize(Ser { tree: self.tree, node, out: self.out })
    }
    fn serialize_unit(self) -> Result<()> {
        match self.kind() {
            Node::Null => Ok(()),
            _ => Err(EncodeError::Unsupported("unit")),
        }
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<()> {
        match self.kind() {
            Node::Enum(symbols) => {
                let i = symbols
                    .iter()
                    .position(|s| &**s == variant)
                    .ok_or(EncodeError::Unsupported("enum variant not among the symbols"))?;
                len(self.out, i)
            }
            _ => Err(EncodeError::Unsupported("unit variant")),
        }
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<()> {
        Err(EncodeError::Unsupported("newtype variant"))
    }
    fn serialize_seq(self, n: Option<usize>) -> Result<Seq<'a>> {
        let Node::Array(items) = self.kind() else { return Err(EncodeError::Unsupported("seq")) };
        let n = n.ok_or(EncodeError::Unsupported("seq of unknown length"))?;
        if n > 0 {
            len(self.out, n)?;
        }
        Ok(Seq { tree: self.tree, items: *items, out: self.out, left: n })
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(EncodeError::Unsupported("tuple"))
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct> {
        Err(EncodeError::Unsupported("tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(EncodeError::Unsupported("tuple variant"))
    }
    fn serialize_map(self, n: Option<usize>) -> Result<MapSer<'a>> {
        let Node::Map(values) = self.kind() else { return Err(EncodeError::Unsupported("map")) };
        let n = n.ok_or(EncodeError::Unsupported("map of unknown length"))?;
        if n > 0 {
            len(self.out, n)?;
        }
        Ok(MapSer { tree: self.tree, values: *values, out: self.out, left: n })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Rec<'a>> {
        let Node::Record(fields) = self.kind() else { return Err(EncodeError::Unsupported("struct")) };
        Ok(Rec { tree: self.tree, fields, next: 0, out: self.out })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(EncodeError::Unsupported("struct variant"))
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

struct Seq<'a> {
    tree: &'a Tree,
    items: usize,
    out: &'a mut Vec<u8>,
    left: usize,
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.left = self.left.checked_sub(1).ok_or(EncodeError::Unsupported("more items than announced"))?;
        value.serialize(Ser { tree: self.tree, node: self.items, out: self.out })
    }
    fn end(self) -> Result<()> {
        if self.left != 0 {
            return Err(EncodeError::Unsupported("fewer items than announced"));
        }
        self.out.push(0);
        Ok(())
    }
}

struct MapSer<'a> {
    tree: &'a Tree,
    values: usize,
    out: &'a mut Vec<u8>,
    left: usize,
}

impl ser::SerializeMap for MapSer<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.left = self.left.checked_sub(1).ok_or(EncodeError::Unsupported("more entries than announced"))?;
        key.serialize(KeySer { out: self.out })
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(Ser { tree: self.tree, node: self.values, out: self.out })
    }
    fn end(self) -> Result<()> {
        if self.left != 0 {
            return Err(EncodeError::Unsupported("fewer entries than announced"));
        }
        self.out.push(0);
        Ok(())
    }
}

struct Rec<'a> {
    tree: &'a Tree,
    fields: &'a [crate::direct::Field],
    next: usize,
    out: &'a mut Vec<u8>,
}

impl ser::SerializeStruct for Rec<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        let field = self.fields.get(self.next).ok_or(EncodeError::Unsupported("field not in the schema"))?;
        if field.name() != key {
            return Err(EncodeError::Unsupported("fields not in schema order"));
        }
        self.next += 1;
        value.serialize(Ser { tree: self.tree, node: field.node(), out: self.out })
    }
    fn end(self) -> Result<()> {
        if self.next != self.fields.len() {
            return Err(EncodeError::Unsupported("schema fields the value does not have"));
        }
        Ok(())
    }
}

/// A map key: Avro map keys are strings.
struct KeySer<'a> {
    out: &'a mut Vec<u8>,
}

impl ser::Serializer for KeySer<'_> {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = ser::Impossible<(), EncodeError>;
    type SerializeTuple = ser::Impossible<(), EncodeError>;
    type SerializeTupleStruct = ser::Impossible<(), EncodeError>;
    type SerializeTupleVariant = ser::Impossible<(), EncodeError>;
    type SerializeMap = ser::Impossible<(), EncodeError>;
    type SerializeStruct = ser::Impossible<(), EncodeError>;
    type SerializeStructVariant = ser::Impossible<(), EncodeError>;

    fn serialize_str(self, v: &str) -> Result<()> {
        len(self.out, v.len())?;
        self.out.extend_from_slice(v.as_bytes());
        Ok(())
    }
    fn serialize_bool(self, _v: bool) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_i8(self, _v: i8) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_i16(self, _v: i16) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_i32(self, _v: i32) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_i64(self, _v: i64) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_u8(self, _v: u8) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_u16(self, _v: u16) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_u32(self, _v: u32) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_u64(self, _v: u64) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_f32(self, _v: f32) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_f64(self, _v: f64) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_char(self, _v: char) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_none(self) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_unit(self) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, _variant: &'static str) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<()> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(EncodeError::Unsupported("map key"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(EncodeError::Unsupported("map key"))
    }
}
