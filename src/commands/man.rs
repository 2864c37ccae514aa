//! `rtt man DIR`: roff man pages generated from the same clap definition as
//! `--help`, so the two never disagree.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::exit::Failure;

/// Could not write a man page.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("failed to write {path}")]
#[diagnostic(code(rtt::man::write), help("check that the directory is writable"))]
pub struct ManWrite {
    path: String,
    #[source]
    source: std::io::Error,
}

pub fn run(args: &ManArgs) -> Result<ExitCode, Failure> {
    let failed = |path: &Path| {
        let path = path.display().to_string();
        move |source| ManWrite { path, source }
    };
    std::fs::create_dir_all(&args.dir).map_err(failed(&args.dir))?;
    let mut root = Cli::command();
    root.build();
    let mut pages = vec![(String::from("rtt"), root.clone())];
    // build() names each subcommand "rtt-plan" and so on for display.
    for command in root.get_subcommands().filter(|c| c.get_name() != "help") {
        pages.push((format!("rtt-{}", command.get_name()), command.clone()));
    }
    for (name, command) in pages {
        let path = args.dir.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page).map_err(failed(&path))?;
        std::fs::write(&path, page).map_err(failed(&path))?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
