//! `rtt driver test` (the conformance harness) and `rtt driver dir` (the
//! built-in dir driver served over stdio).

use std::process::ExitCode;
use std::time::Duration;

use miette::Diagnostic;
use rtt_apply::driver::dir::DirStore;
use rtt_apply::fault::Faults;

use std::path::{Path, PathBuf};

use rtt_apply::driver::client::Sandboxed;
use rtt_apply::driver::sandbox::{Mode, Policy};

use crate::cli::{DriverArgs, DriverCommand, SandboxArg};
use crate::exit::Failure;

pub fn run(args: DriverArgs) -> Result<ExitCode, Failure> {
    match args.command {
        DriverCommand::Test { timeout_ms, root, grants, sandbox, socket, command } => {
            test(&command, Duration::from_millis(timeout_ms), root, &grants, sandbox, socket)
        }
        DriverCommand::New { lang, name, out } => new(&lang, &name, out),
        DriverCommand::Dir { root, name } => {
            let mut store = DirStore::open(&root, Faults::from_env(&format!("driver:{name}")))
                .map_err(|reason| DriverProblem::Start { reason })?;
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            let mut output = std::io::stdout().lock();
            rtt_apply::driver::serve::serve(&mut store, &mut input, &mut output)
                .map_err(|e| DriverProblem::Serve { reason: e.to_string() })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn test(
    command: &[String],
    timeout: Duration,
    root: Option<PathBuf>,
    grants: &[String],
    sandbox: SandboxArg,
    socket: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    let cwd = std::env::current_dir().map_err(|e| DriverProblem::Start { reason: e.to_string() })?;
    let scratch = match root {
        Some(_) => None,
        None => Some(tempfile::tempdir().map_err(|e| DriverProblem::Start { reason: e.to_string() })?),
    };
    let root = match (&root, &scratch) {
        (Some(root), _) => cwd.join(root),
        (None, Some(dir)) => dir.path().to_owned(),
        (None, None) => cwd.clone(),
    };
    let mode = match sandbox {
        SandboxArg::Default => Mode::Default,
        SandboxArg::Required => Mode::Required,
        SandboxArg::Off => Mode::Off,
    };
    let path = std::env::var("PATH").ok();
    // A socket driver listens inside its root unless told where: the one place its sandbox may create one.
    let socket = socket.map(|s| if s == Path::new("root") { root.join("driver.sock") } else { cwd.join(s) });
    let env: Vec<(String, String)> =
        socket.iter().map(|s| ("RTT_DRIVER_SOCKET".to_owned(), s.display().to_string())).collect();
    let policy = Policy::new(mode, command, &cwd, &root, grants, &env, path.as_deref())
        .map_err(|e| DriverProblem::Start { reason: e.to_string() })?;
    let sandboxed = Sandboxed { launcher: crate::workspace::sandbox_launcher(), policy };
    let checks = rtt_apply::driver::conformance::run(command, &cwd, timeout, Some(sandboxed), socket.as_deref());
    let failed = checks.iter().filter(|c| c.outcome.is_err()).count();
    for check in &checks {
        match &check.outcome {
            Ok(()) => println!("ok    {}", check.name),
            Err(reason) => println!("FAIL  {}\n      {reason}", check.name),
        }
    }
    if failed == 0 {
        println!("{} checks passed: the driver conforms to protocol 1", checks.len());
        Ok(ExitCode::SUCCESS)
    } else {
        Err(DriverProblem::Nonconforming { failed, total: checks.len() }.into())
    }
}

/// `rtt driver new`: writes the template of `lang` into `out` (default
/// `./NAME`), refusing to write over anything.
fn new(lang: &str, name: &str, out: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let language = crate::scaffold::language(lang)
        .ok_or_else(|| DriverProblem::Language { lang: lang.to_owned(), known: crate::scaffold::names().join(", ") })?;
    if !crate::scaffold::valid_name(name) {
        return Err(DriverProblem::Name { name: name.to_owned() }.into());
    }
    let dir = out.unwrap_or_else(|| PathBuf::from(name));
    let occupied = std::fs::read_dir(&dir).map(|mut entries| entries.next().is_some()).unwrap_or(dir.exists());
    if occupied {
        return Err(DriverProblem::Occupied { dir: dir.display().to_string() }.into());
    }
    let files = crate::scaffold::render(language, name);
    for file in &files {
        let path = dir.join(&file.path);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, &file.text))
            .and_then(|()| {
                use std::os::unix::fs::PermissionsExt;
                let mode = if file.executable { 0o755 } else { 0o644 };
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            });
        written.map_err(|e| DriverProblem::Write { path: path.display().to_string(), reason: e.to_string() })?;
    }
    let listed: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    println!("created {} ({} driver {name:?}): {}", dir.display(), language.name, listed.join(", "));
    println!("next:");
    println!("  cd {}", dir.display());
    if language.builds {
        println!("  ./build");
    }
    println!("  {}", crate::scaffold::test_command(language));
    Ok(ExitCode::SUCCESS)
}

/// `rtt driver` failures.
#[derive(Debug, thiserror::Error, Diagnostic)]
enum DriverProblem {
    /// Checks failed.
    #[error("failed {failed} of {total} conformance checks")]
    #[diagnostic(code(rtt::driver::nonconforming), help("the protocol is in docs/apply.md"))]
    Nonconforming { failed: usize, total: usize },
    /// `--lang` names no template.
    #[error("no driver template for language {lang:?}")]
    #[diagnostic(code(rtt::driver::language), help("one of: {known}"))]
    Language { lang: String, known: String },
    /// The name cannot name a driver.
    #[error("{name:?} cannot name a driver")]
    #[diagnostic(
        code(rtt::driver::name),
        help(
            "use lowercase letters, digits and `-`, starting with a letter, at most 64 bytes (it becomes a package and module name)"
        )
    )]
    Name { name: String },
    /// The directory holds something.
    #[error("{dir} already exists and is not empty")]
    #[diagnostic(code(rtt::driver::occupied), help("pick another name or --out DIR; nothing was written"))]
    Occupied { dir: String },
    /// Writing a file failed.
    #[error("cannot write {path}: {reason}")]
    #[diagnostic(code(rtt::driver::write))]
    Write { path: String, reason: String },
    /// The dir driver could not start.
    #[error("failed to start the dir driver: {reason}")]
    #[diagnostic(code(rtt::driver::start))]
    Start { reason: String },
    /// Serving broke off.
    #[error("failed to serve protocol 1: {reason}")]
    #[diagnostic(code(rtt::driver::serve))]
    Serve { reason: String },
}
