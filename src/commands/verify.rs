//! `rtt verify PLAN`: accept the plan (exit 0) or reject it with the reason (exit 1).
//!
//! The command is a list of steps: load what the checks need (trust store,
//! state, plan bytes), run the trust checks of `rtt_trust::verify_plan`
//! (format, signatures, serial), then every check of [`AFTER_TRUST`] on the
//! verified plan. The first failure rejects; nothing is written either way.

use std::process::ExitCode;

use miette::Diagnostic;
use rtt_trust::{AppliedState, IgnoredSignature, Rejection, TrustStore, VerifiedPlan};

use crate::cli::{Format, VerifyArgs};
use crate::exit::{EXIT_INVALID, Failure};

/// What the checks see: the inputs, loaded once.
pub struct Inputs<'a> {
    /// The command line.
    pub args: &'a VerifyArgs,
    /// The trust store.
    pub trust: TrustStore,
    /// The applied state (`None`: nothing applied yet).
    pub state: Option<AppliedState>,
    /// The plan file's bytes.
    pub plan_bytes: Vec<u8>,
}

/// A check on a plan that passed the trust checks; `Ok` carries the line to report.
pub struct Check {
    /// Its name in the report.
    pub name: &'static str,
    /// The check.
    pub run: fn(&Inputs, &VerifiedPlan) -> Result<String, Rejected>,
}

/// Checks that need a verified plan, run in order after the trust checks.
const AFTER_TRUST: &[Check] =
    &[Check { name: "registry", run: registry_matches }, Check { name: "manifests", run: manifests_signed }];

/// Signed ingest: under a registry_threshold, every view's manifest is
/// vouched for by enough registry signers (what mount and materialize demand).
fn manifests_signed(inputs: &Inputs, verified: &VerifiedPlan) -> Result<String, Rejected> {
    let checks = &inputs.args.checks;
    let loaded = crate::signed_manifests::load(&checks.trust, &checks.layout, &checks.state)
        .map_err(|failure| Rejected { check: "manifests", report: failure.report, signatures: None })?;
    let Some(targets) = loaded else { return Ok("the policy sets no registry_threshold".to_owned()) };
    let bases = verified.document().views.values().flatten().map(|view| (view.id.as_str(), view.base));
    let checked = crate::signed_manifests::require(&targets, bases).map_err(|e| Rejected::new("manifests", e))?;
    Ok(format!("{checked} manifests signed by at least {} registry signer(s)", targets.attestations.threshold()))
}

/// Mix-and-match: the plan's `inputs.registry` and every view must match the
/// registry and overlays on disk now (docs/registry.md, "Views in plans").
fn registry_matches(inputs: &Inputs, verified: &VerifiedPlan) -> Result<String, Rejected> {
    let plan = verified.document();
    let problems = crate::views::plan_view_mismatches(plan, &inputs.args.checks.layout);
    if !problems.is_empty() {
        return Err(Rejected::new("registry", ViewsMismatch { problems }));
    }
    let views: usize = plan.views.values().map(Vec::len).sum();
    Ok(match plan.inputs.registry {
        None => "no registry input and no views".to_owned(),
        Some(index) => format!("index {index} and {views} views match the registry"),
    })
}

/// The plan's registry input or views do not match the registry.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("the plan does not match the registry: {}", .problems.join("; "))]
#[diagnostic(
    code(rtt::verify::registry),
    help(
        "the registry or an overlay changed since the plan was made (or was swapped): re-plan and re-sign, or restore the registry"
    )
)]
struct ViewsMismatch {
    problems: Vec<String>,
}

/// A view plan where a fleet plan was expected.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{path} is a provider's view plan, not a fleet plan")]
#[diagnostic(
    code(rtt::verify::view_plan),
    help("a view plan is verified where it is used: `rtt materialize --plan FILE DIR` or `rtt mount --plan FILE MP`")
)]
struct ViewPlanGiven {
    path: String,
}

/// A rejection: which check failed and why.
pub struct Rejected {
    /// The check's name.
    pub check: &'static str,
    /// The reason, for a person.
    pub report: miette::Report,
    /// The signatures that counted and those that did not, when that was the reason.
    pub signatures: Option<serde_json::Value>,
}

impl Rejected {
    fn new<E: Diagnostic + Send + Sync + 'static>(check: &'static str, error: E) -> Self {
        Self { check, report: miette::Report::new(error), signatures: None }
    }
}

impl From<Rejection> for Rejected {
    fn from(rejection: Rejection) -> Self {
        let signatures = match &rejection {
            Rejection::ThresholdNotMet { threshold, report } => Some(serde_json::json!({
                "threshold": threshold,
                "signed_by": report.counted,
                "not_counted": not_counted_json(&report.ignored),
            })),
            _ => None,
        };
        Self { signatures, ..Self::new(rejection.check(), rejection) }
    }
}

/// One passed check and what it established.
struct Passed {
    check: &'static str,
    detail: String,
}

pub fn run(args: &VerifyArgs) -> Result<ExitCode, Failure> {
    match (verify(args), args.format) {
        (Ok((verified, passed)), Format::Text) => {
            print!("{}", accepted_text(args, &verified, &passed));
            Ok(ExitCode::SUCCESS)
        }
        (Ok((verified, passed)), Format::Json) => {
            println!("{:#}", accepted_json(args, &verified, &passed));
            Ok(ExitCode::SUCCESS)
        }
        (Err(rejected), Format::Text) => Err(Failure { report: rejected.report, exit_code: EXIT_INVALID }),
        (Err(rejected), Format::Json) => {
            let out = serde_json::json!({
                "accepted": false,
                "file": args.plan.display().to_string(),
                "check": rejected.check,
                "reason": rejected.report.to_string(),
                "help": rejected.report.help().map(|h| h.to_string()),
                "signatures": rejected.signatures,
            });
            println!("{out:#}");
            Ok(ExitCode::from(EXIT_INVALID))
        }
    }
}

fn verify(args: &VerifyArgs) -> Result<(VerifiedPlan, Vec<Passed>), Rejected> {
    let inputs = load(args)?;
    if rtt_trust::view_plan::is_view_plan(&inputs.plan_bytes) {
        return Err(Rejected::new("format", ViewPlanGiven { path: crate::files::shown(&args.plan) }));
    }
    if let Some(expected) = &args.hash {
        rtt_trust::verify::check_hash(&rtt_trust::parse_plan(&inputs.plan_bytes)?, expected)?;
    }
    let verified = rtt_trust::verify_plan(&inputs.plan_bytes, &inputs.trust, inputs.state.as_ref())?;
    let mut passed = trust_checks_passed(&inputs, &verified);
    for check in AFTER_TRUST {
        let detail = (check.run)(&inputs, &verified)?;
        passed.push(Passed { check: check.name, detail });
    }
    Ok((verified, passed))
}

fn load(args: &VerifyArgs) -> Result<Inputs<'_>, Rejected> {
    let trust = TrustStore::load(&args.checks.trust).map_err(|e| Rejected::new("trust store", e))?;
    let state = rtt_trust::read_applied(&args.checks.state).map_err(|e| Rejected::new("state", e))?;
    let plan_bytes = crate::files::read_bytes(&args.plan).map_err(|e| {
        Rejected::new("format", Unreadable { path: crate::files::shown(&args.plan), reason: e.to_string() })
    })?;
    Ok(Inputs { args, trust, state, plan_bytes })
}

fn trust_checks_passed(inputs: &Inputs, verified: &VerifiedPlan) -> Vec<Passed> {
    let signed_by: Vec<String> = verified.signed_by().iter().map(ToString::to_string).collect();
    let serial = verified.document().serial;
    let state = inputs.args.checks.state.display();
    let hash = inputs.args.hash.map(|_| Passed { check: "hash", detail: "the one --hash names".into() });
    let mut passed = vec![Passed { check: "format", detail: "canonical rtt plan, version 1".into() }];
    passed.extend(hash);
    passed.extend([
        Passed {
            check: "signatures",
            detail: format!(
                "{} valid from distinct trusted keys, policy needs {}: {}",
                signed_by.len(),
                inputs.trust.policy().threshold,
                signed_by.join(", ")
            ),
        },
        Passed {
            check: "serial",
            detail: match verified.highest_applied() {
                Some(highest) => format!("{serial} is above the highest applied serial {highest} ({state})"),
                None => format!("{serial}; nothing applied yet ({state})"),
            },
        },
    ]);
    passed
}

fn accepted_text(args: &VerifyArgs, verified: &VerifiedPlan, passed: &[Passed]) -> String {
    let mut out = format!("{}: accepted — plan {}\n", args.plan.display(), verified.hash());
    for check in passed {
        out.push_str(&format!("  {:<11} {}\n", check.check, check.detail));
    }
    for ignored in verified.ignored() {
        out.push_str(&format!("  not counted {ignored}\n"));
    }
    out
}

fn accepted_json(args: &VerifyArgs, verified: &VerifiedPlan, passed: &[Passed]) -> serde_json::Value {
    serde_json::json!({
        "accepted": true,
        "file": args.plan.display().to_string(),
        "plan": verified.hash().to_string(),
        "serial": verified.document().serial,
        "signed_by": verified.signed_by(),
        "not_counted": not_counted_json(verified.ignored()),
        "highest_applied": verified.highest_applied(),
        "checks": passed.iter().map(|p| serde_json::json!({"check": p.check, "detail": p.detail})).collect::<Vec<_>>(),
    })
}

fn not_counted_json(ignored: &[IgnoredSignature]) -> Vec<serde_json::Value> {
    ignored
        .iter()
        .map(|i| serde_json::json!({"key_id": i.key_id, "reason": i.reason, "message": i.reason.to_string()}))
        .collect()
}

/// The plan file cannot be read.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("plan rejected: failed to read {path}: {reason}")]
#[diagnostic(code(rtt::verify::unreadable))]
struct Unreadable {
    path: String,
    reason: String,
}
