//! The MILP layer: variables, constraints tagged with the group (config
//! statement) they come from, an objective, and a HiGHS solve with limits and
//! a MIP start. It knows nothing of agents or hosts.
//!
//! Models are built with good_lp; the solve itself drives the `highs` crate
//! directly (through good_lp's `into_inner`) because good_lp does not report
//! the best bound, the gap or the objective value, and cannot re-solve a
//! subset of the constraints, which the infeasibility filter needs.
//!
//! Determinism: HiGHS runs single-threaded with a fixed seed, and the default
//! limits are node counts, not seconds, so the same model gives the same
//! answer on any machine. A time limit is opt-in and is the one thing that can
//! make a result depend on the machine's speed.

use std::num::NonZeroU32;

pub use good_lp::Expression;
use good_lp::{ProblemVariables, SolverModel, variable};

/// A variable of a [`Model`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Var {
    index: usize,
    inner: good_lp::Variable,
}

impl Var {
    /// The variable as a good_lp term, for building expressions.
    pub fn lp(self) -> good_lp::Variable {
        self.inner
    }

    /// Position in the model, in creation order.
    pub fn index(self) -> usize {
        self.index
    }
}
use highs::{HighsModelStatus, HighsSolutionStatus};

/// The config statement a constraint comes from; the planner gives them meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group(pub u32);

/// A constraint that belongs to no statement that could be relaxed (definitions).
pub const STRUCTURAL: Group = Group(u32::MAX);

/// `lhs (<=|>=|==) rhs` on linear expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    /// `<=`.
    Le,
    /// `>=`.
    Ge,
    /// `==`.
    Eq,
}

#[derive(Debug, Clone)]
struct Row {
    expression: Expression,
    sense: Sense,
    rhs: f64,
    group: Group,
}

/// A MILP under construction.
#[derive(Clone, Default)]
pub struct Model {
    variables: ProblemVariables,
    integer: Vec<bool>,
    objective: Expression,
    rows: Vec<Row>,
}

/// Limits of one solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Relative MIP gap at which to stop.
    pub gap: f64,
    /// Branch-and-bound nodes at which to stop (deterministic).
    pub node_limit: Option<u64>,
    /// Seconds at which to stop (machine-dependent: opt-in).
    pub time_limit: Option<f64>,
    /// Spend less on root heuristics, symmetry and strong branching: for the
    /// many small sub-MILPs of a search, where a good answer soon beats a proof.
    pub light: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self { gap: 1e-4, node_limit: None, time_limit: None, light: false }
    }
}

/// How good a solution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Proven optimal within the gap.
    Optimal,
    /// Feasible; a limit stopped the search.
    Feasible,
}

/// A solve's answer.
#[derive(Debug, Clone)]
pub struct Solution {
    /// Optimal or only feasible.
    pub status: Status,
    /// Objective value of the solution.
    pub objective: f64,
    /// Best proven lower bound (minimisation).
    pub bound: f64,
    /// Relative gap between objective and bound.
    pub gap: f64,
    values: Vec<f64>,
    row_duals: Vec<f64>,
}

impl Solution {
    /// The value of a variable.
    pub fn value(&self, variable: Var) -> f64 {
        self.values[variable.index]
    }

    /// Dual values (shadow prices) of the rows, in the order they were added;
    /// meaningful for pure LPs.
    pub fn row_duals(&self) -> &[f64] {
        &self.row_duals
    }
}

/// Why a solve gave no solution.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SolveError {
    /// The constraints admit no solution.
    #[error("the model is infeasible")]
    Infeasible,
    /// A limit stopped the search before any solution was found.
    #[error("no solution was found within the limits ({0})")]
    NoSolution(String),
    /// HiGHS failed.
    #[error("HiGHS failed: {0}")]
    Solver(String),
}

impl Model {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    /// An integer variable in `[lower, upper]` with objective coefficient 0.
    pub fn integer(&mut self, lower: f64, upper: f64) -> Var {
        self.integer.push(true);
        let inner = self.variables.add(variable().integer().min(lower).max(upper));
        Var { index: self.integer.len() - 1, inner }
    }

    /// A 0/1 variable.
    pub fn binary(&mut self) -> Var {
        self.integer(0.0, 1.0)
    }

    /// A continuous variable in `[lower, upper]`.
    pub fn continuous(&mut self, lower: f64, upper: f64) -> Var {
        self.integer.push(false);
        let inner = self.variables.add(variable().min(lower).max(upper));
        Var { index: self.integer.len() - 1, inner }
    }

    /// Number of variables.
    pub fn n_variables(&self) -> usize {
        self.integer.len()
    }

    /// Number of constraints.
    pub fn n_rows(&self) -> usize {
        self.rows.len()
    }

    /// Adds `coefficient · variable` to the objective (minimised).
    pub fn add_objective(&mut self, coefficient: f64, variable: Var) {
        self.objective.add_mul(coefficient, variable.inner);
    }

    /// Adds a constant to the objective.
    pub fn add_objective_constant(&mut self, constant: f64) {
        self.objective += constant;
    }

    /// Adds `expression sense rhs`, tagged with `group`; returns its row index.
    pub fn constrain(&mut self, expression: Expression, sense: Sense, rhs: f64, group: Group) -> usize {
        self.rows.push(Row { expression, sense, rhs, group });
        self.rows.len() - 1
    }

    /// The distinct groups of the model's rows, sorted.
    pub fn groups(&self) -> Vec<Group> {
        let mut groups: Vec<Group> = self.rows.iter().map(|r| r.group).collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// Solves the whole model.
    pub fn solve(&self, limits: &Limits, start: Option<&[(Var, f64)]>) -> Result<Solution, SolveError> {
        self.solve_with(limits, start, |_| true, false)
    }

    /// A copy whose variables with `Some(value)` are fixed to that value.
    fn with_bounds(&self, fixed: &[Option<f64>]) -> Model {
        let mut model = self.clone();
        let mut variables = ProblemVariables::new();
        for (index, (_, definition)) in self.variables.iter_variables_with_def().enumerate() {
            let mut def = variable();
            if self.integer[index] {
                def = def.integer();
            }
            def = match fixed.get(index).copied().flatten() {
                Some(value) => def.min(value).max(value),
                None => def.min(definition.get_min()).max(definition.get_max()),
            };
            variables.add(def);
        }
        model.variables = variables;
        model
    }

    /// Any feasible solution of the whole model, ignoring the objective:
    /// feasibility alone is often found in a fraction of the time, and then
    /// seeds the real solve.
    pub fn find_feasible(&self, limits: &Limits) -> Result<Solution, SolveError> {
        self.solve_with(limits, None, |_| true, true)
    }

    /// The optimum of the LP relaxation: a proven lower bound on the MILP,
    /// cheap next to branch and bound.
    pub fn relaxation_bound(&self) -> Result<f64, SolveError> {
        let mut model = self.clone();
        model.integer.iter_mut().for_each(|i| *i = false);
        let mut variables = ProblemVariables::new();
        for (_, definition) in self.variables.iter_variables_with_def() {
            variables.add(variable().min(definition.get_min()).max(definition.get_max()));
        }
        model.variables = variables;
        model.solve_with(&Limits::default(), None, |_| true, false).map(|s| s.objective)
    }

    /// Whether the rows of the enabled groups (and structural rows) admit a
    /// solution; the objective is dropped so that only feasibility is decided.
    pub fn is_feasible(&self, enabled: impl Fn(Group) -> bool, limits: &Limits) -> Result<bool, SolveError> {
        match self.solve_with(limits, None, enabled, true) {
            Ok(_) => Ok(true),
            Err(SolveError::Infeasible) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The cheapest violation of one group: every row of `group` gets a slack
    /// variable (two for equalities), the objective becomes the total slack,
    /// and only `enabled` groups (plus structural rows) are kept. Returns the
    /// positive slacks by row index.
    pub fn elastic(
        &self,
        group: Group,
        enabled: impl Fn(Group) -> bool,
        limits: &Limits,
    ) -> Result<Vec<(usize, f64)>, SolveError> {
        let mut model = self.clone();
        model.objective = Expression::from(0.0);
        let mut slacks = Vec::new();
        for index in 0..model.rows.len() {
            if model.rows[index].group != group {
                continue;
            }
            let up = model.continuous(0.0, f64::INFINITY);
            model.objective.add_mul(1.0, up.lp());
            let row = &mut model.rows[index];
            match row.sense {
                Sense::Le => row.expression.add_mul(-1.0, up.lp()),
                Sense::Ge => row.expression.add_mul(1.0, up.lp()),
                Sense::Eq => row.expression.add_mul(1.0, up.lp()),
            }
            slacks.push((index, up));
            if model.rows[index].sense == Sense::Eq {
                let down = model.continuous(0.0, f64::INFINITY);
                model.objective.add_mul(1.0, down.lp());
                model.rows[index].expression.add_mul(-1.0, down.lp());
                slacks.push((index, down));
            }
        }
        let solution = model.solve_with(limits, None, |g| g == group || enabled(g), false)?;
        let mut by_row: Vec<(usize, f64)> = Vec::new();
        for (row, var) in slacks {
            let value = solution.value(var);
            if value > 1e-7 {
                match by_row.last_mut() {
                    Some((last, total)) if *last == row => *total += value,
                    _ => by_row.push((row, value)),
                }
            }
        }
        Ok(by_row)
    }

    /// Solves the LP relaxation with the integer variables fixed at `fixed`
    /// values, for shadow prices of the rows.
    pub fn solve_fixed(&self, fixed: &Solution) -> Result<Solution, SolveError> {
        self.solve_with_integers_at(&fixed.values)
    }

    /// [`Model::solve_fixed`] at a point given as `(variable, value)` pairs
    /// (a complete MIP start, for instance); unnamed integers are fixed at 0.
    pub fn solve_fixed_at(&self, point: &[(Var, f64)]) -> Result<Solution, SolveError> {
        let mut values = vec![0.0; self.n_variables()];
        for (variable, value) in point {
            values[variable.index] = *value;
        }
        self.solve_with_integers_at(&values)
    }

    fn solve_with_integers_at(&self, values: &[f64]) -> Result<Solution, SolveError> {
        let bounds: Vec<Option<f64>> = self
            .integer
            .iter()
            .enumerate()
            .map(|(i, is_int)| is_int.then(|| values.get(i).copied().unwrap_or(0.0).round()))
            .collect();
        let mut model = self.with_bounds(&bounds);
        model.integer.iter_mut().for_each(|i| *i = false);
        let mut variables = ProblemVariables::new();
        for (_, definition) in model.variables.iter_variables_with_def() {
            variables.add(variable().min(definition.get_min()).max(definition.get_max()));
        }
        model.variables = variables;
        model.solve_with(&Limits::default(), None, |_| true, false)
    }

    fn solve_with(
        &self,
        limits: &Limits,
        start: Option<&[(Var, f64)]>,
        enabled: impl Fn(Group) -> bool,
        feasibility_only: bool,
    ) -> Result<Solution, SolveError> {
        let objective = if feasibility_only { Expression::from(0.0) } else { self.objective.clone() };
        let mut problem = self.variables.clone().minimise(objective).using(good_lp::solvers::highs::highs);
        for row in self.rows.iter().filter(|r| r.group == STRUCTURAL || enabled(r.group)) {
            let expression = row.expression.clone();
            let constraint = match row.sense {
                Sense::Le => expression.leq(row.rhs),
                Sense::Ge => expression.geq(row.rhs),
                Sense::Eq => expression.eq(row.rhs),
            };
            problem.add_constraint(constraint);
        }
        let mut model = problem.try_into_inner().map_err(|e| SolveError::Solver(e.to_string()))?;
        model.make_quiet();
        if std::env::var_os("RTT_SOLVER_LOG").is_some() {
            // HiGHS's own log, for diagnosing slow solves; it goes to stdout.
            set(&mut model, "output_flag", true)?;
            set(&mut model, "log_to_console", true)?;
        }
        model.set_threads(NonZeroU32::MIN);
        set(&mut model, "parallel", "off")?;
        set(&mut model, "random_seed", 0)?;
        set(&mut model, "mip_rel_gap", limits.gap)?;
        if let Some(nodes) = limits.node_limit {
            set(&mut model, "mip_max_nodes", i32::try_from(nodes).unwrap_or(i32::MAX))?;
        }
        if limits.light {
            set(&mut model, "mip_heuristic_effort", 0.01)?;
            set(&mut model, "mip_detect_symmetry", false)?;
            set(&mut model, "mip_allow_restart", false)?;
            set(&mut model, "mip_pscost_minreliable", 0)?;
        }
        if let Some(seconds) = limits.time_limit {
            set(&mut model, "time_limit", seconds)?;
        }
        if let Some(start) = start {
            let mut values = vec![0.0; self.n_variables()];
            for (variable, value) in start {
                values[variable.index] = *value;
            }
            model.set_solution(Some(&values), None, None, None);
        }
        let solved = model.try_solve().map_err(|e| SolveError::Solver(format!("{e:?}")))?;
        let status = solved.status();
        let has_solution = solved.primal_solution_status() == HighsSolutionStatus::Feasible;
        let proven = match status {
            HighsModelStatus::Optimal => true,
            HighsModelStatus::Infeasible | HighsModelStatus::UnboundedOrInfeasible => {
                return Err(SolveError::Infeasible);
            }
            HighsModelStatus::ReachedTimeLimit
            | HighsModelStatus::ReachedIterationLimit
            | HighsModelStatus::ReachedSolutionLimit
            | HighsModelStatus::ReachedInterrupt
            | HighsModelStatus::ReachedMemoryLimit
            | HighsModelStatus::ObjectiveBound
            | HighsModelStatus::ObjectiveTarget => false,
            other => return Err(SolveError::Solver(format!("unexpected model status {other:?}"))),
        };
        if !has_solution {
            return Err(SolveError::NoSolution(format!("{status:?}")));
        }
        let objective = solved.objective_value();
        let is_mip = self.integer.iter().any(|i| *i);
        let (bound, gap) = if is_mip {
            let bound = solved.double_info_value(c"mip_dual_bound").unwrap_or(f64::NEG_INFINITY);
            (bound, solved.mip_gap())
        } else {
            (objective, 0.0)
        };
        let solution = solved.get_solution();
        let status = if proven && gap <= limits.gap + 1e-12 { Status::Optimal } else { Status::Feasible };
        Ok(Solution {
            status,
            objective,
            bound,
            gap: if gap.is_finite() { gap } else { 0.0 },
            values: solution.columns().to_vec(),
            row_duals: solution.dual_rows().to_vec(),
        })
    }
}

fn set<V: highs::HighsOptionValue>(model: &mut highs::Model, option: &str, value: V) -> Result<(), SolveError> {
    model.try_set_option(option, value).map_err(|e| SolveError::Solver(format!("option {option}: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// max x + y s.t. x + 2y <= 4, 3x + y <= 6, integers → x = 1, y = 1 (or 2, 0): objective 2.
    #[test]
    fn solves_a_small_integer_program_to_optimality() {
        let mut model = Model::new();
        let x = model.integer(0.0, 10.0);
        let y = model.integer(0.0, 10.0);
        model.add_objective(-1.0, x);
        model.add_objective(-1.0, y);
        model.constrain(x.lp() + 2.0 * y.lp(), Sense::Le, 4.0, Group(0));
        model.constrain(3.0 * x.lp() + y.lp(), Sense::Le, 6.0, Group(1));
        let solution = model.solve(&Limits { gap: 0.0, ..Limits::default() }, None).unwrap();
        assert_eq!(solution.status, Status::Optimal);
        assert!((solution.objective + 2.0).abs() < 1e-9, "{}", solution.objective);
        assert!((solution.value(x) + solution.value(y) - 2.0).abs() < 1e-9);
        assert!(solution.bound <= solution.objective + 1e-9);
    }

    #[test]
    fn reports_infeasibility_and_finds_it_per_group() {
        let mut model = Model::new();
        let x = model.integer(0.0, 10.0);
        model.constrain(Expression::from(x.lp()), Sense::Ge, 5.0, Group(0));
        model.constrain(Expression::from(x.lp()), Sense::Le, 3.0, Group(1));
        model.constrain(Expression::from(x.lp()), Sense::Le, 9.0, Group(2));
        assert_eq!(model.solve(&Limits::default(), None).unwrap_err(), SolveError::Infeasible);
        assert!(!model.is_feasible(|_| true, &Limits::default()).unwrap());
        assert!(model.is_feasible(|g| g != Group(1), &Limits::default()).unwrap());
        assert!(model.is_feasible(|g| g != Group(0), &Limits::default()).unwrap());
        assert_eq!(model.groups(), vec![Group(0), Group(1), Group(2)]);
    }

    #[test]
    fn accepts_a_mip_start_and_stays_deterministic() {
        let mut model = Model::new();
        let xs: Vec<Var> = (0..12).map(|_| model.binary()).collect();
        let weights = [4.0, 2.0, 7.0, 1.0, 8.0, 3.0, 5.0, 6.0, 9.0, 2.5, 4.5, 3.5];
        let mut capacity = Expression::from(0.0);
        for (x, w) in xs.iter().zip(weights) {
            model.add_objective(-w * 1.1, *x);
            capacity.add_mul(w, x.lp());
        }
        model.constrain(capacity, Sense::Le, 20.0, Group(0));
        let start: Vec<(Var, f64)> = xs.iter().map(|x| (*x, 0.0)).collect();
        let first = model.solve(&Limits::default(), Some(&start)).unwrap();
        let second = model.solve(&Limits::default(), Some(&start)).unwrap();
        assert_eq!(first.objective.to_bits(), second.objective.to_bits());
        assert!((first.objective + 22.0).abs() < 1e-6, "{}", first.objective);
    }

    #[test]
    fn fixed_integer_lp_gives_row_duals() {
        // min y s.t. y >= 2 x + 1 (row 0), x integer fixed at 1: dual of row 0 is 1.
        let mut model = Model::new();
        let x = model.integer(1.0, 1.0);
        let y = model.continuous(0.0, 100.0);
        model.add_objective(1.0, y);
        model.constrain(y.lp() - 2.0 * x.lp(), Sense::Ge, 1.0, Group(0));
        let solution = model.solve(&Limits::default(), None).unwrap();
        let lp = model.solve_fixed(&solution).unwrap();
        assert!((lp.objective - 3.0).abs() < 1e-9);
        assert!((lp.row_duals()[0].abs() - 1.0).abs() < 1e-9, "{:?}", lp.row_duals());
    }

    #[test]
    fn elastic_reports_the_least_violation_of_a_group() {
        let mut model = Model::new();
        let x = model.integer(0.0, 10.0);
        let at_least = model.constrain(Expression::from(x.lp()), Sense::Ge, 5.0, Group(0));
        model.constrain(Expression::from(x.lp()), Sense::Le, 3.0, Group(1));
        let slack = model.elastic(Group(0), |_| true, &Limits::default()).unwrap();
        assert_eq!(slack.len(), 1);
        assert_eq!(slack[0].0, at_least);
        assert!((slack[0].1 - 2.0).abs() < 1e-9);
    }
}
