//! Reading a datum without keeping it: the fields a Rust type does not ask for, and whatever a
//! visitor leaves, so the next datum starts where it should.

use super::error::Result;
use super::input::Input;
use super::tree::{Node, Tree};

/// Reads (and checks, as building a `Value` would) one datum of `node` without keeping it.
pub(super) fn skip(tree: &Tree, node: usize, input: &mut Input<'_>) -> Result<()> {
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
                skip(tree, field.node(), input).map_err(|e| e.in_field(field.name()))?;
            }
        }
    }
    Ok(())
}
