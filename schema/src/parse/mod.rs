//! Text to [`Node`] trees: one parser per format, one error type for all.

mod json;
mod yaml;

pub use json::parse_json;
pub use yaml::parse_yaml;

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
