//! From a config file to a [`LoadedConfig`]: read, parse, check shape, check
//! meaning, refine. [`check_text`] is the pure core; [`load`] adds the file
//! read and, for `.cue`, the `cue export` call.

use miette::Diagnostic;
use std::collections::BTreeMap;
use std::path::Path as FsPath;

use crate::cue::{self, CueError};
use crate::issue::{Issue, LocatedIssue};
use crate::model::Model;
use crate::parse::{SyntaxError, parse_json, parse_yaml};
use crate::raw;
use crate::source::{Node, Path, SourceFile};
use crate::{structure, validate};
use rtt_canonical::{CanonicalError, Sha256, canonical_hash};

/// Config file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.yaml` / `.yml`.
    Yaml,
    /// `.json`.
    Json,
    /// `.cue`, exported to JSON by the `cue` tool.
    Cue,
}

impl Format {
    /// The format a file name implies.
    pub fn from_path(path: &FsPath) -> Option<Self> {
        match path.extension()?.to_str()? {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "cue" => Some(Format::Cue),
            _ => None,
        }
    }
}

/// A config that passed every check, with what it was made from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The text the checks ran on: the file itself (for `.cue`, with spans
    /// from `rtt-cue-spans`; without that tool, the exported JSON).
    pub source: SourceFile,
    /// Its spanned tree, for pointing at config statements later.
    pub root: Node,
    /// The config as written, defaults filled.
    pub config: raw::Config,
    /// The refined model.
    pub model: Model,
}

impl LoadedConfig {
    /// `inputs.config` of a plan: sha256 of the canonical normalised config,
    /// identical whichever format the config was written in.
    ///
    /// Every f64 in a checked config is finite, so an error here is a bug in
    /// the checks, reported as such rather than hashed as zeros.
    pub fn config_hash(&self) -> Result<Sha256, CanonicalError> {
        config_hash(&self.config)
    }

    /// The config with `hosts` unschedulable (`rtt plan --drain`), changed in
    /// the config itself so that a plan's `inputs.config` says what was
    /// planned.
    pub fn drained(mut self, hosts: &[String]) -> Result<LoadedConfig, ConfigError> {
        if hosts.is_empty() {
            return Ok(self);
        }
        for name in hosts {
            match self.config.topology.hosts.iter_mut().find(|h| &h.name == name) {
                Some(host) => host.schedulable = false,
                None => return Err(ConfigError::UnknownDrain { name: name.clone() }),
            }
        }
        self.model =
            validate::refine(&self.config).map_err(|issues| ConfigError::invalid(&self.source, &self.root, issues))?;
        Ok(self)
    }

    /// The config with the latencies a calibration measured (`rtt plan
    /// --profile`, docs/telemetry.md): the named levels' `latency_us` and
    /// agents' `service_us` replaced in the config itself, so that a plan's
    /// `inputs.config` says what was planned. Returns the agents the
    /// calibration names that the config no longer has (skipped).
    pub fn calibrated(
        mut self,
        latency_us: &BTreeMap<String, f64>,
        service_us: &BTreeMap<String, f64>,
    ) -> Result<(LoadedConfig, Vec<String>), ConfigError> {
        let levels = &mut self.config.topology.latency_us;
        for (level, value) in latency_us {
            let slot = match level.as_str() {
                "numa" => &mut levels.numa,
                "host" => &mut levels.host,
                "rack" => &mut levels.rack,
                "zone" => &mut levels.zone,
                "region" => &mut levels.region,
                _ => return Err(ConfigError::UnknownLevel { name: level.clone() }),
            };
            *slot = *value;
        }
        let mut skipped = Vec::new();
        for (agent, value) in service_us {
            match self.config.agents.iter_mut().find(|a| &a.id == agent) {
                Some(found) => found.service_us = *value,
                None => skipped.push(agent.clone()),
            }
        }
        self.model =
            validate::refine(&self.config).map_err(|issues| ConfigError::invalid(&self.source, &self.root, issues))?;
        Ok((self, skipped))
    }

    /// The normalised config as JSON (defaults filled, keys sorted).
    pub fn normalized_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(&self.config)
    }
}

/// `inputs.config` of a checked config (see [`LoadedConfig::config_hash`]),
/// for callers that have let go of the text and the tree.
pub fn config_hash(config: &raw::Config) -> Result<Sha256, CanonicalError> {
    canonical_hash(config)
}

/// Why a config was refused.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read {path}")]
    #[diagnostic(code(rtt::config::read), help("check the path; `rtt init` writes a starter rtt.yaml"))]
    Read {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The name does not say the format.
    #[error("{path} is not a config file rtt can read")]
    #[diagnostic(code(rtt::config::format), help("name the file rtt.yaml, rtt.yml, rtt.json or rtt.cue"))]
    UnknownFormat {
        /// The path.
        path: String,
    },
    /// The bytes are not UTF-8.
    #[error("{path} is not UTF-8 text (invalid byte at line {line}, byte offset {offset})")]
    #[diagnostic(code(rtt::config::encoding), help("configs are UTF-8 YAML, JSON or CUE; is this the right file?"))]
    NotUtf8 {
        /// The path.
        path: String,
        /// Byte offset of the first invalid byte.
        offset: usize,
        /// Its line.
        line: usize,
    },
    /// `--drain` names a host the config does not have.
    #[error("failed to drain `{name}`: no such host in the config")]
    #[diagnostic(help("--drain takes host names from topology.hosts"))]
    UnknownDrain {
        /// The name given.
        name: String,
    },
    /// A calibration names a locality level SPEC §4 does not have.
    #[error("failed to apply the calibration: `{name}` is not a locality level")]
    #[diagnostic(help("levels are numa, host, rack, zone and region"))]
    UnknownLevel {
        /// The name given.
        name: String,
    },
    /// CUE export failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cue(#[from] CueError),
    /// Not well-formed YAML/JSON.
    #[error("{file} is not valid {format}")]
    #[diagnostic(code(rtt::config::syntax))]
    Syntax {
        /// The file.
        file: String,
        /// The format it was read as.
        format: &'static str,
        /// The first syntax error (parsing cannot go on past it).
        #[related]
        issues: Vec<LocatedIssue>,
    },
    /// Well-formed, but wrong: every problem, each with its place.
    #[error("{file}: {} error{} in the config{}", .total, if *.total == 1 { "" } else { "s" }, shown(.issues.len(), *.total))]
    #[diagnostic(
        code(rtt::config::invalid),
        help("nothing was planned; fix the errors below and run `rtt validate` again")
    )]
    Invalid {
        /// The file.
        file: String,
        /// The problems shown (every one, unless [`ConfigError::keep_first`] cut them).
        #[related]
        issues: Vec<LocatedIssue>,
        /// How many there are.
        total: usize,
    },
}

/// " (the first N are shown …)" when not every error is.
fn shown(shown: usize, total: usize) -> String {
    if shown < total { format!(" (the first {shown} are shown; --all-errors shows every one)") } else { String::new() }
}

impl ConfigError {
    /// An invalid config's first `n` problems only (a generated config can
    /// have thousands; the count stays).
    pub fn keep_first(self, n: usize) -> Self {
        match self {
            ConfigError::Invalid { file, mut issues, total } => {
                issues.truncate(n);
                ConfigError::Invalid { file, issues, total }
            }
            other => other,
        }
    }

    /// How many problems there are, shown or not.
    pub fn total(&self) -> usize {
        match self {
            ConfigError::Invalid { total, .. } => *total,
            ConfigError::Syntax { issues, .. } => issues.len(),
            _ => 1,
        }
    }

    /// An invalid config's problems, each located in `source`.
    pub fn invalid(source: &SourceFile, root: &Node, issues: Vec<Issue>) -> Self {
        Self::located(source, issues.into_iter().map(|issue| issue.locate(source, root)).collect())
    }

    /// An invalid config's problems, located already, in file order.
    fn located(source: &SourceFile, mut located: Vec<LocatedIssue>) -> Self {
        located.sort_by_key(|issue| (issue.line, issue.column));
        ConfigError::Invalid { file: source.name().to_owned(), total: located.len(), issues: located }
    }

    /// The located problems, taken out (empty for errors without any).
    pub fn into_issues(self) -> Vec<LocatedIssue> {
        match self {
            ConfigError::Syntax { issues, .. } | ConfigError::Invalid { issues, .. } => issues,
            _ => Vec::new(),
        }
    }

    /// The located problems, for machine-readable output.
    pub fn issues(&self) -> &[LocatedIssue] {
        match self {
            ConfigError::Syntax { issues, .. } | ConfigError::Invalid { issues, .. } => issues,
            _ => &[],
        }
    }
}

/// Reads and checks the config at `path`.
///
/// `-` reads standard input: JSON when its first character (after white
/// space) is `{`, else YAML. A CUE config is read from its file, where `cue`
/// can resolve its imports.
pub fn load(path: &FsPath) -> Result<LoadedConfig, ConfigError> {
    if path.as_os_str() == "-" {
        let name = "(standard input)".to_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
            .map_err(|source| ConfigError::Read { path: name.clone(), source })?;
        let text = utf8(&name, bytes)?;
        let format = if text.trim_start().starts_with('{') { Format::Json } else { Format::Yaml };
        return check_text(SourceFile::new(name, text), format);
    }
    let name = path.display().to_string();
    let format = Format::from_path(path).ok_or_else(|| ConfigError::UnknownFormat { path: name.clone() })?;
    let read = || {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read { path: name.clone(), source })?;
        utf8(&name, bytes)
    };
    match format {
        Format::Yaml | Format::Json => check_text(SourceFile::new(name.clone(), read()?), format),
        Format::Cue => {
            let json = cue::export_json(path)?;
            let Some(spans) = cue::spans(path)? else {
                // Without rtt-cue-spans the export is all there is to point
                // into; its name says so.
                let name = format!("{name} (exported by cue; run scripts/setup for positions in the .cue file)");
                return check_text(SourceFile::new(name, json), format);
            };
            check_cue_export(SourceFile::new(name.clone(), read()?), json, spans)
        }
    }
}

/// Checks a `.cue` config from what the tools said of it: `cue export`'s
/// JSON and `rtt-cue-spans`' places of its values in `source`; pure.
/// Diagnostics point into the `.cue` file wherever a span says where a
/// value stands, and into the export elsewhere.
pub fn check_cue_export(
    source: SourceFile,
    json: String,
    spans: Vec<cue::ValueSpan>,
) -> Result<LoadedConfig, ConfigError> {
    let exported = SourceFile::new(format!("{} (exported by cue)", source.name()), json);
    let mut root = parse_json(exported.text()).map_err(|error| syntax_error(&exported, error, Format::Cue))?;
    let places = spans.into_iter().map(|span| (span.path, (span.value, span.key))).collect();
    root.relocate(&places, source.text());
    check_tree(source, root)
}

fn utf8(name: &str, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..offset].iter().filter(|b| **b == b'\n').count() + 1;
        ConfigError::NotUtf8 { path: name.to_owned(), offset, line }
    })
}

/// Parses and checks config text; pure.
pub fn check_text(source: SourceFile, format: Format) -> Result<LoadedConfig, ConfigError> {
    let parsed = match format {
        Format::Yaml => parse_yaml(source.text()),
        Format::Json | Format::Cue => parse_json(source.text()),
    };
    let root = parsed.map_err(|error| syntax_error(&source, error, format))?;
    check_tree(source, root)
}

/// Checks a parsed document whose spans point into `source`; pure.
pub fn check_tree(source: SourceFile, mut root: Node) -> Result<LoadedConfig, ConfigError> {
    let mut shape = structure::check(&root);
    if !shape.issues.is_empty() {
        // Locate the shape errors, then patch them in place with neutral
        // stand-ins so the semantic checks report their errors in the same
        // run (without their knock-on effects). In place, not on a copy: the
        // tree is most of a validate's memory.
        let mut located: Vec<LocatedIssue> =
            std::mem::take(&mut shape.issues).into_iter().map(|issue| issue.locate(&source, &root)).collect();
        if shape.repair(&mut root)
            && let Ok(patched) = crate::de::from_node::<raw::Config>(&root)
            && let Err(semantic) = validate::refine(&patched)
        {
            let own = semantic.into_iter().filter(|issue| !shape.is_knock_on(&issue.path));
            located.extend(own.map(|issue| issue.locate(&source, &root)));
        }
        return Err(ConfigError::located(&source, located));
    }
    let invalid = |issues: Vec<Issue>| ConfigError::invalid(&source, &root, issues);
    let config: raw::Config = crate::de::from_node(&root).map_err(|e| {
        // The shape check mirrors serde; reaching this is a bug, still reported with a place.
        invalid(vec![Issue::new(&Path::root(), format!("config does not match its types: {e}"), "here".into())])
    })?;
    let model = validate::refine(&config).map_err(invalid)?;
    Ok(LoadedConfig { source, root, config, model })
}

fn syntax_error(source: &SourceFile, error: SyntaxError, format: Format) -> ConfigError {
    let (line, column) = source.line_col(error.span.start());
    let issue = Issue { help: error.help, ..Issue::new(&Path::root(), error.message, "here".into()) };
    let located = LocatedIssue::at_span(issue, source, error.span, line, column);
    let format_name = match format {
        Format::Yaml => "YAML",
        Format::Json | Format::Cue => "JSON",
    };
    ConfigError::Syntax { file: source.name().to_owned(), format: format_name, issues: vec![located] }
}
