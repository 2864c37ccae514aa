//! Shape checks: every value of a document against the JSON Schema derived
//! from [`crate::raw`], reporting *all* mismatches with their paths.
//!
//! serde stops at the first error; operators fixing a config want the whole
//! list. Checking the spanned tree against the generated schema gives both,
//! from one source of truth (the Rust types). Only the keywords schemars emits
//! are understood; anything else in the schema is a bug caught by tests.

use std::sync::LazyLock;

use serde_json::{Map, Value as Json};

use crate::issue::Issue;
use crate::raw;
use crate::source::{Node, Path, Segment, Target, Value};

static SCHEMA: LazyLock<Json> = LazyLock::new(raw::json_schema);
static NO_PROPERTIES: LazyLock<Map<String, Json>> = LazyLock::new(Map::new);

/// The shape errors of a document, and how to patch it so that the semantic
/// checks can still run and report their errors in the same pass.
pub struct Shape {
    /// Every shape error, in document order.
    pub issues: Vec<Issue>,
    repairs: Vec<(Path, Repair)>,
}

/// What to do with a value that has a shape error, to check the rest.
#[derive(Debug, Clone)]
enum Repair {
    /// The value is usable as it is (e.g. a name with a bad format).
    Keep,
    /// Drop the key (an unknown field).
    Remove,
    /// Stand in this neutral value.
    Replace(Json),
    /// Nothing sensible stands in (a missing field): skip the semantic checks.
    Impossible,
}

/// Every shape error in `root`.
pub fn check(root: &Node) -> Shape {
    let mut checker = Checker { root: &SCHEMA, issues: Vec::new(), repairs: Vec::new() };
    checker.node(&SCHEMA, root, &Path::root());
    Shape { issues: checker.issues, repairs: checker.repairs }
}

impl Shape {
    /// Patches every shape error in place, or returns `false` (leaving the
    /// document half patched) when some error has no neutral stand-in.
    /// Stand-ins keep the span of the value they replace and only mapping
    /// keys are removed, so every path the semantic checks report still
    /// points where it did.
    pub fn repair(&self, document: &mut Node) -> bool {
        self.repairs.iter().all(|(path, repair)| Self::repair_one(document, path, repair).is_some())
    }

    fn repair_one(document: &mut Node, path: &Path, repair: &Repair) -> Option<()> {
        let (last, parent) = path.0.split_last()?;
        let target = document.get_mut(&Path(parent.to_vec()))?;
        match (repair, last, &mut target.value) {
            (Repair::Keep, ..) => {}
            (Repair::Impossible, ..) => return None,
            (Repair::Remove, Segment::Key(key), Value::Map(entries)) => {
                let kept: Vec<_> =
                    std::mem::take(entries).into_vec().into_iter().filter(|(k, _)| *k.name != **key).collect();
                *entries = kept.into_boxed_slice();
            }
            (Repair::Replace(value), Segment::Key(key), Value::Map(entries)) => {
                let (_, node) = entries.iter_mut().find(|(k, _)| *k.name == **key)?;
                *node = Node::from_json(value, node.span);
            }
            (Repair::Replace(value), Segment::Index(i), Value::Seq(items)) if *i < items.len() => {
                items[*i] = Node::from_json(value, items[*i].span);
            }
            _ => return None,
        }
        Some(())
    }

    /// Whether a semantic issue at `path` may be a knock-on effect of a
    /// repair: it lies in the same list item as a repaired value, and is not a
    /// reference to another statement (those stand on their own).
    pub fn is_knock_on(&self, path: &Path) -> bool {
        let is_reference = matches!(path.0.last(),
            Some(Segment::Key(key)) if ["with", "agent", "host", "from", "to", "driver", "hosts_driver"].contains(&key.as_str()));
        !is_reference
            && self.repairs.iter().any(|(repaired, _)| {
                let item = item_prefix(repaired);
                path.0.starts_with(item) || repaired.0.starts_with(&path.0)
            })
    }
}

/// The path up to and including its last list index (the item it is in).
fn item_prefix(path: &Path) -> &[Segment] {
    match path.0.iter().rposition(|s| matches!(s, Segment::Index(_))) {
        Some(i) => &path.0[..=i],
        None => &path.0,
    }
}

struct Checker<'s> {
    root: &'s Json,
    issues: Vec<Issue>,
    repairs: Vec<(Path, Repair)>,
}

impl<'s> Checker<'s> {
    fn resolve(&self, mut schema: &'s Json) -> &'s Json {
        while let Some(reference) = schema.get("$ref").and_then(Json::as_str) {
            let name = reference.trim_start_matches("#/$defs/");
            match self.root.get("$defs").and_then(|defs| defs.get(name)) {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    fn node(&mut self, schema: &'s Json, node: &Node, path: &Path) {
        let description = schema.get("description").and_then(Json::as_str);
        let default = schema.get("default");
        let schema = self.resolve(schema);
        let description = description.or_else(|| schema.get("description").and_then(Json::as_str));
        for keyword in ["anyOf", "oneOf"] {
            if let Some(branches) = schema.get(keyword).and_then(Json::as_array) {
                self.alternatives(branches, node, path, description);
                return;
            }
        }
        if !self.type_matches(schema, default, node, path, description) {
            return;
        }
        if let Some(constant) = schema.get("const")
            && node.to_json() != *constant
        {
            let issue = Issue::new(path, format!("`{path}` must be {constant}"), found(node));
            self.push(issue, Repair::Replace(constant.clone()));
        }
        match &node.value {
            Value::Map(entries) => self.map(schema, entries, path),
            Value::Seq(items) => {
                if let Some(min) = schema.get("minItems").and_then(Json::as_u64)
                    && (items.len() as u64) < min
                {
                    let message = format!("`{path}` needs at least {min} item{}", plural(min));
                    self.push(Issue::new(path, message, "empty list".into()).help_opt(description), Repair::Impossible);
                }
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.node(item_schema, item, &path.index(i));
                    }
                }
            }
            Value::Number(number) => self.number(schema, number.as_f64(), node, path, description),
            Value::String(text) => {
                if let Some(pattern) = schema.get("pattern").and_then(Json::as_str)
                    && !pattern_matches(pattern, text)
                {
                    let message = format!("`{path}` has an invalid format");
                    let help =
                        format!("must match {pattern}{}", description.map(|d| format!(" ({d})")).unwrap_or_default());
                    self.push(Issue::new(path, message, found(node)).help(help), Repair::Keep);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn alternatives(&mut self, branches: &'s [Json], node: &Node, path: &Path, description: Option<&str>) {
        let mut candidates = Vec::new();
        for branch in branches {
            let mut trial = Checker { root: self.root, issues: Vec::new(), repairs: Vec::new() };
            trial.node(branch, node, path);
            if trial.issues.is_empty() {
                return;
            }
            candidates.push((self.resolve(branch), trial));
        }
        let constants: Vec<String> =
            candidates.iter().filter_map(|(schema, _)| schema.get("const").map(Json::to_string)).collect();
        if constants.len() == candidates.len() {
            let message = format!("`{path}` must be one of {}", constants.join(", "));
            let first = candidates[0].0.get("const").cloned().unwrap_or(Json::Null);
            self.push(Issue::new(path, message, found(node)), Repair::Replace(first));
            return;
        }
        // Report the branch that agrees with the value's kind (e.g. the struct
        // behind an `Option`), so the message is about the real mistake.
        let matching = candidates.iter().position(|(schema, _)| {
            let types = schema_types(schema);
            !types.is_empty() && types.iter().any(|t| kind_matches(t, node)) && schema.get("const").is_none()
        });
        match matching {
            Some(index) => {
                let (_, trial) = candidates.swap_remove(index);
                self.issues.extend(trial.issues);
                self.repairs.extend(trial.repairs);
            }
            None => {
                let expected: Vec<String> = candidates.iter().map(|(schema, _)| describe(schema)).collect();
                let message = format!("`{path}` must be {}", expected.join(" or "));
                self.push(Issue::new(path, message, found(node)).help_opt(description), Repair::Impossible);
            }
        }
    }

    fn type_matches(
        &mut self,
        schema: &'s Json,
        default: Option<&Json>,
        node: &Node,
        path: &Path,
        description: Option<&str>,
    ) -> bool {
        let types = schema_types(schema);
        if types.is_empty() || types.iter().any(|t| kind_matches(t, node)) {
            return true;
        }
        let expected: Vec<&str> = types.iter().filter(|t| **t != "null").map(|t| article(t)).collect();
        let message = format!("`{path}` must be {}", expected.join(" or "));
        // A neutral stand-in lets the semantic checks run on the rest of the
        // config (a route to an unknown agent is still reported).
        let stand_in = default.cloned().or_else(|| self.neutral(Some(schema)));
        let repair = stand_in.map_or(Repair::Impossible, Repair::Replace);
        self.push(Issue::new(path, message, found(node)).help_opt(description), repair);
        false
    }

    fn map(&mut self, schema: &'s Json, entries: &[(crate::source::Key, Node)], path: &Path) {
        let properties = schema.get("properties").and_then(Json::as_object).unwrap_or(&NO_PROPERTIES);
        let additional = schema.get("additionalProperties");
        for (key, value) in entries {
            let child = path.key(&key.name);
            if let Some(property) = properties.get(&*key.name) {
                self.node(property, value, &child);
                continue;
            }
            match additional {
                Some(Json::Bool(false)) => {
                    let names: Vec<&str> = properties.keys().map(String::as_str).collect();
                    let message = format!("unknown field `{}` in {}", key.name, describe_parent(path));
                    let help = match did_you_mean(&key.name, &names) {
                        Some(guess) => format!("did you mean `{guess}`? valid fields: {}", names.join(", ")),
                        None => format!("valid fields: {}", names.join(", ")),
                    };
                    let issue = Issue::at(&child, Target::Key, message, "unknown field".into()).help(help);
                    self.push(issue, Repair::Remove);
                }
                Some(value_schema @ Json::Object(_)) => self.node(value_schema, value, &child),
                _ => {}
            }
        }
        if let Some(required) = schema.get("required").and_then(Json::as_array) {
            for name in required.iter().filter_map(Json::as_str) {
                if entries.iter().any(|(key, _)| &*key.name == name) {
                    continue;
                }
                let field_doc = properties.get(name).and_then(|p| p.get("description")).and_then(Json::as_str);
                let message = format!("missing field `{name}` in {}", describe_parent(path));
                let help = match field_doc {
                    Some(doc) => format!("add `{name}`: {}", doc.trim_end_matches('.').to_lowercase()),
                    None => format!("add `{name}`"),
                };
                // Point at the mapping's first key: a short label beats a many-line span.
                let (anchor, target) = match entries.first() {
                    Some((first, _)) => (path.key(&first.name), Target::Key),
                    None => (path.clone(), Target::Value),
                };
                let label = format!(
                    "{} needs `{name}`",
                    if path.0.is_empty() { "the config".into() } else { format!("`{path}`") }
                );
                let repair = self.neutral(properties.get(name)).map_or(Repair::Impossible, Repair::Replace);
                self.push(Issue::at(&path.key(name), target, message, label).help(help), repair);
                // Locate it at the mapping's first key, though the repair is at the field.
                if let Some(issue) = self.issues.last_mut() {
                    issue.path = anchor;
                }
            }
        }
    }

    fn number(&mut self, schema: &Json, x: f64, node: &Node, path: &Path, description: Option<&str>) {
        let bound = |keyword: &str| schema.get(keyword).and_then(Json::as_f64);
        let format_max = match schema.get("format").and_then(Json::as_str) {
            Some("uint32") => Some(f64::from(u32::MAX)),
            Some("uint64" | "uint") => Some(u64::MAX as f64),
            _ => None,
        };
        let is_integer_type = schema_types(schema).contains(&"integer");
        let problem = if let Some(min) = bound("minimum").filter(|min| x < *min) {
            Some((format!("must be at least {}", trim_number(min)), min))
        } else if let Some(min) = bound("exclusiveMinimum").filter(|min| x <= *min) {
            Some((format!("must be greater than {}", trim_number(min)), min + 1.0))
        } else if let Some(max) = bound("maximum").or(format_max).filter(|max| x > *max) {
            Some((format!("must be at most {}", trim_number(max)), max))
        } else if is_integer_type && x.fract() != 0.0 {
            Some(("must be a whole number".to_owned(), x.round()))
        } else {
            None
        };
        if let Some((problem, stand_in)) = problem {
            let stand_in = if is_integer_type { Json::from(stand_in as i64) } else { Json::from(stand_in) };
            let issue = Issue::new(path, format!("`{path}` {problem}"), found(node)).help_opt(description);
            self.push(issue, Repair::Replace(stand_in));
        }
    }

    /// A stand-in for a missing value that no semantic check objects to, if
    /// the type has one (names and ids do not: others refer to them).
    fn neutral(&self, schema: Option<&'s Json>) -> Option<Json> {
        let schema = schema?;
        if let Some(default) = schema.get("default") {
            return Some(default.clone());
        }
        let schema = self.resolve(schema);
        if let Some(first) = schema.get("oneOf").and_then(Json::as_array).and_then(|b| b.first()) {
            return first.get("const").cloned();
        }
        if schema.get("pattern").is_some() {
            return None;
        }
        let types = schema_types(schema);
        let lowest = || {
            schema
                .get("minimum")
                .and_then(Json::as_f64)
                .or_else(|| schema.get("exclusiveMinimum").and_then(Json::as_f64).map(|m| m + 1.0))
                .unwrap_or(0.0)
        };
        match types.first().copied() {
            Some("integer") => Some(Json::from(lowest() as i64)),
            Some("number") => Some(Json::from(lowest())),
            Some("string") => Some(Json::from("")),
            Some("array") if schema.get("minItems").is_none() => Some(Json::Array(Vec::new())),
            _ => None,
        }
    }

    fn push(&mut self, issue: Issue, repair: Repair) {
        self.repairs.push((issue.path.clone(), repair));
        self.issues.push(issue);
    }
}

fn schema_types(schema: &Json) -> Vec<&str> {
    match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

fn kind_matches(json_type: &str, node: &Node) -> bool {
    match (json_type, &node.value) {
        ("null", Value::Null) | ("boolean", Value::Bool(_)) | ("string", Value::String(_)) => true,
        ("array", Value::Seq(_)) | ("object", Value::Map(_)) | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_integer(),
        _ => false,
    }
}

fn article(json_type: &str) -> &'static str {
    match json_type {
        "boolean" => "a boolean (true or false)",
        "string" => "a string",
        "array" => "a list",
        "object" => "a mapping",
        "number" => "a number",
        "integer" => "a whole number",
        _ => "null",
    }
}

fn describe(schema: &Json) -> String {
    if let Some(constant) = schema.get("const") {
        return constant.to_string();
    }
    let types = schema_types(schema);
    if types.is_empty() {
        return "a valid value".into();
    }
    types.iter().map(|t| article(t)).collect::<Vec<_>>().join(" or ")
}

fn describe_parent(path: &Path) -> String {
    if path.0.is_empty() { "the config".into() } else { format!("`{path}`") }
}

/// A short rendering of a value for a label.
pub(crate) fn found(node: &Node) -> String {
    match &node.value {
        Value::String(s) if s.chars().count() > 40 => format!("found a string of {} characters", s.chars().count()),
        Value::String(s) => format!("found {s:?}"),
        Value::Number(n) => format!("found {n}"),
        Value::Bool(b) => format!("found {b}"),
        Value::Null => "found null".into(),
        other => format!("found {}", other.kind()),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn trim_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x}") }
}

fn pattern_matches(pattern: &str, text: &str) -> bool {
    // Patterns come from our own types; an invalid one is a bug the tests catch,
    // and failing closed (no match) keeps bad input out meanwhile.
    regex_lite::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
}

/// The closest candidate within two edits, for "did you mean".
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(word.len() / 4) && *d < c.len())
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_yaml;

    fn messages(yaml: &str) -> Vec<String> {
        check(&parse_yaml(yaml).expect("yaml")).issues.into_iter().map(|i| i.message).collect()
    }

    const MINIMAL: &str = "version: 1\ntopology:\n  latency_us: {numa: 1, host: 2, rack: 3, zone: 4, region: 5}\n  hosts:\n    - {name: h, zone: z, rack: r, numa: [{cores: 4, memory_mib: 1024}]}\nagents:\n  - {id: a@1, replicas: 1, cpu: 1, memory_mib: 10, qos: guaranteed, service_us: 1}\n";

    #[test]
    fn a_minimal_config_has_the_right_shape() {
        assert_eq!(messages(MINIMAL), Vec::<String>::new());
    }

    #[test]
    fn reports_every_shape_error_not_just_the_first() {
        let yaml = MINIMAL.replace("replicas: 1", "replica: 1").replace("qos: guaranteed", "qos: gold")
            + "routes: [{from: a@1, to: a@1, rps: -1}]\n";
        let found = messages(&yaml);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].contains("unknown field `replica`"));
        assert!(found[1].contains("must be one of \"guaranteed\", \"burstable\", \"best-effort\""));
        assert!(found[2].contains("missing field `replicas`"));
        assert!(found[3].contains("routes[0].rps` must be greater than 0"));
    }

    #[test]
    fn suggests_the_closest_field() {
        assert_eq!(did_you_mean("replica", &["replicas", "cpu"]), Some("replicas"));
        assert_eq!(did_you_mean("zzz", &["replicas", "cpu"]), None);
    }

    #[test]
    fn optional_structs_report_inner_errors() {
        let yaml = MINIMAL.replace("service_us: 1}", "service_us: 1, pin: {hots: h}}");
        let found = messages(&yaml);
        assert!(found.iter().any(|m| m.contains("unknown field `hots`")), "{found:#?}");
    }
}
