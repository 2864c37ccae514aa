//! Write an rtt driver in Rust.
//!
//! A driver carries rtt's plans to the systems that run agents. It speaks
//! protocol 1 (SPEC §8, docs/drivers.md) over stdin and stdout. This crate
//! holds the whole protocol — line framing with the 1 MiB cap, the request and
//! response envelopes, fencing by epoch, granted hosts and capabilities, and
//! durable two-phase transactions — so that a driver only says how to stage,
//! switch, drop and read placements on its own system ([`Backend`]).
//!
//! ```no_run
//! use rtt_driver::{DirBackend, Driver};
//!
//! fn main() -> std::process::ExitCode {
//!     let root = rtt_driver::root_from_env("my-driver");
//!     rtt_driver::run(|| Driver::open("my-driver", &root, DirBackend::new(&root)))
//! }
//! ```
//!
//! The same engine exists in every SDK (Python, Go, TypeScript, Java, C);
//! `sdk/vectors` holds the exchanges all of them must answer byte for byte.

pub mod dir;
pub mod engine;
pub mod framing;
mod fsx;
pub mod protocol;
pub mod serve;

pub use dir::DirBackend;
pub use engine::{Backend, Driver};
pub use protocol::{HostPlacements, Placement, Refusal, Vote};

use std::path::PathBuf;
use std::process::ExitCode;

/// The driver's state directory: `RTT_DRIVER_ROOT` (which `rtt apply` and
/// `rtt driver test` set), else `--root DIR` on the command line, else
/// `.rtt/drivers/NAME`.
pub fn root_from_env(name: &str) -> PathBuf {
    if let Some(root) = std::env::var_os("RTT_DRIVER_ROOT").filter(|r| !r.is_empty()) {
        return PathBuf::from(root);
    }
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--root").and_then(|i| args.get(i + 1)) {
        Some(root) => PathBuf::from(root),
        None => PathBuf::from(".rtt/drivers").join(name),
    }
}

/// The Unix socket to listen on instead of stdio: `RTT_DRIVER_SOCKET`
/// (which `rtt driver test --socket` sets), else `--socket PATH`.
pub fn socket_from_env() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RTT_DRIVER_SOCKET").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == "--socket").and_then(|i| args.get(i + 1)).map(PathBuf::from)
}

/// Opens a driver with `open` and serves stdin/stdout until `Close` or the
/// end of input, or, with a socket ([`socket_from_env`]), listens there as a
/// resident driver ([`serve::listen`]). Logs go to stderr; the exit code is 1
/// when the driver could not start or stdin broke the framing.
pub fn run<B: Backend>(open: impl FnOnce() -> Result<Driver<B>, String>) -> ExitCode {
    let mut driver = match open() {
        Ok(driver) => driver,
        Err(e) => {
            eprintln!("driver: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = socket_from_env() {
        return match serve::listen(&mut driver, &path) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("driver: cannot listen on {}: {e}", path.display());
                ExitCode::FAILURE
            }
        };
    }
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    match serve::serve(&mut driver, &mut stdin.lock(), &mut stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("driver: stopping: {e}");
            ExitCode::FAILURE
        }
    }
}
