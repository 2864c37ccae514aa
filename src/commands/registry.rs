//! `rtt registry …` and `rtt view`: the content-addressed store from the
//! command line.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use miette::Diagnostic;
use rtt_canonical::Sha256;
use rtt_durable::Layout;
use rtt_plan::Layer;
use rtt_registry::overlay::applicable;
use rtt_registry::views::OverlayDir;
use rtt_registry::{Registry, RegistryError};
use rtt_trust::SecretKey;
use rtt_trust::registry::{Draft, Signed};

use crate::cli::{Format, RegistryArgs, RegistryCommand, ViewArgs};
use crate::exit::Failure;
use crate::files::read_plan;
use crate::output::emit;

pub fn run(args: &RegistryArgs) -> Result<ExitCode, Failure> {
    let layout = args.layout.registry();
    let root = layout.root();
    crate::output::detail(format_args!("registry {}", root.display()));
    let mut registry = Registry::open(root);
    // Writers take turns (Registry::lock_writes); readers never wait.
    let _lock = match &args.command {
        RegistryCommand::Add { .. }
        | RegistryCommand::Sign { .. }
        | RegistryCommand::Pack
        | RegistryCommand::Gc { .. } => {
            let waiting = || eprintln!("rtt: waiting for another process writing {} ...", root.display());
            Some(registry.lock_writes(waiting).map_err(Problem::from)?)
        }
        _ => None,
    };
    match &args.command {
        RegistryCommand::Add { files, sign_key, expires_in } => {
            // The key and its targets file are checked first: a wrong key fails before anything is stored.
            let key = sign_key.as_deref().map(rtt_trust::keyfile::read_secret_key).transpose()?;
            let draft = key.as_ref().map(|key| prepare(&args.layout, key)).transpose()?;
            let added = add(&registry, files)?;
            let signed = match draft {
                Some(draft) => {
                    let manifests: BTreeMap<String, Sha256> =
                        added.iter().map(|(id, hash, _)| (id.clone(), *hash)).collect();
                    Some((vouch(&args.layout, draft, &manifests, *expires_in)?, manifests.len()))
                }
                None => None,
            };
            emit_added(args.format, &added, signed.as_ref());
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Sign { ids, all, sign_key, expires_in } => {
            let key = rtt_trust::keyfile::read_secret_key(sign_key)?;
            let index = registry.index().map_err(Problem::from)?;
            let manifests: BTreeMap<String, Sha256> = if *all {
                index.agents.clone()
            } else {
                let mut chosen = BTreeMap::new();
                for id in ids {
                    let hash =
                        index.agents.get(id).ok_or_else(|| Problem::Registry(RegistryError::UnknownId(id.clone())))?;
                    chosen.insert(id.clone(), *hash);
                }
                chosen
            };
            let signed = vouch(&args.layout, prepare(&args.layout, &key)?, &manifests, *expires_in)?;
            emit(
                args.format,
                || signed_line(&signed, manifests.len()),
                || {
                    let mut json = signed_json(&signed);
                    json["kind"] = "rtt.registry.sign".into();
                    json["signed"] = manifests.keys().cloned().collect::<Vec<_>>().into();
                    json
                },
            );
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Get { query: Some(query), batch: false } => {
            let hash = registry.resolve(query).map_err(Problem::from)?;
            let bytes = registry.get(&hash).map_err(Problem::from)?;
            write_stdout(&bytes)?;
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Get { query: None, batch: true } => batch(&registry),
        RegistryCommand::Get { .. } => {
            Err(Problem::Usage("give one ID|HASH, or --batch to read them from stdin".into()).into())
        }
        RegistryCommand::Ls => ls(&registry, args.format),
        RegistryCommand::Pack => {
            let ticker = crate::output::Ticker::start("registry pack: writing the pack and its lookup table");
            let report = registry.pack(|_| true).map_err(Problem::from)?;
            drop(ticker);
            let pack = layout.pack().display().to_string();
            emit(
                args.format,
                || {
                    format!(
                        "packed {} objects ({} bytes) into {pack}; removed {} loose copies{}\n",
                        report.objects,
                        report.bytes,
                        report.loose_removed,
                        if report.repaired { "; rebuilt a lut that did not match its pack" } else { "" }
                    )
                },
                || {
                    serde_json::json!({"kind": "rtt.registry.pack", "objects": report.objects, "bytes": report.bytes,
                        "pack": pack, "loose_removed": report.loose_removed, "lut_rebuilt": report.repaired})
                },
            );
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Verify => {
            let report = registry.verify();
            let signing = signing_report(&args.layout, &registry)?;
            let unsigned = signing.as_ref().map_or(0, |s| s.unsigned.len());
            let ok = report.corrupt.is_empty() && report.missing.is_empty() && unsigned == 0;
            if args.format == Format::Text {
                for line in &report.corrupt {
                    eprintln!("corrupt: {line}");
                }
                for line in &report.missing {
                    eprintln!("missing: {line}");
                }
                if let Some(signing) = &signing {
                    for line in &signing.not_counted {
                        eprintln!("not counted: {line}");
                    }
                    for line in &signing.unsigned {
                        eprintln!("unsigned: {line}");
                    }
                }
            }
            emit(
                args.format,
                || {
                    let mut out = format!(
                        "checked {} objects: {} corrupt, {} missing\n",
                        report.checked,
                        report.corrupt.len(),
                        report.missing.len()
                    );
                    if let Some(signing) = &signing {
                        out.push_str(&format!(
                            "checked {} targets files: {} count, {} do not; {} of {} indexed manifests signed by at \
                             least {} registry signer(s)\n",
                            signing.counted + signing.not_counted.len(),
                            signing.counted,
                            signing.not_counted.len(),
                            signing.indexed - signing.unsigned.len(),
                            signing.indexed,
                            signing.threshold
                        ));
                    }
                    out
                },
                || {
                    let signing = signing.as_ref().map(|s| {
                        serde_json::json!({"threshold": s.threshold, "targets_counted": s.counted,
                            "not_counted": s.not_counted, "unsigned": s.unsigned})
                    });
                    serde_json::json!({"kind": "rtt.registry.verify", "ok": ok, "checked": report.checked,
                        "corrupt": report.corrupt, "missing": report.missing, "signing": signing})
                },
            );
            // SPEC §9: 1 is "a failed check"; 2 and 3 mean other things.
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(crate::exit::EXIT_INVALID) })
        }
        RegistryCommand::Gc { keep } => {
            let mut live = BTreeSet::new();
            let mut plans: Vec<PathBuf> = keep.clone();
            plans.extend(retained_plans(&args.layout.state().plans())?);
            for path in &plans {
                live.extend(plan_objects(path)?);
            }
            let report = registry.gc(&live).map_err(Problem::from)?;
            let removed: Vec<String> = report.removed.iter().map(ToString::to_string).collect();
            emit(
                args.format,
                || {
                    let mut out = format!(
                        "kept {} objects, removed {} (retained plans: {})\n",
                        report.kept,
                        removed.len(),
                        plans.len()
                    );
                    removed.iter().for_each(|hash| out.push_str(&format!("  removed {hash}\n")));
                    out
                },
                || {
                    serde_json::json!({"kind": "rtt.registry.gc", "kept": report.kept, "removed": removed,
                        "retained_plans": plans.len()})
                },
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `rtt view ID --provider P [--env E]`: the view's bytes, exactly as a
/// mount or a materialized tree serves them.
pub fn view(args: &ViewArgs) -> Result<ExitCode, Failure> {
    let registry = Registry::open(args.layout.registry().root());
    let overlays = OverlayDir::new(args.layout.overlays());
    let base = registry.resolve(&args.id).map_err(Problem::from)?;
    let provider_file = overlays.load(Layer::Provider, &args.provider).map_err(Problem::from)?;
    let provider_path = args.layout.overlays().provider(&args.provider);
    let mut layers = vec![(
        Layer::Provider,
        args.provider.as_str(),
        applicable(provider_file.as_ref().map(|f| &f.overlay), &args.id),
        provider_path,
    )];
    if let Some(env) = &args.env {
        let file = overlays.load(Layer::Env, env).map_err(Problem::from)?.ok_or_else(|| {
            Problem::Registry(RegistryError::Unavailable(format!(
                "no env overlay {}",
                args.layout.overlays().env(env).display()
            )))
        })?;
        layers.push((Layer::Env, env.as_str(), file.applicable(&args.id), file.path.clone()));
    }
    let id = if args.id.starts_with("sha256:") { "" } else { args.id.as_str() };
    // Signed ingest: a view is served only of a manifest enough registry signers vouch for.
    let trust = args.layout.registry().trust();
    if let Some(targets) = crate::signed_manifests::load(trust.dir(), &args.layout, args.layout.state().dir())? {
        if id.is_empty() {
            return Err(Problem::Usage(
                "the policy sets a registry_threshold: name the agent by id, so its manifest's signatures can be checked"
                    .into(),
            )
            .into());
        }
        crate::signed_manifests::require(&targets, [(id, base)])?;
    }
    let result = registry.view(id, &base, &layers).map_err(Problem::from)?;
    let bytes = registry.get(&result).map_err(Problem::from)?;
    write_stdout(&bytes)?;
    Ok(ExitCode::SUCCESS)
}

/// Parses every file before storing anything, so a bad file leaves the
/// index as it was; the index is then written once.
/// An agent id, its manifest now and the one the index named before.
type Added = (String, Sha256, Option<Sha256>);

fn add(registry: &Registry, files: &[PathBuf]) -> Result<Vec<Added>, Failure> {
    let mut texts = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| Problem::Registry(RegistryError::io("read", path)(e)))?;
        texts.push((path.display().to_string(), text));
    }
    let mut checked = Vec::new();
    for (name, text) in &texts {
        let (value, bytes) = rtt_registry::object::canonical_from_text(name, text).map_err(Problem::from)?;
        let id = value.get("id").and_then(|v| v.as_str()).map(str::to_owned);
        let Some(id) = id.filter(|id| rtt_registry::object::check_agent_id(id).is_ok()) else {
            return Err(Problem::Registry(RegistryError::Invalid {
                path: name.clone(),
                line: 1,
                column: 1,
                message: "a manifest is an object with an \"id\": \"name@version\" field ([a-z0-9._-]+ each)".into(),
            })
            .into());
        };
        if let Some((other, _, _)) = checked
            .iter()
            .find(|(other_id, _, h): &&(String, String, Sha256)| *other_id == id && *h != Sha256::of(&bytes))
        {
            return Err(
                Problem::Usage(format!("{name} and an earlier file both define {id} ({other}) differently")).into()
            );
        }
        checked.push((id, name.clone(), Sha256::of(&bytes)));
    }
    let mut index = registry.index().map_err(Problem::from)?;
    let mut added = Vec::new();
    for (name, text) in &texts {
        let (id, hash) = registry.add_manifest(name, text).map_err(Problem::from)?;
        let previous = index.agents.insert(id.clone(), hash);
        added.push((id, hash, previous));
    }
    registry.write_index(&index).map_err(Problem::from)?;
    Ok(added)
}

/// `rtt registry add`'s report: what the index points at now, and the signing if any.
fn emit_added(format: Format, added: &[Added], signed: Option<&(Signed, usize)>) {
    emit(
        format,
        || {
            let mut out: String = added
                .iter()
                .map(|(id, hash, previous)| match previous {
                    Some(old) if old != hash => format!("{id} {hash} (was {old})\n"),
                    Some(_) => format!("{id} {hash} (unchanged)\n"),
                    None => format!("{id} {hash}\n"),
                })
                .collect();
            if let Some((signed, count)) = signed {
                out.push_str(&signed_line(signed, *count));
            }
            out
        },
        || {
            let agents: Vec<serde_json::Value> = added
                .iter()
                .map(|(id, hash, previous)| {
                    serde_json::json!({"id": id, "hash": hash.to_string(),
                        "previous": previous.map(|p| p.to_string())})
                })
                .collect();
            serde_json::json!({"kind": "rtt.registry.add", "agents": agents,
                "signed": signed.map(|(signed, _)| signed_json(signed))})
        },
    );
}

fn signed_line(signed: &Signed, count: usize) -> String {
    format!(
        "signed {count} manifest(s) as {}: {} version {}, {} in all, expires {}\n",
        signed.signer,
        signed.path.display(),
        signed.version,
        signed.targets,
        signed.expires
    )
}

fn signed_json(signed: &Signed) -> serde_json::Value {
    serde_json::json!({"signer": signed.signer.to_string(), "file": signed.path.display().to_string(),
        "version": signed.version, "expires": signed.expires, "targets": signed.targets})
}

/// Reads and checks the signer's targets file before anything changes.
fn prepare<'a>(layout: &Layout, key: &'a SecretKey) -> Result<Draft<'a>, Failure> {
    let registry = layout.registry();
    let draft = rtt_trust::registry::prepare_signing(
        registry.trust().dir(),
        &registry,
        layout.state().dir(),
        key,
        std::time::SystemTime::now(),
    )?;
    Ok(draft)
}

/// Records `manifests` in the signer's targets file, signed.
fn vouch(
    layout: &Layout,
    draft: Draft<'_>,
    manifests: &BTreeMap<String, Sha256>,
    valid_for: std::time::Duration,
) -> Result<Signed, Failure> {
    let signed = draft.sign(manifests, valid_for, std::time::SystemTime::now())?;
    if signed.trusted.is_none() {
        eprintln!(
            "rtt: warning: {} sets no registry_threshold, so manifests need no signatures yet; {} is recorded anyway",
            layout.registry().trust().policy().display(),
            signed.path.display()
        );
    }
    Ok(signed)
}

/// What `registry verify` says of signed ingest.
struct SigningReport {
    threshold: u32,
    counted: usize,
    not_counted: Vec<String>,
    indexed: usize,
    unsigned: Vec<String>,
}

/// Under a registry_threshold: which targets files count and which indexed
/// manifests lack signatures. Raises the versions seen, as `rtt plan` does.
fn signing_report(layout: &Layout, registry: &Registry) -> Result<Option<SigningReport>, Failure> {
    let Some(loaded) = crate::signed_manifests::load(layout.registry().trust().dir(), layout, layout.state().dir())?
    else {
        return Ok(None);
    };
    rtt_trust::registry::record_seen(layout.state().dir(), &loaded)?;
    let index = registry.index().map_err(Problem::from)?;
    let attestations = &loaded.attestations;
    Ok(Some(SigningReport {
        threshold: attestations.threshold(),
        counted: attestations.signers().len(),
        not_counted: attestations.problems().iter().map(ToString::to_string).collect(),
        indexed: index.agents.len(),
        unsigned: index
            .agents
            .iter()
            .filter_map(|(id, hash)| attestations.check(id, hash).err().map(|e| e.to_string()))
            .collect(),
    }))
}

/// `--batch`: one id or hash per line on stdin; for each, `<hash> <size>`
/// and the bytes then a newline, or `<query> missing` (the framing of
/// `git cat-file --batch`). Damage stops the batch with an error.
fn batch(registry: &Registry) -> Result<ExitCode, Failure> {
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let broken = |e: std::io::Error| Problem::Registry(RegistryError::io("write", "stdout")(e));
    for line in stdin.lines() {
        let line = line.map_err(|e| Problem::Registry(RegistryError::io("read", "stdin")(e)))?;
        let query = line.trim();
        if query.is_empty() {
            continue;
        }
        let found = registry.resolve(query).and_then(|hash| registry.get(&hash).map(|bytes| (hash, bytes)));
        match found {
            Ok((hash, bytes)) => {
                writeln!(out, "{hash} {}", bytes.len()).map_err(broken)?;
                out.write_all(&bytes).map_err(broken)?;
                out.write_all(b"\n").map_err(broken)?;
            }
            Err(RegistryError::Missing(_) | RegistryError::UnknownId(_)) => {
                writeln!(out, "{query} missing").map_err(broken)?
            }
            Err(e) => {
                out.flush().map_err(broken)?;
                return Err(Problem::from(e).into());
            }
        }
    }
    out.flush().map_err(broken)?;
    Ok(ExitCode::SUCCESS)
}

fn ls(registry: &Registry, format: Format) -> Result<ExitCode, Failure> {
    let index = registry.index().map_err(Problem::from)?;
    match format {
        Format::Text => {
            for (id, hash) in &index.agents {
                println!("{id} {hash}");
            }
        }
        Format::Json => write_stdout(&[index.to_bytes(), b"\n".to_vec()].concat())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Plans kept under `.rtt/state/plans/` (where apply keeps the plans it
/// applied): their views stay alive through gc.
fn retained_plans(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Problem::Registry(RegistryError::io("list", dir)(e)).into()),
    };
    let mut plans: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    plans.sort();
    Ok(plans)
}

/// Every object a plan's views reference (base, overlay parts, result).
fn plan_objects(path: &Path) -> Result<Vec<Sha256>, Failure> {
    let plan = read_plan(path)?;
    Ok(plan
        .views
        .values()
        .flatten()
        .flat_map(|v| [v.base, v.result].into_iter().chain(v.overlays.iter().map(|o| o.hash)))
        .collect())
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Problem::Registry(RegistryError::io("write", "stdout")(e)).into())
}

/// A registry command that failed.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum Problem {
    /// From the registry.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] RegistryError),
    /// Wrong use of the command.
    #[error("{0}")]
    #[diagnostic(code(rtt::usage))]
    Usage(String),
}
