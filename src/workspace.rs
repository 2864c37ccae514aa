//! Where `.rtt/` is: one rule for every command (docs/cli.md).
//!
//! 1. `--dir DIR`, when given;
//! 2. else `.rtt` beside the config: the one named (`--config`, or the
//!    positional config of `plan`), or the `rtt.{cue,yaml,yml,json}` of the
//!    current directory, so `./.rtt`.
//!
//! `-C DIR` changes the current directory first, so it moves both.

use std::path::{Path, PathBuf};

/// The rtt directory for a command reading `config` (if it reads one).
pub fn rtt_dir(explicit: Option<&Path>, config: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_owned();
    }
    match config.filter(|c| c.as_os_str() != "-").and_then(Path::parent) {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join(".rtt"),
        _ => PathBuf::from(".rtt"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_wins_then_beside_the_config_then_here() {
        assert_eq!(rtt_dir(Some(Path::new("/w")), Some(Path::new("a/rtt.yaml"))), PathBuf::from("/w"));
        assert_eq!(rtt_dir(None, Some(Path::new("a/rtt.yaml"))), PathBuf::from("a/.rtt"));
        assert_eq!(rtt_dir(None, Some(Path::new("rtt.yaml"))), PathBuf::from(".rtt"));
        assert_eq!(rtt_dir(None, Some(Path::new("-"))), PathBuf::from(".rtt"));
        assert_eq!(rtt_dir(None, None), PathBuf::from(".rtt"));
    }
}
