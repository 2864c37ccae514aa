//! Groups: unique names, selectors that match agents, a rule each, and an
//! `avoid` that never names a member of its own group.

use std::collections::{BTreeMap, HashMap};

use super::duplicate;
use crate::issue::Issue;
use crate::model::{AgentId, Group, Model};
use crate::raw::{self, Level};
use crate::source::Path;

pub(super) fn groups(config: &raw::Config, model: &Model, issues: &mut Vec<Issue>) -> Vec<Group> {
    let base = Path::root().key("groups");
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut groups = Vec::with_capacity(config.groups.len());
    for (index, group) in config.groups.iter().enumerate() {
        let path = base.index(index);
        if let Some(first) = seen.insert(&group.name, index) {
            issues.push(duplicate("group", &group.name, &path.key("name"), &base.index(first).key("name")));
        }
        let members = matching(model, &group.selector, &path.key("selector"), &group.name, issues);
        if group.spread.is_none() && group.anti_affinity.is_none() && group.avoid.is_empty() {
            issues.push(
                Issue::at(
                    &path.key("name"),
                    crate::source::Target::Key,
                    format!("group `{}` sets no rule", group.name),
                    "no spread, anti_affinity or avoid".into(),
                )
                .help("give the group a `spread`, an `anti_affinity` or an `avoid`, or remove it"),
            );
        }
        let mut avoid = Vec::with_capacity(group.avoid.len());
        for (i, rule) in group.avoid.iter().enumerate() {
            let selector = path.key("avoid").index(i).key("selector");
            let avoided = matching(model, &rule.selector, &selector, &group.name, issues);
            if let Some(both) = avoided.iter().find(|a| members.binary_search(a).is_ok()) {
                issues.push(
                    Issue::new(
                        &selector,
                        format!("group `{}` would avoid its own member", group.name),
                        format!("`{}` matches both selectors", model.agents[both.0 as usize].id),
                    )
                    .help("narrow one selector so no agent matches both (to keep members apart use the group's `anti_affinity`)"),
                );
            }
            if avoid.iter().any(|(a, l): &(Vec<AgentId>, Level)| *a == avoided && *l == rule.level) {
                issues.push(
                    Issue::new(&selector, "`avoid` lists the same agents at one level twice".into(), "repeated".into())
                        .help("list each rule once"),
                );
            }
            avoid.push((avoided, rule.level));
        }
        groups.push(Group {
            name: group.name.clone(),
            members,
            spread: group.spread.map(|s| (Level::from(s.level), s.max_skew)),
            anti_affinity: group.anti_affinity.map(|a| a.level),
            avoid,
        });
    }
    groups
}

/// The agents carrying every label of `selector`, in agent order; an empty
/// selector or one that matches nothing is an error.
fn matching(
    model: &Model,
    selector: &BTreeMap<String, String>,
    path: &Path,
    group: &str,
    issues: &mut Vec<Issue>,
) -> Vec<AgentId> {
    if selector.is_empty() {
        issues.push(
            Issue::new(path, format!("a selector of group `{group}` is empty"), "matches every agent".into())
                .help("name at least one label, e.g. `{tier: web}`; agents carry labels under `labels:`"),
        );
        return Vec::new();
    }
    let members: Vec<AgentId> = model
        .agents
        .iter()
        .enumerate()
        .filter(|(_, a)| selector.iter().all(|(k, v)| a.labels.get(k) == Some(v)))
        .map(|(i, _)| AgentId(i as u32))
        .collect();
    if members.is_empty() {
        let wanted: Vec<String> = selector.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let mut known: Vec<String> =
            model.agents.iter().flat_map(|a| a.labels.iter().map(|(k, v)| format!("{k}: {v}"))).collect();
        known.sort();
        known.dedup();
        let help = match known.len() {
            0 => "no agent carries labels; add `labels: {…}` to the agents the group is for".to_owned(),
            n if n <= 8 => format!("agents carry: {}", known.join(", ")),
            _ => "add these labels to the agents the group is for, or fix the selector".to_owned(),
        };
        issues.push(
            Issue::new(
                path,
                format!("a selector of group `{group}` matches no agent"),
                format!("no agent has {{{}}}", wanted.join(", ")),
            )
            .help(help),
        );
    }
    members
}
