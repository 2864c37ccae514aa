//! One problem found in a config, located by path until a source is at hand,
//! and its rendering as a miette diagnostic with a source span.

use std::fmt;

use miette::{Diagnostic, LabeledSpan, SourceSpan};

use crate::source::{Node, Path, SourceFile, Span, Target};

/// A problem in a config, located by its path in the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// Where the problem is.
    pub path: Path,
    /// Whether to point at the value or at its key.
    pub target: Target,
    /// What is wrong (a lowercase sentence fragment).
    pub message: String,
    /// A short label under the offending text.
    pub label: String,
    /// What would be valid.
    pub help: Option<String>,
    /// Other places that explain the problem, e.g. the first of two duplicates.
    pub also: Vec<(Path, String)>,
}

impl Issue {
    /// An issue about the value at `path`.
    pub fn new(path: &Path, message: String, label: String) -> Self {
        Self::at(path, Target::Value, message, label)
    }

    /// An issue about the value or key at `path`.
    pub fn at(path: &Path, target: Target, message: String, label: String) -> Self {
        Self { path: path.clone(), target, message, label, help: None, also: Vec::new() }
    }

    /// With a hint of what would be valid.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// With a hint, if there is one.
    pub fn help_opt(mut self, help: Option<&str>) -> Self {
        self.help = help.map(|h| format!("expected: {}", h.trim_end_matches('.').to_lowercase()));
        self
    }

    /// With a second place to show.
    pub fn also(mut self, path: &Path, label: impl Into<String>) -> Self {
        self.also.push((path.clone(), label.into()));
        self
    }

    /// Resolves the path to a span of `source` (consuming the issue: a
    /// generated config can have thousands, and their text moves, not copies).
    pub fn locate(self, source: &SourceFile, root: &Node) -> LocatedIssue {
        let span = root.span_of(&self.path, self.target);
        let (line, column) = source.line_col(span.start());
        let also = self
            .also
            .iter()
            .map(|(path, label)| LabeledSpan::new_with_span(Some(label.clone()), root.span_of(path, Target::Key)))
            .collect();
        LocatedIssue { also, ..LocatedIssue::at_span(self, source, span, line, column) }
    }
}

impl LocatedIssue {
    pub(crate) fn at_span(issue: Issue, source: &SourceFile, span: Span, line: usize, column: usize) -> Self {
        let path = if issue.path.0.is_empty() { String::new() } else { issue.path.to_string() };
        LocatedIssue {
            message: issue.message,
            label: issue.label,
            help: issue.help,
            path,
            file: source.name().to_owned(),
            line,
            column,
            span: span.into(),
            also: Vec::new(),
            source: source.clone(),
        }
    }
}

/// An [`Issue`] with its file, line, column and span: a renderable diagnostic.
#[derive(Debug, Clone)]
pub struct LocatedIssue {
    /// What is wrong.
    pub message: String,
    /// Label under the offending text.
    pub label: String,
    /// What would be valid.
    pub help: Option<String>,
    /// Path in the document, like `agents[3].pin.host` (empty for syntax errors).
    pub path: String,
    /// File name as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    span: SourceSpan,
    also: Vec<LabeledSpan>,
    source: SourceFile,
}

impl fmt::Display for LocatedIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LocatedIssue {}

impl Diagnostic for LocatedIssue {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = LabeledSpan::new_primary_with_span(Some(self.label.clone()), self.span);
        Some(Box::new(std::iter::once(primary).chain(self.also.iter().cloned())))
    }
}
