//! What can go wrong in the registry, with the path or hash it concerns.

use std::path::PathBuf;

use rtt_canonical::Sha256;

/// A registry failure. Corruption is always an error, never data.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RegistryError {
    /// The file system refused.
    #[error("failed to {action} {path}: {source}")]
    #[diagnostic(code(rtt::registry::io))]
    Io {
        /// What we were doing.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Stored bytes no longer match their hash or checksum.
    #[error("corrupt {what} at {path}: {detail}")]
    #[diagnostic(
        code(rtt::registry::corrupt),
        help(
            "nothing was served from it; `rtt registry verify` lists every damaged object; re-add the manifest or restore the file"
        )
    )]
    Corrupt {
        /// Object, pack, lut or index.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// What does not match.
        detail: String,
    },
    /// No object with this hash, loose or packed.
    #[error("object {0} is not in the registry")]
    #[diagnostic(
        code(rtt::registry::missing),
        help("`rtt registry ls` lists the index; `rtt registry add FILE` stores a manifest")
    )]
    Missing(Sha256),
    /// An id that is not in the index.
    #[error("agent {0} is not in the registry index")]
    #[diagnostic(
        code(rtt::registry::unknown_id),
        help("`rtt registry ls` lists the index; `rtt registry add FILE` stores a manifest")
    )]
    UnknownId(String),
    /// Input that cannot be stored (not JSON, too large, no id).
    #[error("{path}:{line}:{column}: {message}")]
    #[diagnostic(code(rtt::registry::invalid))]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what would be valid.
        message: String,
    },
    /// An overlay that does not apply.
    #[error("{file}: agents.{selector:?}: {message}")]
    #[diagnostic(
        code(rtt::registry::overlay),
        help("overlay entries are {{\"merge\": <RFC 7396 merge patch>, \"patch\": [<RFC 6902 operations>]}}")
    )]
    Overlay {
        /// The overlay file.
        file: PathBuf,
        /// The selector (`*` or an agent id).
        selector: String,
        /// Which operation failed and why.
        message: String,
    },
    /// Something the registry needs is not there (an env overlay the config names, a manifest).
    #[error("{0}")]
    #[diagnostic(code(rtt::registry::unavailable))]
    Unavailable(String),
}

impl RegistryError {
    /// An IO error with what we were doing and where.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| RegistryError::Io { action, path, source }
    }

    /// True when the error says stored bytes are damaged.
    pub fn is_corruption(&self) -> bool {
        matches!(self, RegistryError::Corrupt { .. })
    }
}

/// Result with [`RegistryError`].
pub type Result<T> = std::result::Result<T, RegistryError>;
