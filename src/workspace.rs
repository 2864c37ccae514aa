//! Where `.rtt/` is: one rule for every command (docs/cli.md).
//!
//! 1. `--dir DIR`, when given;
//! 2. else `.rtt` beside the config: the one named (`--config`, or the
//!    positional config of `plan`), or the `rtt.{cue,yaml,yml,json}` of the
//!    current directory, so `./.rtt`.
//!
//! `-C DIR` changes the current directory first, so it moves both.

use std::path::Path;

use rtt_apply::workspace::Workspace;
use rtt_durable::Layout;

/// The rtt directory for a command reading `config` (if it reads one).
pub fn rtt_dir(explicit: Option<&Path>, config: Option<&Path>) -> Layout {
    match (explicit, config) {
        (Some(dir), _) => Layout::at(dir),
        (None, Some(config)) => Layout::beside(config),
        (None, None) => Layout::default(),
    }
}

/// The driver sandbox's launcher, `rtt-sandbox`, installed beside this
/// binary (cargo builds and installs both). `None` when it is missing:
/// then external drivers do not start (fail closed) unless `sandbox: off`.
pub fn sandbox_launcher() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join("rtt-sandbox")).filter(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_wins_then_beside_the_config_then_here() {
        let root = |explicit: Option<&str>, config: Option<&str>| {
            rtt_dir(explicit.map(Path::new), config.map(Path::new)).root().to_owned()
        };
        assert_eq!(root(Some("/w"), Some("a/rtt.yaml")), Path::new("/w"));
        assert_eq!(root(None, Some("a/rtt.yaml")), Path::new("a/.rtt"));
        assert_eq!(root(None, Some("rtt.yaml")), Path::new(".rtt"));
        assert_eq!(root(None, Some("-")), Path::new(".rtt"));
        assert_eq!(root(None, None), Path::new(".rtt"));
    }
}

/// The config's workspace: drivers run beside the config; `.rtt/` is where
/// the one rule puts it.
pub fn apply_workspace(config: &Path, dir: Option<&Path>) -> Workspace {
    let workspace = Workspace {
        layout: crate::workspace::rtt_dir(dir, Some(config)),
        launcher: crate::workspace::sandbox_launcher(),
        ..Workspace::beside(config)
    };
    crate::output::detail(format_args!(
        "config {}; rtt directory {}; drivers run in {}",
        config.display(),
        workspace.layout.root().display(),
        workspace.base.display()
    ));
    workspace
}

/// The plan a telemetry command works on: the file given, or the plan in
/// force (kept under `.rtt/state/plans/`). Its hash and document.
pub fn plan_or_applied(
    workspace: &Workspace,
    plan: Option<&Path>,
) -> Result<(rtt_canonical::Sha256, rtt_plan::PlanDocument), crate::exit::Failure> {
    match plan {
        Some(path) => {
            let parsed = rtt_trust::parse_plan(&crate::files::read_plan_bytes(path)?)?;
            Ok((parsed.hash, parsed.document))
        }
        None => {
            let applied = rtt_trust::state::read_applied(&workspace.state_dir())?.ok_or(NothingApplied)?;
            Ok((applied.plan, workspace.load_plan(&applied.plan)?.0))
        }
    }
}

/// Nothing is in force, and no plan was named.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("nothing is applied yet, so there is no plan to work on")]
#[diagnostic(code(rtt::telemetry::nothing_applied), help("apply a plan first, or name one with --plan"))]
pub struct NothingApplied;
