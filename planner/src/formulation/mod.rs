//! The MILP of SPEC §4 (the math is in docs/model.md). Pure: builds a
//! [`rtt_solver::Model`] from the refined config, maps solutions back to
//! placements, and turns a placement into a complete MIP start.

use std::collections::{BTreeMap, HashMap};

use rtt_schema::model::{AgentId, GroupId, Model, ResourceId};
use rtt_solver::{Expression, Group, STRUCTURAL, Sense, Var};

use crate::definitions::{LOCAL_SHARE, SHARE_EPSILON, locality_shares};
use crate::placement::Placement;
use crate::previous::Previous;
use crate::symmetry::Symmetry;
use crate::topology::{NodeId, Topology, ZONE_LEVEL, level_index};

/// The config statement behind a constraint group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Statement {
    /// `replicas` of an agent: every replica placed.
    Replicas(AgentId),
    /// CPU and memory of the NUMA nodes of a zone.
    Capacity(u32),
    /// `spread` of an agent.
    Spread(AgentId),
    /// `anti_affinity` of an agent.
    AntiAffinity(AgentId),
    /// The n-th `colocate` rule of an agent.
    Colocate(AgentId, usize),
    /// The n-th `avoid` rule of an agent.
    Avoid(AgentId, usize),
    /// `slo_p99_us` of the n-th route.
    Slo(usize),
    /// `selector` and `pin` of an agent (only in relaxable formulations).
    Eligibility(AgentId),
    /// CPU and memory of one NUMA node (only with [`Options::capacity_per_node`]).
    NodeCapacity(NodeId),
    /// `spread` of a group.
    GroupSpread(GroupId),
    /// `anti_affinity` of a group.
    GroupAntiAffinity(GroupId),
    /// The n-th `avoid` rule of a group.
    GroupAvoid(GroupId, usize),
}

/// Options of the formulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Model selector/pin as constraints (group [`Statement::Eligibility`])
    /// instead of leaving ineligible variables out, so that infeasibility
    /// analysis can name them. Larger; used only for that analysis.
    pub relaxable_eligibility: bool,
    /// Group capacity rows per NUMA node ([`Statement::NodeCapacity`])
    /// instead of per zone, so that an explanation can name the node.
    pub capacity_per_node: bool,
    /// Order interchangeable hosts and NUMA nodes by load ([`crate::symmetry`]).
    /// Then [`Formulation::start`] describes an equivalent placement, not
    /// necessarily the given one, so an explanation that reads duals at the
    /// plan's own placement leaves it off. Ignored when either option above
    /// is set: dropping one group's rows can make the nodes distinguishable.
    pub break_symmetry: bool,
}

/// The agents a neighbourhood holds fixed and the nodes its free agents may use.
#[derive(Clone, Copy)]
struct Neighbourhood<'a> {
    base: &'a Placement,
    fixed: &'a [bool],
    allowed: &'a [bool],
    finest_level: usize,
    held: Option<Held<'a>>,
}

/// Counts free agents keep per domain of one level: `counts[a][d]` replicas
/// of agent `a` in domain `d` (a domain left out holds none).
#[derive(Clone, Copy)]
struct Held<'a> {
    level: usize,
    counts: &'a [BTreeMap<u32, u32>],
}

/// A capacity row: which node and which resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityRow {
    /// Row index in the MILP.
    pub row: usize,
    /// The node (for a resource its host keeps as a whole, the host's first node).
    pub node: NodeId,
    /// What the row holds.
    pub resource: Resource,
}

/// What a capacity row counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Cores, after QoS overcommit.
    Cores,
    /// Memory, MiB.
    Memory,
    /// An extended resource, in its own units.
    Extended(ResourceId),
}

/// Variables of one route.
#[derive(Debug, Clone, Default)]
struct RouteVars {
    /// Per level: `(domain, s)` shares.
    shares: [Vec<(u32, Var)>; 4],
    /// Per level: the indicator that the route is local at that level.
    local: [Option<Var>; 4],
}

/// A built MILP and the bookkeeping to read it.
pub struct Formulation {
    /// The MILP.
    pub milp: rtt_solver::Model,
    /// Statement of each group, by group index.
    pub statements: Vec<Statement>,
    /// Constant part of the objective (the solver's objective excludes it).
    pub objective_constant: f64,
    /// The capacity rows, for reading slacks and duals in config units.
    pub capacity: Vec<CapacityRow>,
    /// `(route index, row)` of each SLO row, for reading duals.
    pub slo_rows: Vec<(usize, usize)>,
    /// Per agent: `(node, y)`.
    placement_vars: Vec<Vec<(NodeId, Var)>>,
    presence: BTreeMap<(AgentId, usize, u32), Var>,
    spread: Vec<Option<(Var, Var)>>,
    routes: Vec<RouteVars>,
    moves: Vec<(AgentId, NodeId, u32, Var)>,
    /// For a neighbourhood: the placement the fixed agents keep.
    base: Option<Placement>,
    /// Interchangeable hosts and nodes, ordered by rows of this MILP.
    symmetry: Symmetry,
}

struct Builder<'m> {
    model: &'m Model,
    topology: &'m Topology,
    /// Agents held at their placement here: constants, not variables.
    fixed: Option<(&'m Placement, &'m [bool])>,
    /// Finest locality level modelled for routes (0 = numa: exact).
    finest_level: usize,
    /// Built to name conflicts: no bound may assume another group holds.
    relaxable: bool,
    /// Capacity groups per node rather than per zone.
    capacity_per_node: bool,
    /// Nodes free agents may use (a neighbourhood's restriction).
    allowed: Option<&'m [bool]>,
    /// A level at which free agents keep given counts per domain.
    held: Option<Held<'m>>,
    milp: rtt_solver::Model,
    statements: Vec<Statement>,
    groups: HashMap<Statement, Group>,
    y: Vec<Vec<(NodeId, Var)>>,
    /// Upper bound of each `y`, parallel to `y`.
    y_upper: Vec<Vec<u32>>,
    presence: BTreeMap<(AgentId, usize, u32), Var>,
    capacity: Vec<CapacityRow>,
    slo_rows: Vec<(usize, usize)>,
}

impl Builder<'_> {
    fn group(&mut self, statement: Statement) -> Group {
        if let Some(group) = self.groups.get(&statement) {
            return *group;
        }
        let group = Group(self.statements.len() as u32);
        self.statements.push(statement);
        self.groups.insert(statement, group);
        group
    }

    fn is_fixed(&self, agent: AgentId) -> bool {
        self.fixed.is_some_and(|(_, fixed)| fixed[agent.0 as usize])
    }

    /// `Σ y[a, n]` over the candidate nodes of `agent` in each domain of
    /// `level`; for a fixed agent, its replica counts as constants.
    fn per_domain(&self, agent: AgentId, level: usize) -> BTreeMap<u32, Expression> {
        if let Some((placement, _)) = self.fixed.filter(|_| self.is_fixed(agent)) {
            return placement
                .per_domain(self.topology, agent, level)
                .into_iter()
                .map(|(domain, count)| (domain, Expression::from(f64::from(count))))
                .collect();
        }
        let mut sums: BTreeMap<u32, Expression> = BTreeMap::new();
        for (node, var) in &self.y[agent.0 as usize] {
            sums.entry(self.topology.domain_of(level, *node)).or_default().add_mul(1.0, var.lp());
        }
        sums
    }

    /// "Agent has a replica in this domain": a binary created on first use,
    /// or a constant for a fixed agent.
    fn presence(&mut self, agent: AgentId, level: usize, domain: u32, count: &Expression) -> Expression {
        if self.is_fixed(agent) {
            let present =
                self.fixed.is_some_and(|(p, _)| p.per_domain(self.topology, agent, level).contains_key(&domain));
            return Expression::from(if present { 1.0 } else { 0.0 });
        }
        if let Some(var) = self.presence.get(&(agent, level, domain)) {
            return Expression::from(var.lp());
        }
        let var = self.milp.binary();
        let n_replicas = f64::from(self.model.agents[agent.0 as usize].n_replicas);
        // p = 0 ⇒ no replica; p = 1 ⇒ at least one.
        self.milp.constrain(count.clone() - n_replicas * var.lp(), Sense::Le, 0.0, STRUCTURAL);
        self.milp.constrain(count.clone() - var.lp(), Sense::Ge, 0.0, STRUCTURAL);
        self.presence.insert((agent, level, domain), var);
        Expression::from(var.lp())
    }
}

impl Formulation {
    /// Builds the MILP of `model`, with churn against `previous` if given.
    pub fn build(model: &Model, topology: &Topology, previous: Option<&Previous>, options: Options) -> Self {
        Self::build_around(model, topology, previous, options, None)
    }

    /// The MILP over the agents `free` selects only, every other agent held at
    /// its count in `base` as constants: the small sub-problems of the search
    /// (with [`Options::break_symmetry`]), and the relaxable ones an
    /// explanation builds to name what blocks an improvement. Free agents may
    /// use only the nodes of `hosts` (plus the nodes they occupy in `base`, so
    /// that the base stays feasible).
    #[expect(clippy::too_many_arguments, reason = "each argument is one independent knob of the sub-problem")]
    pub fn build_neighbourhood(
        model: &Model,
        topology: &Topology,
        previous: Option<&Previous>,
        base: &Placement,
        free: impl Fn(AgentId) -> bool,
        hosts: &std::collections::BTreeSet<rtt_schema::model::HostId>,
        coarsen: usize,
        options: Options,
    ) -> Self {
        let fixed: Vec<bool> = (0..model.agents.len() as u32).map(|a| !free(AgentId(a))).collect();
        let allowed: Vec<bool> = topology.nodes.iter().map(|n| hosts.contains(&n.host)).collect();
        let mut formulation = Self::build_around(
            model,
            topology,
            previous,
            options,
            Some(Neighbourhood { base, fixed: &fixed, allowed: &allowed, finest_level: coarsen, held: None }),
        );
        formulation.base = Some(base.clone());
        formulation
    }

    /// The MILP that re-places, inside one domain of `level`, the replicas
    /// `base` has there: every agent with a replica in `domain` is free on
    /// its nodes, but each keeps its count in every domain of `level`, and
    /// outside `domain` it may only use the nodes it occupies. What `level`
    /// decides (every route's locality at it and above) is unchanged; all
    /// agents of the domain move at once below it, which the search's
    /// agent neighbourhoods cannot (docs/model.md §5).
    pub fn build_within(
        model: &Model,
        topology: &Topology,
        previous: Option<&Previous>,
        base: &Placement,
        level: usize,
        domain: u32,
        options: Options,
    ) -> Self {
        let fixed: Vec<bool> = (0..model.agents.len())
            .map(|a| !base.by_agent[a].keys().any(|node| topology.domain_of(level, *node) == domain))
            .collect();
        let allowed: Vec<bool> = topology.domain[level].iter().map(|d| *d == domain).collect();
        let counts: Vec<BTreeMap<u32, u32>> =
            (0..model.agents.len()).map(|a| base.per_domain(topology, AgentId(a as u32), level)).collect();
        let held = Held { level, counts: &counts };
        let mut formulation = Self::build_around(
            model,
            topology,
            previous,
            options,
            Some(Neighbourhood { base, fixed: &fixed, allowed: &allowed, finest_level: 0, held: Some(held) }),
        );
        formulation.base = Some(base.clone());
        formulation
    }

    /// The whole fleet's MILP with every agent's count per zone given
    /// (`targets`, the zone plan's; [`crate::zone_plan`]): every agent free
    /// on all its nodes, and `Σ_{n ∈ z} y[a,n] = targets[a][z]` in every zone
    /// (docs/model.md §5, "Re-zoning").
    pub fn build_zoned(
        model: &Model,
        topology: &Topology,
        previous: Option<&Previous>,
        targets: &crate::zone_plan::ZoneTargets,
        options: Options,
    ) -> Self {
        // No agent is fixed, so the base holds no constants.
        let base = Placement::empty(model.agents.len());
        let fixed = vec![false; model.agents.len()];
        let allowed = vec![true; topology.nodes.len()];
        let held = Some(Held { level: ZONE_LEVEL, counts: targets });
        let neighbourhood = Neighbourhood { base: &base, fixed: &fixed, allowed: &allowed, finest_level: 0, held };
        Self::build_around(model, topology, previous, options, Some(neighbourhood))
    }

    fn build_around(
        model: &Model,
        topology: &Topology,
        previous: Option<&Previous>,
        options: Options,
        neighbourhood: Option<Neighbourhood<'_>>,
    ) -> Self {
        let fixed = neighbourhood.map(|n| (n.base, n.fixed));
        let mut b = Builder {
            model,
            topology,
            fixed,
            relaxable: options.relaxable_eligibility,
            capacity_per_node: options.capacity_per_node,
            finest_level: neighbourhood.map_or(0, |n| n.finest_level),
            allowed: neighbourhood.map(|n| n.allowed),
            held: neighbourhood.and_then(|n| n.held),
            milp: rtt_solver::Model::new(),
            statements: Vec::new(),
            groups: HashMap::new(),
            y: Vec::with_capacity(model.agents.len()),
            y_upper: Vec::with_capacity(model.agents.len()),
            presence: BTreeMap::new(),
            capacity: Vec::new(),
            slo_rows: Vec::new(),
        };
        let mut objective_constant = 0.0;
        placement_variables(&mut b, options);
        capacity_rows(&mut b);
        resource_rows(&mut b);
        let symmetry = if options.break_symmetry && !options.relaxable_eligibility && !options.capacity_per_node {
            symmetry_rows(&mut b, previous)
        } else {
            Symmetry::default()
        };
        let spread = topology_rows(&mut b);
        group_rows(&mut b);
        let routes = route_rows(&mut b, &mut objective_constant);
        let moves = churn_terms(&mut b, previous, &mut objective_constant);
        Formulation {
            milp: b.milp,
            statements: b.statements,
            objective_constant,
            capacity: b.capacity,
            slo_rows: b.slo_rows,
            placement_vars: b.y,
            presence: b.presence,
            spread,
            routes,
            moves,
            base: None,
            symmetry,
        }
    }

    /// The statement behind a group.
    pub fn statement(&self, group: Group) -> Option<Statement> {
        self.statements.get(group.0 as usize).copied()
    }

    /// Requires the route to be local at `level` (its share there at least
    /// 0.99), as a structural row: the question "could this route be one
    /// level closer?" asked of the model. False when the formulation has no
    /// indicator for that level (no domain can hold both ends, or the level
    /// is no faster than the next coarser one).
    pub fn force_local(&mut self, route: usize, level: usize) -> bool {
        let Some(local) = self.routes.get(route).and_then(|vars| vars.local.get(level).copied().flatten()) else {
            return false;
        };
        self.milp.constrain(Expression::from(local.lp()), Sense::Ge, 1.0, STRUCTURAL);
        true
    }

    /// The placement a solution describes.
    pub fn placement(&self, solution: &rtt_solver::Solution) -> Placement {
        let mut placement = Placement::empty(self.placement_vars.len());
        for (agent, vars) in self.placement_vars.iter().enumerate() {
            if let Some(base) = self.base.as_ref().filter(|_| vars.is_empty()) {
                placement.by_agent[agent] = base.by_agent[agent].clone();
                continue;
            }
            for (node, var) in vars {
                let count = solution.value(*var).round().max(0.0) as u32;
                placement.add(AgentId(agent as u32), *node, count);
            }
        }
        placement
    }

    /// A complete MIP start describing `placement`, or `None` when it uses a
    /// node the formulation has no variable for. With
    /// [`Options::break_symmetry`], it describes the equivalent placement
    /// [`Symmetry::canonical`] gives (same figures), which the symmetry rows admit.
    pub fn start(&self, model: &Model, topology: &Topology, placement: &Placement) -> Option<Vec<(Var, f64)>> {
        let canonical = self.symmetry.canonical(model, placement);
        let placement = &canonical;
        let mut start = Vec::new();
        for (agent, vars) in self.placement_vars.iter().enumerate() {
            let id = AgentId(agent as u32);
            if vars.is_empty() && self.base.is_some() {
                continue;
            }
            let known: usize = vars.iter().filter(|(node, _)| placement.get(id, *node) > 0).count();
            if known != placement.by_agent[agent].len() {
                return None;
            }
            start.extend(vars.iter().map(|(node, var)| (*var, f64::from(placement.get(id, *node)))));
        }
        for ((agent, level, domain), var) in &self.presence {
            let present = placement.per_domain(topology, *agent, *level).contains_key(domain);
            start.push((*var, if present { 1.0 } else { 0.0 }));
        }
        for (agent, vars) in self.spread.iter().enumerate() {
            let (Some((max, min)), Some((level, _))) = (vars, model.agents[agent].spread) else { continue };
            let id = AgentId(agent as u32);
            let level = level_index(level);
            let counts = placement.per_domain(topology, id, level);
            let domains = crate::definitions::spread_domains(model, topology, id, level);
            let values: Vec<u32> = domains.iter().map(|d| counts.get(d).copied().unwrap_or(0)).collect();
            start.push((*max, f64::from(values.iter().copied().max().unwrap_or(0))));
            start.push((*min, f64::from(values.iter().copied().min().unwrap_or(0))));
        }
        for (route, vars) in model.routes.iter().zip(&self.routes) {
            // Routes between fixed agents have no variables (most of them, in a neighbourhood).
            if vars.local.iter().all(Option::is_none) && vars.shares.iter().all(Vec::is_empty) {
                continue;
            }
            let from_n = f64::from(model.agents[route.from.0 as usize].n_replicas);
            let to_n = f64::from(model.agents[route.to.0 as usize].n_replicas);
            let shares = locality_shares(model, topology, placement, route.from, route.to);
            for (level, (level_shares, share)) in vars.shares.iter().zip(shares).enumerate() {
                let from_counts = placement.per_domain(topology, route.from, level);
                let to_counts = placement.per_domain(topology, route.to, level);
                for (domain, var) in level_shares {
                    let a = f64::from(from_counts.get(domain).copied().unwrap_or(0)) / from_n;
                    let b = f64::from(to_counts.get(domain).copied().unwrap_or(0)) / to_n;
                    start.push((*var, a.min(b)));
                }
                if let Some(local) = vars.local[level] {
                    let is_local = share >= LOCAL_SHARE - SHARE_EPSILON;
                    start.push((local, if is_local { 1.0 } else { 0.0 }));
                }
            }
        }
        for (agent, node, before, var) in &self.moves {
            let moved = i64::from(*before) - i64::from(placement.get(*agent, *node));
            start.push((*var, moved.max(0) as f64));
        }
        Some(start)
    }
}

mod capacity;
mod churn;
mod ordering;
mod routes;
mod rules;
pub mod size;
mod variables;

use capacity::{capacity_rows, fixed_use, node_share_ceilings, resource_rows};
use churn::churn_terms;
use ordering::symmetry_rows;
use routes::route_rows;
use rules::{group_rows, topology_rows};
use variables::placement_variables;

#[cfg(test)]
mod tests {
    use super::*;
    use rtt_schema::raw::Level;

    fn model(hosts: &str, agents: &str) -> Model {
        let yaml = format!(
            "version: 1\ntopology:\n  latency_us: {{numa: 1, host: 2, rack: 3, zone: 4, region: 5}}\n  hosts:\n{hosts}agents:\n{agents}routes:\n  - {{from: a@1, to: b@1, rps: 1}}\n"
        );
        let source = rtt_schema::source::SourceFile::new("t.yaml", yaml);
        rtt_schema::check_text(source, rtt_schema::Format::Yaml).unwrap().model
    }

    const PAIR: &str = "  - {id: a@1, replicas: 1, cpu: 5, memory_mib: 10, qos: guaranteed, service_us: 0}\n  - {id: b@1, replicas: 1, cpu: 5, memory_mib: 10, qos: guaranteed, service_us: 0}\n";

    #[test]
    fn two_agents_that_cannot_share_a_numa_node_get_no_numa_indicator() {
        let hosts =
            "    - {name: h0, zone: z, rack: r, numa: [{cores: 8, memory_mib: 64}, {cores: 8, memory_mib: 64}]}\n";
        let model = model(hosts, PAIR);
        let topology = Topology::new(&model);
        let mut formulation = Formulation::build(&model, &topology, None, Options::default());
        assert!(!formulation.force_local(0, 0), "5 + 5 cores never fit one 8-core node");
        assert!(formulation.force_local(0, 1), "but the host holds both");
        // With 10-core nodes they can meet, and the share is capped at 1.
        let model = model_with_cores(10);
        let topology = Topology::new(&model);
        let mut formulation = Formulation::build(&model, &topology, None, Options::default());
        assert!(formulation.force_local(0, 0));
    }

    fn model_with_cores(cores: u32) -> Model {
        let hosts = format!(
            "    - {{name: h0, zone: z, rack: r, numa: [{{cores: {cores}, memory_mib: 64}}, {{cores: {cores}, memory_mib: 64}}]}}\n"
        );
        model(&hosts, PAIR)
    }

    /// Solves `build_within` for the zone of node 0 from `base` (every node
    /// its own one-node host; h0 and h1 in zone z0, h2 and h3 in z1).
    fn within_zone_of_h0(agents: &str, base: &[(u32, u32, u32)]) -> (Model, Topology, Placement, Placement) {
        let model = crate::fixtures::two_per_zone(4, agents, "  - {from: a@1, to: b@1, rps: 1}\n");
        let topology = Topology::new(&model);
        let mut placement = Placement::empty(model.agents.len());
        for &(agent, node, count) in base {
            placement.add(AgentId(agent), NodeId(node), count);
        }
        let zone = level_index(Level::Zone);
        let domain = topology.domain_of(zone, NodeId(0));
        let sub = Formulation::build_within(&model, &topology, None, &placement, zone, domain, Options::default());
        let start = sub.start(&model, &topology, &placement);
        let solution = sub.milp.solve(&rtt_solver::Limits::default(), start.as_deref()).unwrap();
        let placed = sub.placement(&solution);
        (model, topology, placement, placed)
    }

    #[test]
    fn a_domain_sub_milp_moves_the_agents_of_its_domain_together() {
        // a on h0 and b on h1, both in z0: freed together, they meet on one node.
        let (_, _, _, placed) = within_zone_of_h0(PAIR, &[(0, 0, 1), (1, 1, 1)]);
        assert_eq!(placed.by_agent[0], placed.by_agent[1], "numa-local after the pass: {placed:?}");
        assert!(placed.by_agent[0].keys().all(|n| n.0 < 2), "and still in z0: {placed:?}");
    }

    #[test]
    fn a_domain_sub_milp_keeps_every_count_at_its_level_and_leaves_the_rest_fixed() {
        // a has one replica in each zone, b both of its own on h3. Moving a's z0
        // replica to h2 (a node a holds) would make the route zone-local; the
        // pass must not, since a keeps one replica per zone. b has nothing in
        // z0, so it stays where it is.
        let agents = PAIR.replacen("replicas: 1", "replicas: 2", 2);
        let (_, topology, base, placed) = within_zone_of_h0(&agents, &[(0, 0, 1), (0, 2, 1), (1, 3, 2)]);
        let zone = level_index(Level::Zone);
        for agent in 0..2 {
            let id = AgentId(agent);
            assert_eq!(placed.total(id), 2);
            assert_eq!(placed.per_domain(&topology, id, zone), base.per_domain(&topology, id, zone), "{placed:?}");
        }
        assert_eq!(placed.by_agent[1], base.by_agent[1]);
        assert_eq!(placed.get(AgentId(0), NodeId(2)), 1, "outside z0, a may only keep what it holds");
    }

    #[test]
    fn a_rack_that_is_its_whole_zone_shares_the_zone_indicator() {
        // One rack per zone: rack-local exactly when zone-local.
        let hosts = "    - {name: h0, zone: z0, rack: r, numa: [{cores: 8, memory_mib: 64}]}\n    - {name: h1, zone: z0, rack: r, numa: [{cores: 8, memory_mib: 64}]}\n    - {name: h2, zone: z1, rack: r, numa: [{cores: 8, memory_mib: 64}]}\n";
        let model = model(hosts, PAIR);
        let topology = Topology::new(&model);
        assert!(topology.same_partition(2, 3));
        assert!(topology.same_partition(0, 1), "one NUMA node per host");
        assert!(!topology.same_partition(1, 2));
        let formulation = Formulation::build(&model, &topology, None, Options::default());
        let vars = &formulation.routes[0];
        assert_eq!(vars.local[2], vars.local[3]);
        assert!(vars.shares[2].is_empty() && !vars.shares[3].is_empty());
        // numa and host fold too (one node per host): one more indicator in all.
        assert_eq!(vars.local[0], vars.local[1]);
        assert_ne!(vars.local[1], vars.local[2]);
    }
}
