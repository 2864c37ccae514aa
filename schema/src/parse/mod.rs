//! Text to [`Node`] trees: one parser per format, one error type for all.

mod json;
mod yaml;

pub use json::parse_json;
pub use yaml::parse_yaml;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::source::Span;

/// How deep a document may nest before it is rejected (guards the stack).
pub const MAX_DEPTH: usize = 64;

/// Text that is not well-formed JSON or YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// What is wrong, as a lowercase fragment.
    pub message: String,
    /// Where.
    pub span: Span,
    /// What would be valid, when there is something useful to say.
    pub help: Option<String>,
}

impl SyntaxError {
    fn new(message: impl Into<String>, span: Span) -> Self {
        Self { message: message.into(), span, help: None }
    }

    fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Text a span cannot point into is refused before parsing.
fn check_size(text: &str) -> Result<(), SyntaxError> {
    if text.len() > Span::MAX_TEXT {
        return Err(SyntaxError::new(
            format!("the file is {} bytes; rtt reads configs up to 4 GiB", text.len()),
            Span::new(0, 0),
        ));
    }
    Ok(())
}

/// Mapping keys and string values, each text stored once per document.
#[derive(Default)]
struct Keys(HashSet<Arc<str>>);

impl Keys {
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(key) = self.0.get(name) {
            return Arc::clone(key);
        }
        let key: Arc<str> = name.into();
        self.0.insert(Arc::clone(&key));
        key
    }
}

/// A mapping's keys so far, for duplicate detection: a scan by pointer (keys
/// are interned) while the mapping is small, a hash map past
/// [`SeenKeys::SMALL`] keys, so detection stays linear in the mapping's size
/// without a hash map for every little mapping.
struct SeenKeys<V> {
    small: Vec<(Arc<str>, V)>,
    large: Option<HashMap<Arc<str>, V>>,
}

impl<V: Copy> SeenKeys<V> {
    const SMALL: usize = 16;

    fn new() -> Self {
        Self { small: Vec::new(), large: None }
    }

    fn get(&self, key: &Arc<str>) -> Option<V> {
        match &self.large {
            Some(map) => map.get(key).copied(),
            None => self.small.iter().find(|(seen, _)| Arc::ptr_eq(seen, key)).map(|(_, v)| *v),
        }
    }

    fn insert(&mut self, key: Arc<str>, value: V) {
        match &mut self.large {
            Some(map) => {
                map.insert(key, value);
            }
            None => {
                self.small.push((key, value));
                if self.small.len() > Self::SMALL {
                    self.large = Some(self.small.drain(..).collect());
                }
            }
        }
    }
}
