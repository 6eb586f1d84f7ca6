//! The value the direct decoder hands serde: one datum of one schema node, with the input it is
//! read from.

use serde::de;

use super::error::Result;
use super::input::Input;
use super::tree::{Node, Tree};

/// One datum of `node`, still to be read: what serde is handed (its `Deserializer` impl is in
/// `de.rs`, the record, array and map walks in `compound.rs`).
pub(super) struct Deser<'a, 'de> {
    pub(super) tree: &'a Tree,
    pub(super) node: usize,
    pub(super) input: &'a mut Input<'de>,
}

impl<'a, 'de> Deser<'a, 'de> {
    pub(super) fn at(&mut self, node: usize) -> Deser<'_, 'de> {
        Deser { tree: self.tree, node, input: self.input }
    }

    pub(super) fn kind(&self) -> &'static str {
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

    pub(super) fn mismatch<T>(&self, expected: &str) -> Result<T> {
        Err(de::Error::custom(format!("expected {expected}, but the writer schema has {}", self.kind())))
    }

    /// A union's branch: reads the index, returns the branch's node.
    pub(super) fn branch(&mut self) -> Result<Option<usize>> {
        match self.tree.node(self.node) {
            Node::Union(variants) => {
                let i = self.input.union_index(variants.len())?;
                Ok(Some(variants[i]))
            }
            _ => Ok(None),
        }
    }
}
