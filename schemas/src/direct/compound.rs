//! Records, arrays, maps, enum symbols and union branches as serde walks them: the `MapAccess`,
//! `SeqAccess` and `EnumAccess` the deserializer hands a visitor. Each reads its datum to the end
//! even when the visitor stops early.

use serde::de::{self, DeserializeSeed, Visitor};

use super::datum::Deser;
use super::error::{DecodeError, Result};
use super::input::Input;
use super::skip::skip;
use super::tree::{Field, Tree};

impl<'a, 'de> Deser<'a, 'de> {
    pub(super) fn visit_record<V: Visitor<'de>>(self, fields: &'a [Field], visitor: V) -> Result<V::Value> {
        let mut access = RecordAccess { tree: self.tree, fields, next: 0, value_pending: false, input: self.input };
        let value = visitor.visit_map(&mut access)?;
        access.finish()?;
        Ok(value)
    }

    pub(super) fn visit_array<V: Visitor<'de>>(self, items: usize, visitor: V) -> Result<V::Value> {
        let mut access = ArrayAccess { tree: self.tree, items, left: 0, index: 0, done: false, input: self.input };
        // The first block's count, so `size_hint` can tell it.
        access.more()?;
        let value = visitor.visit_seq(&mut access)?;
        access.finish()?;
        Ok(value)
    }

    pub(super) fn visit_map_node<V: Visitor<'de>>(self, values: usize, visitor: V) -> Result<V::Value> {
        let mut access =
            MapAccess { tree: self.tree, values, left: 0, done: false, pending_key: None, input: self.input };
        let value = visitor.visit_map(&mut access)?;
        access.finish()?;
        Ok(value)
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
            skip(self.tree, field.node(), self.input).map_err(|e| e.in_field(field.name()))?;
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
                seed.deserialize(FieldName(field.name())).map(Some)
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
        seed.deserialize(Deser { tree: self.tree, node: field.node(), input: self.input })
            .map_err(|e| e.in_field(field.name()))
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
pub(super) struct UnitVariant<'a>(pub(super) &'a str);

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
pub(super) struct UnionVariant<'a, 'de> {
    pub(super) name: &'static str,
    pub(super) de: Deser<'a, 'de>,
}

impl<'a, 'de> de::EnumAccess<'de> for UnionVariant<'a, 'de> {
    type Error = DecodeError;
    type Variant = Deser<'a, 'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant)> {
        let value = seed.deserialize(FieldName(self.name))?;
        Ok((value, self.de))
    }
}
