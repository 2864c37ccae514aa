//! The MILP of SPEC §4 (the math is in docs/model.md). Pure: builds a
//! [`rtt_solver::Model`] from the refined config, maps solutions back to
//! placements, and turns a placement into a complete MIP start.

use std::collections::{BTreeMap, HashMap};

use rtt_schema::model::{AgentId, Model};
use rtt_solver::{Expression, Group, STRUCTURAL, Sense, Var};

use crate::placement::Placement;
use crate::previous::Previous;
use crate::score::{LOCAL_SHARE, SHARE_EPSILON, locality_shares};
use crate::symmetry::Symmetry;
use crate::topology::{NodeId, Topology, level_index};

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
}

/// A capacity row: which node and which resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityRow {
    /// Row index in the MILP.
    pub row: usize,
    /// The node.
    pub node: NodeId,
    /// Cores (true) or memory MiB (false).
    pub is_cpu: bool,
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
            Some(Neighbourhood { base, fixed: &fixed, allowed: &allowed, finest_level: coarsen }),
        );
        formulation.base = Some(base.clone());
        formulation
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
        let symmetry = if options.break_symmetry && !options.relaxable_eligibility && !options.capacity_per_node {
            symmetry_rows(&mut b, previous)
        } else {
            Symmetry::default()
        };
        let spread = topology_rows(&mut b);
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
            let domains = crate::score::spread_domains(model, topology, id, level);
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

/// `y[a, n]` for every node an agent may use and a replica fits, and `Σ y = R`.
fn placement_variables(b: &mut Builder<'_>, options: Options) {
    let model = b.model;
    for (index, agent) in model.agents.iter().enumerate() {
        let id = AgentId(index as u32);
        let cpu = model.effective_cpu(agent);
        if b.is_fixed(id) {
            b.y.push(Vec::new());
            b.y_upper.push(Vec::new());
            continue;
        }
        let one_per_node =
            matches!(agent.anti_affinity, Some(rtt_schema::raw::Level::Numa | rtt_schema::raw::Level::Host));
        let mut vars = Vec::new();
        let mut uppers = Vec::new();
        let mut ineligible = Vec::new();
        for (node_index, numa) in b.topology.nodes.iter().enumerate() {
            let host = &model.hosts[numa.host.0 as usize];
            if !host.schedulable {
                continue;
            }
            if let Some(allowed) = b.allowed {
                let occupied = b.fixed.is_some_and(|(p, _)| p.get(id, NodeId(node_index as u32)) > 0);
                if !allowed[node_index] && !occupied {
                    continue;
                }
            }
            let pinned_numa_ok = agent.pin.and_then(|(_, n)| n).is_none_or(|n| n == numa.numa);
            let eligible = model.host_is_eligible(agent, numa.host) && pinned_numa_ok;
            if !eligible && !options.relaxable_eligibility {
                continue;
            }
            let capacity = model.node(*numa);
            let by_cpu = (f64::from(capacity.cores) / cpu + 1e-9).floor();
            let by_memory = (capacity.memory_mib / agent.memory_mib) as f64;
            let fits_one = by_cpu >= 1.0 && by_memory >= 1.0;
            let mut upper = f64::from(agent.n_replicas);
            // Capacity and anti-affinity tighten the bounds, except when the
            // formulation is built to name conflicts: then only their rows
            // may hold them, so that they can be found and relaxed.
            if !options.relaxable_eligibility {
                upper = upper.min(by_cpu).min(by_memory);
                if one_per_node {
                    upper = upper.min(1.0);
                }
            } else if !fits_one {
                upper = 0.0;
            }
            if upper < 1.0 {
                continue;
            }
            let var = b.milp.integer(0.0, upper);
            let node = NodeId(node_index as u32);
            vars.push((node, var));
            uppers.push(upper as u32);
            if !eligible {
                ineligible.push(var);
            }
        }
        let mut sum = Expression::from(0.0);
        for (_, var) in &vars {
            sum.add_mul(1.0, var.lp());
        }
        let group = b.group(Statement::Replicas(id));
        b.milp.constrain(sum, Sense::Eq, f64::from(agent.n_replicas), group);
        if !ineligible.is_empty() {
            let group = b.group(Statement::Eligibility(id));
            for var in ineligible {
                b.milp.constrain(Expression::from(var.lp()), Sense::Le, 0.0, group);
            }
        }
        b.y.push(vars);
        b.y_upper.push(uppers);
    }
}

/// CPU (after QoS overcommit) and memory per NUMA node, grouped by zone.
fn capacity_rows(b: &mut Builder<'_>) {
    let model = b.model;
    let mut cpu: Vec<Expression> = vec![Expression::from(0.0); b.topology.nodes.len()];
    let mut memory: Vec<Expression> = vec![Expression::from(0.0); b.topology.nodes.len()];
    let mut cpu_demand = vec![0.0; b.topology.nodes.len()];
    let mut memory_demand = vec![0.0; b.topology.nodes.len()];
    for (index, vars) in b.y.iter().enumerate() {
        let agent = &model.agents[index];
        let agent_cpu = model.effective_cpu(agent);
        if let Some((placement, _)) = b.fixed.filter(|_| b.is_fixed(AgentId(index as u32))) {
            for (node, count) in &placement.by_agent[index] {
                let n = node.0 as usize;
                let used_cpu = agent_cpu * f64::from(*count);
                let used_memory = (agent.memory_mib * u64::from(*count)) as f64;
                cpu[n] += used_cpu;
                memory[n] += used_memory;
                cpu_demand[n] += used_cpu;
                memory_demand[n] += used_memory;
            }
            continue;
        }
        for (node, var) in vars {
            let n = node.0 as usize;
            cpu[n].add_mul(agent_cpu, var.lp());
            memory[n].add_mul(agent.memory_mib as f64, var.lp());
            cpu_demand[n] += agent_cpu * f64::from(agent.n_replicas);
            memory_demand[n] += (agent.memory_mib * u64::from(agent.n_replicas)) as f64;
        }
    }
    for (n, numa) in b.topology.nodes.clone().iter().enumerate() {
        let capacity = model.node(*numa);
        let node = NodeId(n as u32);
        let statement = if b.capacity_per_node {
            Statement::NodeCapacity(node)
        } else {
            Statement::Capacity(b.topology.domain[3][n])
        };
        let group = b.group(statement);
        // A row that cannot bind is left out.
        if cpu_demand[n] > f64::from(capacity.cores) {
            let row = b.milp.constrain(std::mem::take(&mut cpu[n]), Sense::Le, f64::from(capacity.cores), group);
            b.capacity.push(CapacityRow { row, node, is_cpu: true });
        }
        if memory_demand[n] > capacity.memory_mib as f64 {
            let row = b.milp.constrain(std::mem::take(&mut memory[n]), Sense::Le, capacity.memory_mib as f64, group);
            b.capacity.push(CapacityRow { row, node, is_cpu: false });
        }
    }
}

/// Orders interchangeable hosts and NUMA nodes by CPU load (docs/model.md §3).
fn symmetry_rows(b: &mut Builder<'_>, previous: Option<&Previous>) -> Symmetry {
    let model = b.model;
    let n_nodes = b.topology.nodes.len();
    let mut agents_on: Vec<Vec<AgentId>> = vec![Vec::new(); n_nodes];
    for (agent, vars) in b.y.iter().enumerate() {
        for (node, _) in vars {
            agents_on[node.0 as usize].push(AgentId(agent as u32));
        }
    }
    let mut blocked = vec![false; n_nodes];
    let fixed_nodes = b.fixed.map(|(placement, fixed)| {
        placement.by_agent.iter().zip(fixed).filter(|(_, is_fixed)| **is_fixed).flat_map(|(nodes, _)| nodes.keys())
    });
    let previous_nodes = previous.map(|p| p.by_agent.iter().flatten().flat_map(|before| before.on_nodes.keys()));
    for node in fixed_nodes.into_iter().flatten().chain(previous_nodes.into_iter().flatten()) {
        blocked[node.0 as usize] = true;
    }
    let symmetry = Symmetry::find(model, b.topology, &agents_on, &blocked);
    let pairs = symmetry.ordered_pairs();
    // CPU load of each node in a class, as an expression.
    let mut load: BTreeMap<NodeId, Expression> =
        pairs.iter().flat_map(|(a, b)| a.iter().chain(b)).map(|node| (*node, Expression::from(0.0))).collect();
    for (agent, vars) in b.y.iter().enumerate() {
        let cpu = model.effective_cpu(&model.agents[agent]);
        for (node, var) in vars {
            if let Some(expression) = load.get_mut(node) {
                expression.add_mul(cpu, var.lp());
            }
        }
    }
    for (heavier, lighter) in pairs {
        let mut difference = Expression::from(0.0);
        for node in &heavier {
            difference += load[node].clone();
        }
        for node in &lighter {
            difference -= load[node].clone();
        }
        b.milp.constrain(difference, Sense::Ge, 0.0, STRUCTURAL);
    }
    symmetry
}

/// Spread, anti-affinity, colocate and avoid. Returns the spread max/min vars.
fn topology_rows(b: &mut Builder<'_>) -> Vec<Option<(Var, Var)>> {
    let model = b.model;
    let mut spread_vars = Vec::with_capacity(model.agents.len());
    for (index, agent) in model.agents.iter().enumerate() {
        let id = AgentId(index as u32);
        let n_replicas = f64::from(agent.n_replicas);
        let mut spread = None;
        let fixed = b.is_fixed(id);
        if let Some((level, max_skew)) = agent.spread.filter(|_| !fixed) {
            let level = level_index(level);
            let domains = crate::score::spread_domains(model, b.topology, id, level);
            if domains.len() > 1 {
                let counts = b.per_domain(id, level);
                // Valid bounds while every replica lands in a spread domain,
                // which only the eligibility rows guarantee when they are relaxable.
                let per = if b.relaxable { 0.0 } else { n_replicas / domains.len() as f64 };
                let max = b.milp.continuous(per.ceil(), n_replicas);
                let min = b.milp.continuous(0.0, if b.relaxable { n_replicas } else { per.floor() });
                let group = b.group(Statement::Spread(id));
                for domain in &domains {
                    let count = counts.get(domain).cloned().unwrap_or_default();
                    b.milp.constrain(count.clone() - max.lp(), Sense::Le, 0.0, group);
                    b.milp.constrain(count - min.lp(), Sense::Ge, 0.0, group);
                }
                b.milp.constrain(max.lp() - min.lp(), Sense::Le, f64::from(max_skew), group);
                spread = Some((max, min));
            }
        }
        spread_vars.push(spread);
        if let Some(level) = agent.anti_affinity.filter(|_| !fixed) {
            let group = b.group(Statement::AntiAffinity(id));
            for (_, count) in b.per_domain(id, level_index(level)) {
                b.milp.constrain(count, Sense::Le, 1.0, group);
            }
        }
        for (rule, (other, level)) in agent.colocate.iter().enumerate() {
            if fixed && b.is_fixed(*other) {
                continue;
            }
            let level = level_index(*level);
            let group = b.group(Statement::Colocate(id, rule));
            let theirs = b.per_domain(*other, level);
            for (domain, count) in b.per_domain(id, level) {
                match theirs.get(&domain) {
                    Some(their_count) => {
                        let present = b.presence(*other, level, domain, their_count);
                        b.milp.constrain(count - n_replicas * present, Sense::Le, 0.0, group);
                    }
                    None => {
                        b.milp.constrain(count, Sense::Le, 0.0, group);
                    }
                }
            }
        }
        for (rule, (other, level)) in agent.avoid.iter().enumerate() {
            if fixed && b.is_fixed(*other) {
                continue;
            }
            let level = level_index(*level);
            let group = b.group(Statement::Avoid(id, rule));
            let theirs = b.per_domain(*other, level);
            for (domain, count) in b.per_domain(id, level) {
                let Some(their_count) = theirs.get(&domain) else { continue };
                let mine = b.presence(id, level, domain, &count);
                let other_present = b.presence(*other, level, domain, their_count);
                b.milp.constrain(mine + other_present, Sense::Le, 1.0, group);
            }
        }
    }
    spread_vars
}

/// Locality shares, the 0.99 indicators, the latency objective and SLOs.
fn route_rows(b: &mut Builder<'_>, objective_constant: &mut f64) -> Vec<RouteVars> {
    let model = b.model;
    let total_rps: f64 = model.routes.iter().map(|r| r.rps).sum();
    let latency = model.latency.by_locality;
    let mut all = Vec::with_capacity(model.routes.len());
    // What the agents routes touch can hold, for `reach` (config facts, the
    // same in every neighbourhood), once per agent.
    let mut sides: Vec<Option<crate::reach::AgentReach>> = (0..model.agents.len()).map(|_| None).collect();
    let used = fixed_use(b);
    for (index, route) in model.routes.iter().enumerate() {
        let mut vars = RouteVars::default();
        if b.is_fixed(route.from) && b.is_fixed(route.to) {
            all.push(vars);
            continue;
        }
        // Levels the route can never be local at get no indicator: a valid
        // fixing w = 0 that keeps the relaxation from crediting them. Not
        // when built to name conflicts: it assumes spread and anti-affinity
        // hold, and the filter must be able to drop them.
        let reachable = if b.relaxable {
            [true; 4]
        } else {
            let finest = b.finest_level;
            let mut judge = || {
                for agent in [route.from, route.to] {
                    sides[agent.0 as usize].get_or_insert_with(|| {
                        let nodes = crate::bound::candidates_of(model, b.topology, agent);
                        crate::reach::agent_reach_down_to(model, b.topology, &nodes, agent, finest)
                    });
                }
                match (&sides[route.from.0 as usize], &sides[route.to.0 as usize]) {
                    (Some(from), Some(to)) => crate::reach::reachable_between(model, [from, to], route.from, route.to),
                    _ => [true; 4],
                }
            };
            // A complete answer is kept for the plan; a coarse sub-problem's
            // partial one (cheap) is not.
            if finest == 0 { b.topology.route_reach(index, judge) } else { judge() }
        };
        let weight = model.latency_weight * route.rps / total_rps;
        let service = model.agents[route.to.0 as usize].service_us;
        let worst = latency[4] + service;
        *objective_constant += weight * worst;
        let from_n = f64::from(model.agents[route.from.0 as usize].n_replicas);
        let to_n = f64::from(model.agents[route.to.0 as usize].n_replicas);
        let mut p99_gain = Expression::from(0.0);
        let mut previous_local: Option<(usize, Var)> = None;
        // Coarsest first, so that each finer indicator can be chained below it.
        for level in (b.finest_level..4).rev() {
            let step = latency[level + 1] - latency[level];
            if step <= 0.0 || !reachable[level] {
                continue;
            }
            if let Some((coarser_level, coarser)) =
                previous_local.filter(|(coarser_level, _)| b.topology.same_partition(level, *coarser_level))
            {
                // The same domains as the coarser level: one indicator serves
                // both, with both steps (fewer columns, no duplicate rows).
                b.milp.add_objective(-weight * step, coarser);
                p99_gain.add_mul(step, coarser.lp());
                vars.local[level] = Some(coarser);
                previous_local = Some((coarser_level.min(level), coarser));
                continue;
            }
            let from_counts = b.per_domain(route.from, level);
            let to_counts = b.per_domain(route.to, level);
            let shares: Vec<_> = {
                let ceilings = (level == 0 && !b.relaxable).then(|| node_share_ceilings(b, route, &used));
                from_counts
                    .iter()
                    .filter_map(|(domain, from_count)| {
                        let to_count = to_counts.get(domain)?;
                        let ceiling = ceilings.as_ref().map_or(1.0, |c| c(NodeId(*domain)));
                        (ceiling > 0.0).then_some((*domain, from_count, to_count, ceiling))
                    })
                    .collect()
            };
            // Shares that cannot add up to 0.99 leave the level unreachable.
            if shares.iter().map(|(.., ceiling)| ceiling).sum::<f64>() < LOCAL_SHARE - SHARE_EPSILON {
                continue;
            }
            let mut share_sum = Expression::from(0.0);
            for (domain, from_count, to_count, ceiling) in shares {
                let share = b.milp.continuous(0.0, ceiling);
                b.milp.constrain(from_n * share.lp() - from_count.clone(), Sense::Le, 0.0, STRUCTURAL);
                b.milp.constrain(to_n * share.lp() - to_count.clone(), Sense::Le, 0.0, STRUCTURAL);
                share_sum.add_mul(1.0, share.lp());
                vars.shares[level].push((domain, share));
            }
            let local = b.milp.binary();
            b.milp.constrain(share_sum - (LOCAL_SHARE - SHARE_EPSILON) * local.lp(), Sense::Ge, 0.0, STRUCTURAL);
            if let Some((_, coarser)) = previous_local {
                // Local at a finer level implies local at every coarser one.
                b.milp.constrain(local.lp() - coarser.lp(), Sense::Le, 0.0, STRUCTURAL);
            }
            b.milp.add_objective(-weight * step, local);
            p99_gain.add_mul(step, local.lp());
            vars.local[level] = Some(local);
            previous_local = Some((level, local));
        }
        if let Some(slo) = route.slo_p99_us {
            let group = b.group(Statement::Slo(index));
            // worst − Σ step·w ≤ slo
            let row = b.milp.constrain(p99_gain, Sense::Ge, worst - slo, group);
            b.slo_rows.push((index, row));
        }
        all.push(vars);
    }
    all
}

/// CPU and memory the fixed agents of a neighbourhood use, per node.
fn fixed_use(b: &Builder<'_>) -> Vec<(f64, u64)> {
    let mut used = vec![(0.0, 0); b.topology.nodes.len()];
    let Some((placement, fixed)) = b.fixed else { return used };
    for (agent, nodes) in placement.by_agent.iter().enumerate().filter(|(agent, _)| fixed[*agent]) {
        let spec = &b.model.agents[agent];
        let cpu = b.model.effective_cpu(spec);
        for (node, count) in nodes {
            let entry = &mut used[node.0 as usize];
            entry.0 += cpu * f64::from(*count);
            entry.1 += spec.memory_mib * u64::from(*count);
        }
    }
    used
}

/// For a route, the largest share `min(y_a/R_a, y_b/R_b)` each NUMA node can
/// hold when the two ends have it to themselves: what fits beside the fixed
/// agents, within the bounds of `y`. A valid upper bound on the share
/// variable, and 0 where the two cannot meet (two 5-core agents on a 8-core
/// node). Docs: model.md §2.
fn node_share_ceilings<'b>(
    b: &'b Builder<'_>,
    route: &rtt_schema::model::Route,
    used: &'b [(f64, u64)],
) -> impl Fn(NodeId) -> f64 + 'b {
    let model = b.model;
    let end = |agent: AgentId| {
        let spec = &model.agents[agent.0 as usize];
        (agent, model.effective_cpu(spec), spec.memory_mib, f64::from(spec.n_replicas))
    };
    let (from, to) = (end(route.from), end(route.to));
    move |node: NodeId| {
        if from.0 == to.0 {
            return 1.0;
        }
        // The counts an end may take on this node: a constant for a fixed
        // agent (already in `used`), else 0 up to its variable's bound.
        let choices = |agent: AgentId| -> (u32, u32, bool) {
            if let Some((placement, _)) = b.fixed.filter(|_| b.is_fixed(agent)) {
                let count = placement.get(agent, node);
                return (count, count, true);
            }
            let vars = &b.y[agent.0 as usize];
            match vars.binary_search_by_key(&node, |(n, _)| *n) {
                Ok(i) => (0, b.y_upper[agent.0 as usize][i], false),
                Err(_) => (0, 0, false),
            }
        };
        let capacity = model.node(b.topology.node(node));
        let (cpu_used, memory_used) = used[node.0 as usize];
        let cpu_left = f64::from(capacity.cores) - cpu_used + 1e-9;
        let memory_left = capacity.memory_mib.saturating_sub(memory_used);
        let (from_low, from_high, from_fixed) = choices(from.0);
        let (to_low, to_high, to_fixed) = choices(to.0);
        let mut best: f64 = 0.0;
        for from_count in from_low..=from_high {
            let (cpu, memory) =
                if from_fixed { (0.0, 0) } else { (from.1 * f64::from(from_count), from.2 * u64::from(from_count)) };
            if cpu > cpu_left || memory > memory_left {
                break;
            }
            let to_count = if to_fixed {
                to_low
            } else {
                let by_cpu = ((cpu_left - cpu) / to.1).floor().max(0.0) as u32;
                let by_memory = ((memory_left - memory) / to.2.max(1)) as u32;
                to_high.min(by_cpu).min(by_memory)
            };
            best = best.max((f64::from(from_count) / from.3).min(f64::from(to_count) / to.3));
        }
        best.min(1.0)
    }
}

/// `m ≥ P − y` per node an agent used before; constant terms for the rest.
fn churn_terms(
    b: &mut Builder<'_>,
    previous: Option<&Previous>,
    objective_constant: &mut f64,
) -> Vec<(AgentId, NodeId, u32, Var)> {
    let model = b.model;
    let mut moves = Vec::new();
    let Some(previous) = previous else { return moves };
    for (index, agent) in model.agents.iter().enumerate() {
        let id = AgentId(index as u32);
        let Some(before) = previous.agent(id).filter(|_| !b.is_fixed(id)) else { continue };
        let scale_down = (i64::from(before.n_replicas) - i64::from(agent.n_replicas)).max(0) as f64;
        let mut constant = f64::from(before.on_gone_nodes) - scale_down;
        for (node, count) in &before.on_nodes {
            let var = b.y[index].iter().find(|(n, _)| n == node).map(|(_, v)| *v);
            match var {
                Some(y) => {
                    let moved = b.milp.continuous(0.0, f64::from(*count));
                    b.milp.constrain(moved.lp() + y.lp(), Sense::Ge, f64::from(*count), STRUCTURAL);
                    b.milp.add_objective(model.churn_weight, moved);
                    moves.push((id, *node, *count, moved));
                }
                None => constant += f64::from(*count),
            }
        }
        *objective_constant += model.churn_weight * constant;
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

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
