//! `rtt keygen --out NAME`: a new Ed25519 key pair in NAME.key (mode 0600) and NAME.pub.

use std::process::ExitCode;

use super::Failure;
use crate::cli::KeygenArgs;

pub fn run(args: &KeygenArgs) -> Result<ExitCode, Failure> {
    let files = rtt_trust::keyfile::generate_key_files(&args.out)?;
    println!("key_id {}", files.key_id);
    println!("secret {} (mode 0600; keep it private, never commit it)", files.secret.display());
    println!("public {} (copy it into .rtt/registry/trust/keys/ to trust this key)", files.public.display());
    Ok(ExitCode::SUCCESS)
}
