//! A writer schema compiled once for decoding and encoding: an arena of [`Node`]s with every named
//! reference resolved to an index, so walking a datum never looks a name up.

use std::collections::HashMap;

use apache_avro::schema::{Name, Namespace, ResolvedSchema, Schema};

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

    /// The index of the schema's own node.
    pub(crate) fn root(&self) -> usize {
        self.root
    }

    /// The node at `index`: the root or an index found in another node of this tree.
    pub(crate) fn node(&self, index: usize) -> &Node {
        // Indices are only ever produced by `Compiler` for this tree.
        &self.nodes[index]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_types_are_refused_at_compile_time() {
        let schema = Schema::parse_str(r#"{"type": "string", "logicalType": "uuid"}"#).expect("uuid");
        assert!(matches!(Tree::compile(&schema), Err(CompileError::Unsupported("uuid"))));
    }
}
