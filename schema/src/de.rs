//! serde over the spanned tree: a checked [`Node`] deserializes straight into
//! `raw::Config`, without first copying the whole document into a
//! `serde_json::Value` (that copy was the largest allocation of validating a
//! large config). Same meaning as `serde_json::from_value(node.to_json())`.

use serde::de::value::{Error, StrDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use crate::source::{Key, Node, Number, Value};

/// Deserializes `T` from `node`.
pub fn from_node<'a, T: de::Deserialize<'a>>(node: &'a Node) -> Result<T, Error> {
    T::deserialize(node)
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(Number::Unsigned(n)) => visitor.visit_u64(*n),
            Value::Number(Number::Signed(n)) => visitor.visit_i64(*n),
            Value::Number(Number::Float(x)) => visitor.visit_f64(*x),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Seq(items) => visitor.visit_seq(Items(items.iter())),
            Value::Map(entries) => visitor.visit_map(Entries { entries: entries.iter(), value: None }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.value {
            // Unit variants, as serde_json reads them from a string.
            Value::String(s) => visitor.visit_enum::<StrDeserializer<'_, Error>>((&**s).into_deserializer()),
            other => Err(de::Error::custom(format!("expected a string naming a variant, found {}", other.kind()))),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct Items<'a>(std::slice::Iter<'a, Node>);

impl<'de> de::SeqAccess<'de> for Items<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|item| seed.deserialize(item)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'a> {
    entries: std::slice::Iter<'a, (Key, Node)>,
    value: Option<&'a Node>,
}

impl<'de> de::MapAccess<'de> for Entries<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(de::value::BorrowedStrDeserializer::new(&key.name)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self.value.take().ok_or_else(|| de::Error::custom("a map value without its key"))?;
        seed.deserialize(value)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_json, parse_yaml};
    use crate::raw;

    #[test]
    fn the_same_config_as_through_a_json_value() {
        for file in ["examples/fleet/rtt.yaml", "examples/quickstart/rtt.yaml", "examples/views/rtt.yaml"] {
            let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file))
                .expect("example");
            let root = parse_yaml(&text).expect("yaml");
            let direct: raw::Config = from_node(&root).expect("direct");
            let through: raw::Config = serde_json::from_value(root.to_json()).expect("through a Value");
            assert_eq!(direct, through, "{file}");
        }
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let root = parse_json(r#"{"version": "one"}"#).expect("json");
        assert!(from_node::<raw::Config>(&root).is_err());
        let qos = parse_json(r#"["fast"]"#).expect("json");
        assert!(from_node::<Vec<raw::Qos>>(&qos).is_err());
        let ok = parse_json(r#"["guaranteed", "best-effort"]"#).expect("json");
        assert_eq!(from_node::<Vec<raw::Qos>>(&ok).expect("qos"), vec![raw::Qos::Guaranteed, raw::Qos::BestEffort]);
    }
}
