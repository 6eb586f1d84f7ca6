//! Decoding an Avro binary datum straight into a Rust type: a serde [`Deserializer`] that walks the
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

use std::collections::HashMap;
use std::fmt;

use apache_avro::schema::{Name, Namespace, ResolvedSchema, Schema};
use serde::de::{self, DeserializeSeed, Visitor};
use serde::Deserialize;

use crate::registry::MAX_DECODE_ALLOCATION;

/// A writer schema compiled for decoding.
pub(crate) struct Tree {
    nodes: Vec<Node>,
    root: usize,
}

/// One schema node; children are indices into [`Tree::nodes`].
pub(crate) enum Node {
    Null,
    Boolean,
    /// `int` and the logical types stored as one (`date`, `time-millis`).
    Int,
    /// `long` and the logical types stored as one (`time-micros`, `timestamp-*`,
    /// `local-timestamp-*`).
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    Enum(Box<[Box<str>]>),
    Array(usize),
    Map(usize),
    Union(Box<[usize]>),
    Record(Box<[Field]>),
}

pub(crate) struct Field {
    name: Box<str>,
    node: usize,
}

impl Field {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
    pub(crate) fn node(&self) -> usize {
        self.node
    }
}

/// Why a schema could not be compiled (the codec then keeps using the `Value` path for it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CompileError {
    #[error("schema names cannot be resolved: {0}")]
    Names(String),
    #[error("reference to unknown type {0}")]
    UnknownName(String),
    #[error("schema type {0} is not supported by the direct decoder")]
    Unsupported(&'static str),
}

impl Tree {
    pub(crate) fn compile(schema: &Schema) -> Result<Tree, CompileError> {
        let resolved = ResolvedSchema::try_from(schema).map_err(|e| CompileError::Names(e.to_string()))?;
        let mut compiler = Compiler { names: resolved.get_names(), nodes: Vec::new(), named: HashMap::new() };
        let root = compiler.node(schema, &None)?;
        Ok(Tree { nodes: compiler.nodes, root })
    }

    fn node(&self, index: usize) -> &Node {
        // Indices are only ever produced by `Compiler` for this tree.
        &self.nodes[index]
    }

    /// For the direct encoder (`direct_ser`): the root node's index and a node by index.
    pub(crate) fn root(&self) -> usize {
        self.root
    }
    pub(crate) fn node_at(&self, index: usize) -> &Node {
        self.node(index)
    }
}

struct Compiler<'s> {
    names: &'s HashMap<Name, &'s Schema>,
    nodes: Vec<Node>,
    /// Named types already compiled (or being compiled: recursive types), by full name.
    named: HashMap<Name, usize>,
}

impl Compiler<'_> {
    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn node(&mut self, schema: &Schema, enclosing: &Namespace) -> Result<usize, CompileError> {
        let node = match schema {
            Schema::Null => Node::Null,
            Schema::Boolean => Node::Boolean,
            Schema::Int | Schema::Date | Schema::TimeMillis => Node::Int,
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Node::Long,
            Schema::Float => Node::Float,
            Schema::Double => Node::Double,
            Schema::Bytes => Node::Bytes,
            Schema::String => Node::String,
            Schema::Array(array) => {
                let slot = self.push(Node::Null);
                let items = self.node(&array.items, enclosing)?;
                self.nodes[slot] = Node::Array(items);
                return Ok(slot);
            }
            Schema::Map(map) => {
                let slot = self.push(Node::Null);
                let values = self.node(&map.types, enclosing)?;
                self.nodes[slot] = Node::Map(values);
                return Ok(slot);
            }
            Schema::Union(union) => {
                let slot = self.push(Node::Null);
                let variants =
                    union.variants().iter().map(|v| self.node(v, enclosing)).collect::<Result<Box<[_]>, _>>()?;
                self.nodes[slot] = Node::Union(variants);
                return Ok(slot);
            }
            Schema::Record(record) => {
                let name = record.name.fully_qualified_name(enclosing);
                if let Some(&index) = self.named.get(&name) {
                    return Ok(index);
                }
                let slot = self.push(Node::Null);
                self.named.insert(name.clone(), slot);
                let mut fields = Vec::with_capacity(record.fields.len());
                for field in &record.fields {
                    let node = self.node(&field.schema, &name.namespace)?;
                    fields.push(Field { name: field.name.as_str().into(), node });
                }
                self.nodes[slot] = Node::Record(fields.into_boxed_slice());
                return Ok(slot);
            }
            Schema::Enum(e) => {
                let name = e.name.fully_qualified_name(enclosing);
                if let Some(&index) = self.named.get(&name) {
                    return Ok(index);
                }
                let slot = self.push(Node::Enum(e.symbols.iter().map(|s| s.as_str().into()).collect()));
                self.named.insert(name, slot);
                return Ok(slot);
            }
            Schema::Fixed(f) => {
                let name = f.name.fully_qualified_name(enclosing);
                if let Some(&index) = self.named.get(&name) {
                    return Ok(index);
                }
                let slot = self.push(Node::Fixed(f.size));
                self.named.insert(name, slot);
                return Ok(slot);
            }
            Schema::Ref { name } => {
                let name = name.fully_qualified_name(enclosing);
                if let Some(&index) = self.named.get(&name) {
                    return Ok(index);
                }
                let target = *self.names.get(&name).ok_or_else(|| CompileError::UnknownName(name.to_string()))?;
                return self.node(target, &name.namespace);
            }
            // Their `from_value` forms (decimal bytes, formatted UUIDs, durations) are not reproduced.
            Schema::Decimal(_) => return Err(CompileError::Unsupported("decimal")),
            Schema::BigDecimal => return Err(CompileError::Unsupported("big-decimal")),
            Schema::Uuid => return Err(CompileError::Unsupported("uuid")),
            Schema::Duration => return Err(CompileError::Unsupported("duration")),
        };
        Ok(self.push(node))
    }
}

/// What is wrong with a datum, and where in it (field names and array positions, outermost first).
#[derive(Debug)]
pub(crate) struct DecodeError(Box<ErrorInner>);

#[derive(Debug)]
struct ErrorInner {
    kind: ErrorKind,
    /// Innermost first (pushed while the error travels up).
    path: Vec<PathSegment>,
}

#[derive(Debug)]
enum PathSegment {
    Field(Box<str>),
    Index(usize),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ErrorKind {
    #[error("the datum ends early: {0} is cut off")]
    UnexpectedEnd(&'static str),
    #[error("variable-length integer longer than 10 bytes")]
    VarintOverflow,
    #[error("int value {0} is out of the 32-bit range")]
    IntOutOfRange(i64),
    #[error("negative length {0}")]
    NegativeLength(i64),
    #[error("length {len} exceeds the decode limit of {max} bytes")]
    TooLarge { len: u64, max: usize },
    #[error("array or map block count {0} cannot be negated")]
    BlockCountOverflow(i64),
    #[error("string is not valid UTF-8: {0}")]
    InvalidUtf8(std::str::Utf8Error),
    #[error("invalid boolean byte {0:#04x}")]
    InvalidBool(u8),
    #[error("union branch index {index} out of range (the union has {variants})")]
    UnionIndex { index: i64, variants: usize },
    #[error("enum symbol index {index} out of range (the enum has {symbols})")]
    EnumIndex { index: i64, symbols: usize },
    #[error("{0}")]
    Serde(String),
}

impl DecodeError {
    fn new(kind: ErrorKind) -> Self {
        DecodeError(Box::new(ErrorInner { kind, path: Vec::new() }))
    }

    pub(crate) fn in_field(mut self, name: &str) -> Self {
        self.0.path.push(PathSegment::Field(name.into()));
        self
    }

    pub(crate) fn at_index(mut self, index: usize) -> Self {
        self.0.path.push(PathSegment::Index(index));
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.kind)?;
        if !self.0.path.is_empty() {
            f.write_str(" at ")?;
            for (i, segment) in self.0.path.iter().rev().enumerate() {
                match segment {
                    PathSegment::Field(name) if i == 0 => write!(f, "{name}")?,
                    PathSegment::Field(name) => write!(f, ".{name}")?,
                    PathSegment::Index(index) => write!(f, "[{index}]")?,
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError::new(ErrorKind::Serde(msg.to_string()))
    }
}

pub(crate) type Result<T, E = DecodeError> = std::result::Result<T, E>;

fn err<T>(kind: ErrorKind) -> Result<T> {
    Err(DecodeError::new(kind))
}

/// The rest of the datum.
pub(crate) struct Input<'de> {
    pub(crate) data: &'de [u8],
}

impl<'de> Input<'de> {
    #[inline]
    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8> {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                Ok(b)
            }
            None => err(ErrorKind::UnexpectedEnd(what)),
        }
    }

    /// Exactly what apache-avro accepts: at most 10 bytes, bits beyond 64 dropped.
    #[inline]
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64> {
        let mut value = 0u64;
        for (i, &b) in self.data.iter().take(10).enumerate() {
            value |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                self.data = &self.data[i + 1..];
                return Ok(value);
            }
        }
        if self.data.len() >= 10 {
            err(ErrorKind::VarintOverflow)
        } else {
            err(ErrorKind::UnexpectedEnd(what))
        }
    }

    #[inline]
    pub(crate) fn long(&mut self, what: &'static str) -> Result<i64> {
        let z = self.varint(what)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    #[inline]
    pub(crate) fn int(&mut self, what: &'static str) -> Result<i32> {
        let v = self.long(what)?;
        i32::try_from(v).map_err(|_| DecodeError::new(ErrorKind::IntOutOfRange(v)))
    }

    #[inline]
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'de [u8]> {
        if n > self.data.len() {
            return err(ErrorKind::UnexpectedEnd(what));
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }

    /// A length prefix of bytes or a string, then that many bytes.
    #[inline]
    pub(crate) fn length_prefixed(&mut self, what: &'static str) -> Result<&'de [u8]> {
        let len = self.long(what)?;
        let len = check_len(len)?;
        self.take(len, what)
    }

    #[inline]
    pub(crate) fn str(&mut self) -> Result<&'de str> {
        let bytes = self.length_prefixed("string")?;
        std::str::from_utf8(bytes).map_err(|e| DecodeError::new(ErrorKind::InvalidUtf8(e)))
    }

    #[inline]
    pub(crate) fn boolean(&mut self) -> Result<bool> {
        match self.byte("boolean")? {
            0 => Ok(false),
            1 => Ok(true),
            b => err(ErrorKind::InvalidBool(b)),
        }
    }

    #[inline]
    pub(crate) fn f32(&mut self) -> Result<f32> {
        let b = self.take(4, "float")?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(f32::from_le_bytes(a))
    }

    #[inline]
    pub(crate) fn f64(&mut self) -> Result<f64> {
        let b = self.take(8, "double")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    /// The item count of the next array or map block (0: the end). A negative count is followed by
    /// the block's size in bytes, which is read and not needed.
    #[inline]
    pub(crate) fn block_count(&mut self, what: &'static str) -> Result<usize> {
        let raw = self.long(what)?;
        let count = if raw < 0 {
            self.long(what)?;
            raw.checked_neg().ok_or_else(|| DecodeError::new(ErrorKind::BlockCountOverflow(raw)))?
        } else {
            raw
        };
        check_len(count)
    }

    #[inline]
    pub(crate) fn union_index(&mut self, variants: usize) -> Result<usize> {
        let index = self.long("union branch index")?;
        match usize::try_from(index) {
            Ok(i) if i < variants => Ok(i),
            _ => err(ErrorKind::UnionIndex { index, variants }),
        }
    }

    #[inline]
    pub(crate) fn enum_index(&mut self, symbols: usize) -> Result<usize> {
        let index = self.int("enum symbol index")?;
        match usize::try_from(index) {
            Ok(i) if i < symbols => Ok(i),
            _ => err(ErrorKind::EnumIndex { index: i64::from(index), symbols }),
        }
    }
}

/// A length or count as `usize`, within [`MAX_DECODE_ALLOCATION`] (apache-avro's `safe_len`).
#[inline]
fn check_len(len: i64) -> Result<usize> {
    if len < 0 {
        return err(ErrorKind::NegativeLength(len));
    }
    match usize::try_from(len) {
        Ok(n) if n <= MAX_DECODE_ALLOCATION => Ok(n),
        _ => err(ErrorKind::TooLarge { len: len.unsigned_abs(), max: MAX_DECODE_ALLOCATION }),
    }
}

/// Decodes one datum written with `tree`'s schema from the start of `datum`; bytes after it are
/// ignored.
pub(crate) fn from_datum<'de, T: Deserialize<'de>>(tree: &Tree, datum: &'de [u8]) -> Result<T> {
    let mut input = Input { data: datum };
    T::deserialize(Deser { tree, node: tree.root, input: &mut input })
}

/// Reads (and checks, as building a `Value` would) one datum of `node` without keeping it.
fn skip(tree: &Tree, node: usize, input: &mut Input<'_>) -> Result<()> {
    match tree.node(node) {
        Node::Null => {}
        Node::Boolean => {
            input.boolean()?;
        }
        Node::Int => {
            input.int("int")?;
        }
        Node::Long => {
            input.long("long")?;
        }
        Node::Float => {
            input.take(4, "float")?;
        }
        Node::Double => {
            input.take(8, "double")?;
        }
        Node::Bytes => {
            input.length_prefixed("bytes")?;
        }
        Node::String => {
            input.str()?;
        }
        &Node::Fixed(size) => {
            input.take(size, "fixed")?;
        }
        Node::Enum(symbols) => {
            input.enum_index(symbols.len())?;
        }
        &Node::Array(items) => loop {
            let count = input.block_count("array block count")?;
            if count == 0 {
                break;
            }
            for i in 0..count {
                skip(tree, items, input).map_err(|e| e.at_index(i))?;
            }
        },
        &Node::Map(values) => loop {
            let count = input.block_count("map block count")?;
            if count == 0 {
                break;
            }
            for _ in 0..count {
                let key = input.str()?;
                skip(tree, values, input).map_err(|e| e.in_field(key))?;
            }
        },
        Node::Union(variants) => {
            let i = input.union_index(variants.len())?;
            skip(tree, variants[i], input)?;
        }
        Node::Record(fields) => {
            for field in fields.iter() {
                skip(tree, field.node, input).map_err(|e| e.in_field(&field.name))?;
            }
        }
    }
    Ok(())
}

/// Deserializes one datum of `node`.
struct Deser<'a, 'de> {
    tree: &'a Tree,
    node: usize,
    input: &'a mut Input<'de>,
}

impl<'a, 'de> Deser<'a, 'de> {
    fn at(&mut self, node: usize) -> Deser<'_, 'de> {
        Deser { tree: self.tree, node, input: self.input }
    }

    fn kind(&self) -> &'static str {
        match self.tree.node(self.node) {
            Node::Null => "null",
            Node::Boolean => "boolean",
            Node::Int => "int",
            Node::Long => "long",
            Node::Float => "float",
            Node::Double => "double",
            Node::Bytes => "bytes",
            Node::String => "string",
            Node::Fixed(_) => "fixed",
            Node::Enum(_) => "enum",
            Node::Array(_) => "array",
            Node::Map(_) => "map",
            Node::Union(_) => "union",
            Node::Record(_) => "record",
        }
    }

    fn mismatch<T>(&self, expected: &str) -> Result<T> {
        Err(de::Error::custom(format!("expected {expected}, but the writer schema has {}", self.kind())))
    }

    /// A union's branch: reads the index, returns the branch's node.
    fn branch(&mut self) -> Result<Option<usize>> {
        match self.tree.node(self.node) {
            Node::Union(variants) => {
                let i = self.input.union_index(variants.len())?;
                Ok(Some(variants[i]))
            }
            _ => Ok(None),
        }
    }

    fn visit_record<V: Visitor<'de>>(self, fields: &'a [Field], visitor: V) -> Result<V::Value> {
        let mut access = RecordAccess { tree: self.tree, fields, next: 0, value_pending: false, input: self.input };
        let value = visitor.visit_map(&mut access)?;
        access.finish()?;
        Ok(value)
    }

    fn visit_array<V: Visitor<'de>>(self, items: usize, visitor: V) -> Result<V::Value> {
        let mut access = ArrayAccess { tree: self.tree, items, left: 0, index: 0, done: false, input: self.input };
        // The first block's count, so `size_hint` can tell it.
        access.more()?;
        let value = visitor.visit_seq(&mut access)?;
        access.finish()?;
        Ok(value)
    }

    fn visit_map_node<V: Visitor<'de>>(self, values: usize, visitor: V) -> Result<V::Value> {
        let mut access =
            MapAccess { tree: self.tree, values, left: 0, done: false, pending_key: None, input: self.input };
        let value = visitor.visit_map(&mut access)?;
        access.finish()?;
        Ok(value)
    }
}

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

/// A record's fields, in schema order, keyed by field name.
struct RecordAccess<'a, 'de> {
    tree: &'a Tree,
    fields: &'a [Field],
    next: usize,
    value_pending: bool,
    input: &'a mut Input<'de>,
}

impl RecordAccess<'_, '_> {
    /// Reads the field at `next` without keeping it.
    fn skip_next(&mut self) -> Result<()> {
        self.value_pending = false;
        if let Some(field) = self.fields.get(self.next) {
            skip(self.tree, field.node, self.input).map_err(|e| e.in_field(&field.name))?;
            self.next += 1;
        }
        Ok(())
    }

    /// Reads whatever the visitor left (it may stop early), so the next datum starts where it should.
    fn finish(&mut self) -> Result<()> {
        while self.next < self.fields.len() {
            self.skip_next()?;
        }
        Ok(())
    }
}

impl<'de> de::MapAccess<'de> for RecordAccess<'_, 'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.value_pending {
            // The previous key's value was never asked for.
            self.skip_next()?;
        }
        match self.fields.get(self.next) {
            Some(field) => {
                self.value_pending = true;
                seed.deserialize(FieldName(&field.name)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let Some(field) = self.fields.get(self.next).filter(|_| self.value_pending) else {
            return Err(de::Error::custom("record value asked for before its key"));
        };
        self.value_pending = false;
        self.next += 1;
        seed.deserialize(Deser { tree: self.tree, node: field.node, input: self.input })
            .map_err(|e| e.in_field(&field.name))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len() - self.next)
    }
}

/// A record field name as a map key.
struct FieldName<'a>(&'a str);

impl<'de> de::Deserializer<'de> for FieldName<'_> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_str(self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// The items of an array, block by block.
struct ArrayAccess<'a, 'de> {
    tree: &'a Tree,
    items: usize,
    /// Items left in the current block.
    left: usize,
    /// Position of the next item (for error paths).
    index: usize,
    done: bool,
    input: &'a mut Input<'de>,
}

impl ArrayAccess<'_, '_> {
    /// Whether another item follows; reads block counts as needed.
    fn more(&mut self) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        if self.left == 0 {
            self.left = self.input.block_count("array block count")?;
            if self.left == 0 {
                self.done = true;
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn finish(&mut self) -> Result<()> {
        while self.more()? {
            self.left -= 1;
            skip(self.tree, self.items, self.input).map_err(|e| e.at_index(self.index))?;
            self.index += 1;
        }
        Ok(())
    }
}

impl<'de> de::SeqAccess<'de> for ArrayAccess<'_, 'de> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if !self.more()? {
            return Ok(None);
        }
        self.left -= 1;
        let index = self.index;
        self.index += 1;
        seed.deserialize(Deser { tree: self.tree, node: self.items, input: self.input })
            .map(Some)
            .map_err(|e| e.at_index(index))
    }

    fn size_hint(&self) -> Option<usize> {
        // Only the current block is known; never more than there are bytes left (serde caps
        // preallocation further).
        Some(self.left.min(self.input.data.len()))
    }
}

/// The entries of a map, block by block; keys are strings.
struct MapAccess<'a, 'de> {
    tree: &'a Tree,
    values: usize,
    left: usize,
    done: bool,
    /// The key just read, until its value is (for error paths, and to skip an unread value).
    pending_key: Option<&'de str>,
    input: &'a mut Input<'de>,
}

impl MapAccess<'_, '_> {
    fn more(&mut self) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        if self.left == 0 {
            self.left = self.input.block_count("map block count")?;
            if self.left == 0 {
                self.done = true;
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn skip_pending(&mut self) -> Result<()> {
        if let Some(key) = self.pending_key.take() {
            skip(self.tree, self.values, self.input).map_err(|e| e.in_field(key))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.skip_pending()?;
        while self.more()? {
            self.left -= 1;
            let key = self.input.str()?;
            skip(self.tree, self.values, self.input).map_err(|e| e.in_field(key))?;
        }
        Ok(())
    }
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, 'de> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        self.skip_pending()?;
        if !self.more()? {
            return Ok(None);
        }
        self.left -= 1;
        let key = self.input.str()?;
        self.pending_key = Some(key);
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let Some(key) = self.pending_key.take() else {
            return Err(de::Error::custom("map value asked for before its key"));
        };
        seed.deserialize(Deser { tree: self.tree, node: self.values, input: self.input }).map_err(|e| e.in_field(key))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left.min(self.input.data.len()))
    }
}

/// An Avro enum symbol (or a string) as a unit variant.
struct UnitVariant<'a>(&'a str);

impl<'de> de::EnumAccess<'de> for UnitVariant<'_> {
    type Error = DecodeError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        let value = seed.deserialize(FieldName(self.0))?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant<'_> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value> {
        Err(de::Error::custom("an avro enum symbol has no value: expected a unit variant"))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value> {
        Err(de::Error::custom("an avro enum symbol has no value: expected a unit variant"))
    }

    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], _visitor: V) -> Result<V::Value> {
        Err(de::Error::custom("an avro enum symbol has no value: expected a unit variant"))
    }
}

/// A union branch as the variant of the same position.
struct UnionVariant<'a, 'de> {
    name: &'static str,
    de: Deser<'a, 'de>,
}

impl<'a, 'de> de::EnumAccess<'de> for UnionVariant<'a, 'de> {
    type Error = DecodeError;
    type Variant = Deser<'a, 'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant)> {
        let value = seed.deserialize(FieldName(self.name))?;
        Ok((value, self.de))
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

#[cfg(test)]
mod tests {
    //! What the embedded families do not use (enums, fixed, bytes, float, logical types, named
    //! references, recursion, Rust enums over unions), against `from_value` on the same datum.

    use apache_avro::types::Value;
    use apache_avro::{from_avro_datum, from_value, to_avro_datum, Schema};
    use serde::de::DeserializeOwned;
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

    #[test]
    fn varints_are_read_as_apache_avro_reads_them() {
        let mut ten = Input { data: &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] };
        assert_eq!(ten.long("long").expect("10 bytes"), i64::MIN);
        let mut eleven = Input { data: &[0xFF; 11] };
        assert!(matches!(eleven.long("long").map_err(|e| e.0.kind), Err(ErrorKind::VarintOverflow)));
        let mut cut = Input { data: &[0x80, 0x80] };
        assert!(matches!(cut.long("long").map_err(|e| e.0.kind), Err(ErrorKind::UnexpectedEnd("long"))));
        let mut big = Input { data: &[0x80, 0x80, 0x80, 0x80, 0x10] };
        assert!(matches!(big.int("int").map_err(|e| e.0.kind), Err(ErrorKind::IntOutOfRange(_))));
        let mut min = Input { data: &[0x01] };
        assert_eq!(min.long("long").expect("-1"), -1);
    }

    #[test]
    fn unsupported_types_are_refused_at_compile_time() {
        let schema = Schema::parse_str(r#"{"type": "string", "logicalType": "uuid"}"#).expect("uuid");
        assert!(matches!(Tree::compile(&schema), Err(CompileError::Unsupported("uuid"))));
    }
}
