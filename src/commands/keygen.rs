//! `rtt keygen --out NAME`: a new Ed25519 key pair in NAME.key (mode 0600) and NAME.pub.

use std::process::ExitCode;

use crate::cli::KeygenArgs;
use crate::exit::Failure;

pub fn run(args: &KeygenArgs) -> Result<ExitCode, Failure> {
    let files = rtt_trust::keyfile::generate_key_files(&args.out)?;
    crate::output::emit(
        args.format,
        || {
            format!(
                "key_id {}\nsecret {} (mode 0600; keep it private, never commit it)\n\
                 public {} (copy it into .rtt/registry/trust/keys/ to trust this key)\n",
                files.key_id,
                files.secret.display(),
                files.public.display()
            )
        },
        || {
            serde_json::json!({"kind": "rtt.keygen", "key_id": files.key_id.to_string(),
                "secret": files.secret.display().to_string(), "public": files.public.display().to_string()})
        },
    );
    Ok(ExitCode::SUCCESS)
}
