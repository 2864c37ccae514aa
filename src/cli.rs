//! The command line (SPEC §9), declared with clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rtt_durable::Layout;

/// rtt turns a typed fleet config into a deterministic, signed placement plan.
#[derive(Debug, Parser)]
#[command(name = "rtt", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Run as if started in DIR (before anything else is read, like `git -C`).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// The rtt directory (registry, overlays, state, WAL); default: `.rtt` beside the config.
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Less on stderr: no solve statistics, progress or notes (errors and warnings stay).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More on stderr: which files and tools were used.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Show every error of an invalid config, not only the first 50.
    #[arg(long, global = true)]
    pub all_errors: bool,
    /// Colour in diagnostics (auto: on a terminal, unless NO_COLOR is set).
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// rtt's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter config.
    Init(InitArgs),
    /// Check a config and report every error with its file, line and column.
    Validate(ValidateArgs),
    /// Place every replica: solve the MILP and write a deterministic plan.
    Plan(PlanArgs),
    /// Explain a plan: what binds, what stops each route being closer, what-ifs.
    Explain(ExplainArgs),
    /// Compare two plans: moved replicas, route p99 changes, new SLO violations (for CI).
    Diff(DiffArgs),
    /// Manage the content-addressed registry of agent manifests.
    Registry(RegistryArgs),
    /// Print an agent's manifest as a provider (and env) sees it, overlays applied.
    View(ViewArgs),
    /// Generate an Ed25519 key pair for signing plans (NAME.key, NAME.pub).
    Keygen(KeygenArgs),
    /// The keys trusted to sign plans: list, add, revoke.
    Keys(KeysArgs),
    /// Sign a plan with a secret key (in place unless -o is given).
    Sign(SignArgs),
    /// Accept or reject a signed plan (trust policy, rollback protection).
    Verify(VerifyArgs),
    /// Serve a verified plan's provider views as a read-only FUSE filesystem.
    Mount(MountArgs),
    /// Write a verified plan's provider views as a directory tree, switched in atomically.
    Materialize(MaterializeArgs),
    /// Carry a signed plan to the hosts: two-phase commit across drivers, verified, logged.
    Apply(ApplyArgs),
    /// Finish a transaction a crash left open (re-send a logged decision, else abort).
    Recover(WorkspaceArgs),
    /// Move back to the plan the plan in force was planned from.
    Rollback(WorkspaceArgs),
    /// Show the applied plan, observed route latency against plan and SLO, in-doubt transactions, driver breakers and phase timings.
    Status(StatusArgs),
    /// Read every host through its driver and compare with the plan in force (exit 2 on drift); --repair puts the plan back on the drifted hosts.
    Drift(DriftArgs),
    /// Keep the fleet at the plan: on a change of config, registry, overlays or calibration, plan, sign (or await approvals), apply, gate; repair drift.
    Reconcile(ReconcileArgs),
    /// Cut the move from the plan in force to a new plan into waves under a disruption budget, each a plan of its own.
    Waves(WavesArgs),
    /// Judge a plan by the route latency observed under it: exit 0 pass, 2 breach, 1 too few samples.
    Gate(GateCommandArgs),
    /// Observed route latency: read OpenMetrics pages and JSON lines into the store.
    Telemetry(TelemetryArgs),
    /// Fit latency per locality level and service time per agent to observed route p99s; write a profile for plan --profile.
    Calibrate(CalibrateArgs),
    /// Flight records: the last events of apply, recover and rollback runs (WAL steps, driver calls, breakers, gate readings).
    Flight(FlightArgs),
    /// The chaos pack: apply a plan on copies of the workspace under injected faults, recover, and judge survived, mixed or lost.
    Chaos(ChaosArgs),
    /// Write one self-contained HTML page of a plan: fleet map, routes planned vs observed vs SLO, churn trade-off.
    Report(ReportArgs),
    /// Check the write-ahead log.
    Wal(WalArgs),
    /// Driver tools: write a new driver in any of 13 languages, the conformance harness, the built-in dir driver.
    Driver(DriverArgs),
    /// Serve the verified plan's provider views and rtt's read-only tools over the Model Context Protocol (stdio).
    Mcp(McpArgs),
    /// Fingerprint this machine, measure pipe, socket and shared-memory ring, and keep the chosen ring parameters as its profile.
    Tune(TuneArgs),
    /// Print the JSON Schema of the config (for editors).
    Schema,
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Write man pages (rtt.1 and one per command, rtt-plan.1 …) into a directory.
    Man(ManArgs),
}

/// `rtt init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the config.
    #[arg(default_value = "rtt.yaml")]
    pub path: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `rtt validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    pub config: Option<PathBuf>,
    /// The plan to move from (churn is counted against it; serial follows it).
    #[arg(long, value_name = "PLAN")]
    pub previous: Option<PathBuf>,
    /// Write the plan here (canonical JSON).
    #[arg(short, long, value_name = "PLAN")]
    pub output: Option<PathBuf>,
    /// Relative MIP gap at which the solver may stop.
    #[arg(long, default_value_t = 1e-4, value_name = "G")]
    pub gap: f64,
    /// Bound the whole command to this many seconds (makes the plan depend on machine speed).
    #[arg(long, value_name = "S")]
    pub time_limit: Option<f64>,
    /// Memory the whole-fleet MILP may take, e.g. 8GiB or 512MiB; past it the planner does not
    /// build that model and exits 4 saying what it needs when nothing smaller finds a plan
    /// [default: half of what the process may use: MemTotal, `ulimit -v`, the cgroup's memory.max].
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    pub memory_limit: Option<u64>,
    /// Stop the solver after this many branch-and-bound nodes (deterministic).
    #[arg(long, value_name = "N")]
    pub node_limit: Option<u64>,
    /// Agent-neighbourhood sub-MILPs of the large-neighbourhood search (default: sized to the
    /// config); on fleets of at most 64 agents, up to 3 domain passes come on top. 0 turns it all off.
    #[arg(long, value_name = "N")]
    pub search_rounds: Option<usize>,
    /// Treat these hosts as unschedulable for this plan.
    #[arg(long, value_name = "HOST", num_args = 1..)]
    pub drain: Vec<String>,
    /// Sign the plan with this secret key (written by `rtt keygen`).
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Also write each provider's views as a signed view plan, DIR/provider.<p>.view.json, that a
    /// mount or materialize of that provider accepts alone (needs --sign-key).
    #[arg(long, value_name = "DIR", requires = "sign_key")]
    pub view_plans: Option<PathBuf>,
    /// Show what the objective is made of and what binds.
    #[arg(long)]
    pub explain: bool,
    /// Plan with the latencies a calibration measured (`rtt calibrate`): its levels' latency_us and agents' service_us replace the config's.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The plan to explain.
    pub plan: PathBuf,
    /// The config the plan was made from.
    #[arg(long, value_name = "CONFIG")]
    pub config: PathBuf,
    /// The plan it moved from (churn is counted against it).
    #[arg(long, value_name = "PLAN")]
    pub previous: Option<PathBuf>,
    /// Re-solve with one statement changed, e.g. 'drop anti_affinity of search@1',
    /// 'cores h01/1 +8', 'slo gateway@1->search@1 = 300' (repeatable).
    #[arg(long = "what-if", value_name = "CHANGE")]
    pub what_if: Vec<String>,
    /// Write the churn trade-off chart (SVG) here.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// The calibration the plan was made with (`rtt plan --profile`).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The plan.
    pub plan: PathBuf,
    /// The config it was made from.
    #[arg(long, value_name = "CONFIG")]
    pub config: PathBuf,
    /// The plan it moved from (for the churn trade-off).
    #[arg(long, value_name = "PLAN")]
    pub previous: Option<PathBuf>,
    /// The calibration it was made with (`rtt plan --profile`).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Write the page here.
    #[arg(long, value_name = "OUT")]
    pub html: PathBuf,
}

/// `rtt chaos`.
#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ChaosCommand,
}

/// `rtt chaos` subcommands.
#[derive(Debug, Subcommand)]
pub enum ChaosCommand {
    /// Run scenarios (default: every bundled one) against copies of this workspace.
    Run(ChaosRunArgs),
    /// List the bundled scenarios.
    List,
    /// Forward protocol lines to a driver, misbehaving once (the pack's fault injector).
    #[command(hide = true)]
    Proxy {
        /// FAULT@POINT: crash, hang, garbage, slow:MS or breach:FROM->TO=US,…; POINT a method or a Tx phase.
        #[arg(long)]
        fault: String,
        /// Created when the fault fires; while it exists, the fault does not fire again.
        #[arg(long)]
        marker: PathBuf,
        /// The driver's command.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

/// `rtt chaos run`.
#[derive(Debug, Args)]
pub struct ChaosRunArgs {
    /// Scenarios: bundled names (`rtt chaos list`) or scenario files.
    pub scenarios: Vec<String>,
    /// The signed plan to apply under the faults (the plan in force is the one to fall back to).
    #[arg(long, value_name = "PLAN")]
    pub plan: PathBuf,
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// The short pack: only scenarios marked quick, at most 8 points of a sweep, one driver.
    #[arg(long)]
    pub quick: bool,
    /// Where the report and the flight records go (default: RTT/chaos/<time>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt flight`.
#[derive(Debug, Args)]
pub struct FlightArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: FlightCommand,
}

/// `rtt flight` subcommands.
#[derive(Debug, Subcommand)]
pub enum FlightCommand {
    /// List the flight records, oldest first.
    List(WorkspaceArgs),
    /// Show a flight record as a timeline (default: the newest).
    Show {
        /// Its id (a prefix is enough when it is unique).
        id: Option<String>,
        /// Where, and how to print.
        #[command(flatten)]
        workspace: WorkspaceArgs,
    },
}

/// `rtt calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// The plan whose observations to fit (default: the plan in force).
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// Write the profile here (default: RTT/calibration.json).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Samples a route needs before it is fitted.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub min_samples: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt registry`.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// The rtt directory (resolved from `--dir`, see `rtt --help`).
    #[arg(skip)]
    pub layout: Layout,
    /// Output format (`get` always prints the object's bytes).
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
    /// What to do.
    #[command(subcommand)]
    pub command: RegistryCommand,
}

/// `rtt registry` subcommands.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Store manifests (JSON files with an `id`) and point the index at them.
    Add {
        /// Manifest files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also vouch for them as a registry signer with this secret key (its targets file,
        /// registry/targets/<key id>.json, signed).
        #[arg(long, value_name = "KEY")]
        sign_key: Option<PathBuf>,
        /// How long the signer's targets file stays valid; every signing renews it (e.g. 90d, 12h).
        #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = parse_duration, requires = "sign_key")]
        expires_in: std::time::Duration,
    },
    /// Vouch for manifests of the index as a registry signer: record their hashes in the
    /// signer's targets file (version up by one, expiry renewed), signed.
    Sign {
        /// Agent ids whose indexed manifests to vouch for.
        #[arg(required_unless_present = "all", conflicts_with = "all", value_name = "ID")]
        ids: Vec<String>,
        /// Every manifest of the index.
        #[arg(long)]
        all: bool,
        /// The registry signer's secret key (written by `rtt keygen`).
        #[arg(long, value_name = "KEY", required = true)]
        sign_key: PathBuf,
        /// How long the signer's targets file stays valid (e.g. 90d, 12h).
        #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = parse_duration)]
        expires_in: std::time::Duration,
    },
    /// Print an object's bytes, by agent id or sha256:<hex>.
    Get {
        /// An agent id or a hash.
        #[arg(required_unless_present = "batch", conflicts_with = "batch", value_name = "ID|HASH")]
        query: Option<String>,
        /// Read ids and hashes from stdin, one per line; print `<hash> <size>` then the bytes for each.
        #[arg(long)]
        batch: bool,
    },
    /// List the index: agent id and manifest hash.
    Ls,
    /// Pack every object into agents.pack and index.lut; loose copies are removed.
    Pack,
    /// Re-hash every object and look for every indexed one, and (under a registry_threshold)
    /// check the registry signers' targets files; exit 1 if anything is corrupt, missing or unsigned.
    Verify,
    /// Remove objects that neither the index nor a retained plan references.
    Gc {
        /// Plans whose views must survive (besides those in .rtt/state/plans/).
        #[arg(long, value_name = "PLAN", num_args = 1..)]
        keep: Vec<PathBuf>,
    },
}

/// `rtt view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Agent id (or a manifest hash).
    pub id: String,
    /// Provider whose overlay applies (.rtt/overlays/provider/<P>.json, if present).
    #[arg(long, value_name = "P")]
    pub provider: String,
    /// Environment whose overlay applies (.rtt/overlays/env/<E>.json).
    #[arg(long, value_name = "E")]
    pub env: Option<String>,
    /// The rtt directory (resolved from `--dir`).
    #[arg(skip)]
    pub layout: Layout,
}

/// `rtt keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Base name of the key files: writes NAME.key (secret, mode 0600) and NAME.pub; never overwrites.
    #[arg(long, value_name = "NAME")]
    pub out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
    /// Trust store: keys/*.pub, policy.json, revoked.json [default: DIR/registry/trust, DIR from --dir].
    #[arg(long = "trust", value_name = "DIR", global = true)]
    pub trust_override: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
    /// Resolved trust store.
    #[arg(skip)]
    pub trust: PathBuf,
}

/// `rtt keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Every key file and revoked id, the threshold, and whether the store is usable.
    List,
    /// Trust a public key (NAME.pub from `rtt keygen`): copied into keys/ as <key id>.pub.
    Add {
        /// The public key file.
        key: PathBuf,
        /// Trust it to vouch for manifests (registry-keys/, signed ingest) instead of signing plans.
        #[arg(long)]
        registry: bool,
    },
    /// Revoke a key for good, as plan and as registry signer: its signatures never count again (its file may stay).
    Revoke {
        /// The key id (16 hex digits, as `rtt keys list` shows it).
        key_id: String,
    },
}

/// `rtt sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The plan to sign.
    pub plan: PathBuf,
    /// Secret key file (written by `rtt keygen`).
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// Write the signed plan here instead of replacing PLAN (`-`: standard output).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Output format of the report (on stderr when the plan goes to standard output).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The plan to check.
    pub plan: PathBuf,
    /// Accept the plan only if its hash (sha256 of its signed bytes) is this one.
    #[arg(long, value_name = "sha256:HEX")]
    pub hash: Option<rtt_canonical::Sha256>,
    /// What the plan is checked against.
    #[command(flatten)]
    pub checks: PlanChecks,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old plan.
    pub old: PathBuf,
    /// The new plan.
    pub new: PathBuf,
    /// Recompute both plans' route figures under this config (its SLOs included).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Exit 2 when the plans differ (0 when they are the same).
    #[arg(long)]
    pub exit_code: bool,
    /// Exit 1 when any route's p99 grows by more than PCT percent.
    #[arg(long, value_name = "PCT", allow_negative_numbers = true)]
    pub fail_on_regression: Option<f64>,
}

/// What a plan is checked against before it is trusted (verify, mount, materialize).
#[derive(Debug, Args)]
pub struct PlanChecks {
    /// Trust store: keys/*.pub and policy.json [default: DIR/registry/trust, DIR from --dir].
    #[arg(long = "trust", value_name = "DIR")]
    trust_override: Option<PathBuf>,
    /// State directory: the applied plan and the highest applied serial (missing: nothing applied
    /// yet) [default: DIR/state].
    #[arg(long = "state", value_name = "DIR")]
    state_override: Option<PathBuf>,
    /// Resolved trust store.
    #[arg(skip)]
    pub trust: PathBuf,
    /// Resolved state directory.
    #[arg(skip)]
    pub state: PathBuf,
    /// The rtt directory whose registry/ and overlays/ the plan's views must match.
    #[arg(skip)]
    pub layout: Layout,
}

impl PlanChecks {
    /// Fills the paths from the rtt directory, keeping `--trust` / `--state`.
    pub fn resolve(&mut self, layout: Layout) {
        self.trust = self.trust_override.clone().unwrap_or_else(|| layout.registry().trust().dir().to_owned());
        self.state = self.state_override.clone().unwrap_or_else(|| layout.state().dir().to_owned());
        self.layout = layout;
    }
}

/// `rtt mount`.
///
/// `rtt mount status` lists mounts; a mount point named `status` is written
/// `./status`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct MountArgs {
    /// Other things to do than mounting.
    #[command(subcommand)]
    pub command: Option<MountCommand>,
    /// Where to mount (an existing directory; one named `status` is written `./status`).
    #[arg(required = true)]
    pub mountpoint: Option<PathBuf>,
    /// Serve this plan (default: follow the applied plan, switching when a new one is applied).
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// Serve only this provider's views; with a view plan (`rtt plan --view-plans`), it must be
    /// that plan's provider.
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
    /// Stay in the foreground until SIGINT or SIGTERM, then unmount.
    #[arg(long)]
    pub foreground: bool,
    /// Unmount a mount left behind by a killed `rtt mount`, then exit.
    #[arg(long, conflicts_with_all = ["plan", "foreground"])]
    pub cleanup: bool,
    /// What the plan is checked against.
    #[command(flatten)]
    pub checks: PlanChecks,
}

/// `rtt mount` subcommands.
#[derive(Debug, Subcommand)]
pub enum MountCommand {
    /// List the mounts of this rtt directory: where, which plan, and whether each is still serving.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// `rtt tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Measure briefly (a second or two; figures are rougher).
    #[arg(long)]
    pub quick: bool,
    /// Sign the profile with this secret key (as plans are signed).
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The rtt directory (resolved from --dir).
    #[arg(skip)]
    pub layout: Layout,
}

/// `rtt mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Serve this plan (default: follow the applied plan, notifying clients when a new one is applied).
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// Serve only this provider's views.
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
    /// What the plan is checked against.
    #[command(flatten)]
    pub checks: PlanChecks,
}

/// `rtt materialize`.
#[derive(Debug, Args)]
pub struct MaterializeArgs {
    /// The directory to (re)place the tree at.
    #[arg(value_name = "DIR")]
    pub target: PathBuf,
    /// The plan whose views to write (default: the applied plan).
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// How files reach the tree.
    #[arg(long, value_enum, default_value_t = MaterializeMode::Auto)]
    pub mode: MaterializeMode,
    /// Write only this provider's views; with a view plan (`rtt plan --view-plans`), it must be
    /// that plan's provider.
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
    /// What the plan is checked against.
    #[command(flatten)]
    pub checks: PlanChecks,
}

/// `rtt materialize --mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MaterializeMode {
    /// Hardlink, else symlink, else copy.
    Auto,
    /// Hard links to the registry's objects (same filesystem).
    Hardlink,
    /// Symbolic links to the registry's objects.
    Symlink,
    /// `{"$ref": "sha256:…"}` files.
    Proxy,
    /// Copies.
    Copy,
}

/// `rtt apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The signed plan (`-`: standard input).
    pub plan: PathBuf,
    /// Apply the plan only if its hash (sha256 of its signed bytes) is this one.
    #[arg(long, value_name = "sha256:HEX")]
    pub hash: Option<rtt_canonical::Sha256>,
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// After the commit, watch observed route latency this long (e.g. 60s) and roll back automatically on an SLO breach.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub soak: Option<std::time::Duration>,
    /// Keep a flight record of this run (.rtt/flight/) even when all goes well; one is always kept on an abort, a rollback, a failed gate or a recovery.
    #[arg(long)]
    pub flight_record: bool,
    /// Time between readings during the soak (default: a tenth of it, between 100ms and 5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "soak")]
    pub soak_interval: Option<std::time::Duration>,
    /// Telemetry sources and what passes.
    #[command(flatten)]
    pub gate: GateArgs,
}

/// Where observed route latency comes from.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// A Prometheus / OpenMetrics text page with route latency histograms or summaries: a file, or an http://localhost URL (repeatable).
    #[arg(long = "metrics", value_name = "FILE|URL")]
    pub metrics: Vec<String>,
    /// A JSON-lines file of route latency samples (repeatable).
    #[arg(long = "samples", value_name = "FILE")]
    pub samples: Vec<PathBuf>,
}

impl SourceArgs {
    /// The sources, pages first.
    pub fn sources(&self) -> Vec<rtt_telemetry::source::Source> {
        use rtt_telemetry::source::Source;
        self.metrics
            .iter()
            .map(|m| Source::Metrics(m.clone()))
            .chain(self.samples.iter().map(|p| Source::Samples(p.clone())))
            .collect()
    }
}

/// Where observed route latency comes from, and what the SLO gate demands.
#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// Telemetry sources.
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Samples a route needs before the gate judges it.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub min_samples: u64,
    /// Also fail a route whose observed p99 is more than PCT percent above the previous plan's observed p99.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub regression_budget: Option<f64>,
}

impl GateArgs {
    /// The gate's policy.
    pub fn policy(&self) -> rtt_telemetry::gate::Policy {
        rtt_telemetry::gate::Policy { min_samples: self.min_samples, regression_pct: self.regression_budget }
    }
}

/// `rtt gate`.
#[derive(Debug, Args)]
pub struct GateCommandArgs {
    /// The plan to judge (`-`: standard input).
    pub plan: PathBuf,
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Count what `--metrics` pages hold as observed under this plan (pages of processes started with it), instead of taking a first reading as the baseline.
    #[arg(long)]
    pub from_zero: bool,
    /// Telemetry sources (read first, into this plan's observations) and what passes.
    #[command(flatten)]
    pub gate: GateArgs,
}

/// `rtt telemetry`.
#[derive(Debug, Args)]
pub struct TelemetryArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TelemetryCommand,
}

/// `rtt telemetry` subcommands.
#[derive(Debug, Subcommand)]
pub enum TelemetryCommand {
    /// Read sources once into the observations of the plan in force (or --plan).
    Ingest(IngestArgs),
}

/// `rtt telemetry ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The plan file the samples were observed under (default: the plan in force).
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// Telemetry sources.
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Count what pages hold as new (pages of processes started with the plan), instead of taking a first reading as the baseline.
    #[arg(long)]
    pub from_zero: bool,
}

/// Commands that work on the `.rtt/` beside a config.
#[derive(Debug, Args)]
pub struct WorkspaceArgs {
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt reconcile`.
#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Run one cycle and exit (0 settled or waiting for approvals, 1 failed, 2 drift not repaired): for CI and cron.
    #[arg(long)]
    pub once: bool,
    /// Time between cycles (drift probes); a change of the inputs starts one at once.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub interval: std::time::Duration,
    /// Sign new plans with this key; without it, plans wait in RTT/pending/ until their approvals verify.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Plan with this calibration (rtt calibrate); its changes start a cycle too.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Refit the calibration each cycle from what was observed under the plan in force, and replace --profile when a level or service time moved by more than --recalibrate-pct: telemetry becomes an input.
    #[arg(long, requires = "profile")]
    pub calibrate: bool,
    /// How far a fitted value must move, percent, before the profile is replaced.
    #[arg(long, value_name = "PCT", value_parser = parse_percent, default_value = "10")]
    pub recalibrate_pct: f64,
    /// Put the plan in force back on hosts that drifted from it (else drift is reported and alerted).
    #[arg(long)]
    pub repair: bool,
    /// Refuse a new plan that moves more replicas than this.
    #[arg(long, value_name = "N")]
    pub max_moves: Option<u64>,
    /// A disruption budget: move at most N replicas per wave (rtt waves), each wave applied and soaked before the next; needs --sign-key.
    #[arg(long, value_name = "N")]
    pub wave_moves: Option<u32>,
    /// A disruption budget: move at most PCT percent of any agent's replicas per wave; needs --sign-key.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub wave_agent_pct: Option<f64>,
    /// Soak each applied plan this long under the SLO gate (a breach rolls back).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub soak: Option<std::time::Duration>,
    /// Samples a route needs before the gate judges it.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub min_samples: u64,
    /// Also fail a route more than PCT percent above the previous plan's observed p99.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub regression_budget: Option<f64>,
    /// OpenMetrics pages the gate reads during a soak (repeatable).
    #[arg(long = "metrics", value_name = "FILE|URL")]
    pub metrics: Vec<String>,
    /// Serve /healthz, /readyz and /metrics on this loopback address (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// High availability: etcd members (host:port, repeatable or comma-separated). Controllers of one cluster elect a leader on a lease; only it acts, and the coordinator's memory lives in etcd (docs/ha.md).
    #[arg(long = "etcd", value_name = "ENDPOINT", value_delimiter = ',')]
    pub etcd: Vec<String>,
    /// The cluster's name: its keys are under /rtt/NAME/ in etcd.
    #[arg(long, value_name = "NAME", default_value = "default", requires = "etcd")]
    pub etcd_cluster: String,
    /// The leadership lease: a leader that stops refreshing it is replaced after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s", requires = "etcd")]
    pub lease_ttl: std::time::Duration,
    /// This controller's name, in the leader key, the logs and the drivers' audit trails (default: HOST-PID).
    #[arg(long, value_name = "NAME")]
    pub id: Option<String>,
}

/// `rtt waves`.
#[derive(Debug, Args)]
pub struct WavesArgs {
    /// The plan to move to.
    pub plan: PathBuf,
    /// The plan in force (the move starts there).
    #[arg(long, value_name = "PLAN")]
    pub previous: PathBuf,
    /// The config both were made from.
    #[arg(long, value_name = "CONFIG")]
    pub config: PathBuf,
    /// The calibration the plan was made with.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Replicas moved per wave.
    #[arg(long, value_name = "N")]
    pub max_moves: Option<u32>,
    /// Percent of any one agent's replicas moved per wave (at least one replica).
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub max_agent_pct: Option<f64>,
    /// Sign every wave with this key.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Write wave-1.json, wave-2.json, … here.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Put the plan in force back on the drifted hosts (one transaction, only those hosts).
    #[arg(long)]
    pub repair: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Config file (default: the rtt.cue, rtt.yaml, rtt.yml or rtt.json in this directory).
    #[arg(long, value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `rtt wal`.
#[derive(Debug, Args)]
pub struct WalArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: WalCommand,
}

/// `rtt wal` subcommands.
#[derive(Debug, Subcommand)]
pub enum WalCommand {
    /// Check every record's hash, sequence and link, and the anchor; report a torn last record.
    Verify(WorkspaceArgs),
}

/// `rtt driver`.
#[derive(Debug, Args)]
pub struct DriverArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DriverCommand,
}

/// `rtt driver` subcommands.
#[derive(Debug, Subcommand)]
pub enum DriverCommand {
    /// Check that a driver speaks protocol 1: framing, every method, idempotence, fencing, crash durability.
    Test {
        /// Deadline of each call, ms.
        #[arg(long, default_value_t = 5000, value_name = "MS")]
        timeout_ms: u64,
        /// The driver's root, the one directory its sandbox may write (passed as RTT_DRIVER_ROOT) [default: a fresh temporary directory].
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Grant a capability, as a config's `capabilities` would (`fs:PATH`, `net:PORT`, `exec`, …); repeatable.
        #[arg(long = "grant", value_name = "CAPABILITY")]
        grants: Vec<String>,
        /// Sandbox the driver as `rtt apply` would (`default`), insist on every layer, or not at all.
        #[arg(long, value_enum, default_value_t = SandboxArg::Default)]
        sandbox: SandboxArg,
        /// Test a resident driver reached on a Unix socket: start COMMAND with RTT_DRIVER_SOCKET=PATH
        /// (`root`: `driver.sock` in its root) and make every call through the socket.
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// The driver's command and arguments (after `--`).
        #[arg(required = true, last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Write a new driver in LANG that passes `rtt driver test` as it is: the SDK, a backend to replace, a README.
    New {
        /// The language.
        #[arg(long, value_name = "LANG", value_parser = clap::builder::PossibleValuesParser::new(crate::scaffold::names()))]
        lang: String,
        /// The driver's name (lowercase letters, digits and `-`); also its directory unless --out.
        name: String,
        /// Where to write it (must not exist, or be empty) [default: ./NAME].
        #[arg(long = "out", value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Serve the built-in dir driver over stdin/stdout (protocol 1).
    Dir {
        /// Where host placements live.
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// The driver's name (selects its fault-injection points).
        #[arg(long, default_value = "dir")]
        name: String,
    },
}

/// `--sandbox` of `rtt driver test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxArg {
    /// Every layer the kernel has.
    Default,
    /// Every layer, or fail.
    Required,
    /// None.
    Off,
}

/// `rtt completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `rtt man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Where to write them (made if missing); e.g. /usr/local/share/man/man1.
    #[arg(default_value = "man")]
    pub dir: PathBuf,
}

/// Output formats of `rtt diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For a person.
    Text,
    /// For a pull-request comment.
    Markdown,
    /// For a program.
    Json,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For a person.
    Text,
    /// For a program.
    Json,
}

/// `8GiB`, `512MiB`, `1.5G`, `4096K` or plain bytes (binary units whichever is written).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown unit `{other}`; write e.g. 8GiB, 512MiB or a number of bytes")),
    };
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a size; write e.g. 8GiB or 512MiB"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("`{text}`: a memory limit must be more than zero"));
    }
    Ok((value * (1u64 << shift) as f64) as u64)
}

/// `--expires-in`: a duration such as `90d`, `12h` or `1week`, above zero.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration =
        humantime::parse_duration(text.trim()).map_err(|e| format!("`{text}`: {e}; write e.g. 90d or 12h"))?;
    if duration.is_zero() {
        return Err(format!("`{text}`: a duration must be more than zero"));
    }
    Ok(duration)
}

/// `--regression-budget`: a percentage such as `20` or `20%`, zero or more.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!("`{text}` is not a percentage; write e.g. 20 or 20%")),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_bytes, parse_duration};

    #[test]
    fn durations_parse_in_human_units() {
        assert_eq!(parse_duration("90d"), Ok(std::time::Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(std::time::Duration::from_secs(12 * 3_600)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_bytes("8GiB"), Ok(8 << 30));
        assert_eq!(parse_bytes("1.5G"), Ok(3 << 29));
        assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("8 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_bytes("0GiB").is_err());
        assert!(parse_bytes("GiB").is_err());
    }
}
