//! `rtt keys list|add|revoke`: the keys trusted to sign plans and to vouch
//! for manifests (`rtt_trust::admin`; rotation in docs/trust.md).

use std::process::ExitCode;

use rtt_trust::admin::{KeyEntry, KeySet};

use crate::cli::{KeysArgs, KeysCommand};
use crate::exit::Failure;
use crate::output::emit;

pub fn run(args: &KeysArgs) -> Result<ExitCode, Failure> {
    match &args.command {
        KeysCommand::List => {
            let listing = rtt_trust::admin::list(&args.trust)?;
            emit(
                args.format,
                || {
                    let mut out = String::new();
                    list_entries(&mut out, &listing.keys, KeySet::Plans);
                    match listing.threshold {
                        Some(n) => out.push_str(&format!("threshold {n}\n")),
                        None => out.push_str("threshold: policy.json missing or malformed\n"),
                    }
                    if !listing.registry_keys.is_empty() || listing.registry_threshold.is_some() {
                        list_entries(&mut out, &listing.registry_keys, KeySet::Registry);
                        match listing.registry_threshold {
                            Some(n) => out.push_str(&format!("registry threshold {n}\n")),
                            None => out.push_str("registry threshold: none (manifests need no signatures)\n"),
                        }
                    }
                    if let Some(why) = &listing.unusable {
                        out.push_str(&format!("UNUSABLE: every plan is rejected: {why}\n"));
                    }
                    out
                },
                || {
                    serde_json::json!({"kind": "rtt.keys", "trust": args.trust.display().to_string(),
                        "keys": listing.keys, "threshold": listing.threshold,
                        "registry_keys": listing.registry_keys, "registry_threshold": listing.registry_threshold,
                        "unusable": listing.unusable})
                },
            );
        }
        KeysCommand::Add { key, registry } => {
            let set = if *registry { KeySet::Registry } else { KeySet::Plans };
            let added = rtt_trust::admin::add(&args.trust, key, set)?;
            emit(
                args.format,
                || format!("trusted {} ({})\n", added.key_id, added.path.display()),
                || {
                    serde_json::json!({"kind": "rtt.keys.add", "key_id": added.key_id.to_string(), "file": added.path.display().to_string(),
                    "set": set.dir_name()})
                },
            );
        }
        KeysCommand::Revoke { key_id } => {
            let id: rtt_trust::KeyId = key_id.parse().map_err(|e: rtt_trust::KeyError| Failure::from(e))?;
            let new = rtt_trust::admin::revoke(&args.trust, id)?;
            let unusable = rtt_trust::TrustStore::load(&args.trust).err().map(|e| e.to_string());
            emit(
                args.format,
                || {
                    let mut out = if new { format!("revoked {id}\n") } else { format!("{id} was already revoked\n") };
                    if let Some(why) = &unusable {
                        out.push_str(&format!("warning: every plan is now rejected: {why}\n"));
                    }
                    out
                },
                || serde_json::json!({"kind": "rtt.keys.revoke", "key_id": id.to_string(), "new": new, "unusable": unusable}),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per key of a set, and why a file is not a key under it.
fn list_entries(out: &mut String, keys: &[KeyEntry], set: KeySet) {
    for key in keys {
        out.push_str(&format!(
            "{:<16}  {:<8}  {}\n",
            key.key_id.as_deref().unwrap_or("-"),
            key.status.split(':').next().unwrap_or(""),
            key.file.as_deref().map_or_else(|| "(no file)".to_owned(), |f| format!("{}/{f}", set.dir_name()))
        ));
        if let Some((_, why)) = key.status.split_once(": ") {
            out.push_str(&format!("                    {why}\n"));
        }
    }
}
