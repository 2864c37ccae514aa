//! `rtt tune`: fingerprints this machine, measures its transports (a grid of
//! ring sizes and spins, pipe and socket beside them, pinning), chooses the
//! ring's parameters, and keeps the profile in `.rtt/profiles/<fingerprint>.json`
//! (canonical JSON; signed like plans when a key is given). The measuring is
//! `rtt_transport::tune`; the document and its checks are `crate::profiles`.

use std::process::ExitCode;
use std::time::Instant;

use crate::cli::TuneArgs;
use crate::exit::Failure;
use crate::profiles::{self, ProfileProblem};

pub fn run(args: &TuneArgs) -> Result<ExitCode, Failure> {
    let key = args.sign_key.as_deref().map(rtt_trust::keyfile::read_secret_key).transpose()?;
    let machine = rtt_transport::machine::Machine::read();
    let effort = if args.quick { rtt_transport::tune::Effort::QUICK } else { rtt_transport::tune::Effort::FULL };
    let started = Instant::now();
    let tuned =
        rtt_transport::tune::run(&machine, effort).map_err(|e| ProfileProblem::Measure { reason: e.to_string() })?;
    let mut profile = profiles::document(&machine, &tuned, started.elapsed())?;
    if let Some(key) = &key {
        profiles::sign(&mut profile, key)?;
    }
    let path = args.layout.profile(profiles::fingerprint_of(&profile));
    profiles::write(&path, &profile)?;
    crate::output::emit(args.format, || profiles::summary(&profile, &path), || profile.clone());
    Ok(ExitCode::SUCCESS)
}
