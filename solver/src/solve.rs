//! Solving a [`Model`] with HiGHS: limits, MIP starts, the LP bound,
//! feasibility per group, elastic slack and fixed-integer duals. The solve
//! drives the `highs` crate directly (through good_lp's `into_inner`), since
//! good_lp reports no bound, gap or objective and cannot re-solve a subset of
//! the rows.

use std::collections::HashMap;
use std::num::NonZeroU32;

use good_lp::{ProblemVariables, SolverModel, variable};
use highs::{HighsModelStatus, HighsSolutionStatus};

use crate::model::{Expression, Group, Model, Row, STRUCTURAL, Sense, Var};

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
        self.values[variable.index()]
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
            values[variable.index()] = *value;
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

    /// Solves with HiGHS's presolve, and asks again without it before
    /// believing "infeasible": HiGHS 1.15's MIP presolve can reduce a
    /// feasible model to an infeasible one (its log then says "Solution with
    /// objective … has untransformed violations"; ERGO-Code/HiGHS#2204 is
    /// one such report). A second answer that is not a proof either (a
    /// limit stopped it) leaves the first one standing.
    fn solve_with(
        &self,
        limits: &Limits,
        start: Option<&[(Var, f64)]>,
        enabled: impl Fn(Group) -> bool,
        feasibility_only: bool,
    ) -> Result<Solution, SolveError> {
        match self.solve_once(limits, start, &enabled, feasibility_only, Presolve::On) {
            Err(SolveError::Infeasible) if self.n_variables() > 0 => {
                match self.solve_once(limits, start, &enabled, feasibility_only, Presolve::Off) {
                    Ok(solution) => Ok(solution),
                    Err(SolveError::NoSolution(_)) => Err(SolveError::Infeasible),
                    Err(other) => Err(other),
                }
            }
            answer => answer,
        }
    }

    fn solve_once(
        &self,
        limits: &Limits,
        start: Option<&[(Var, f64)]>,
        enabled: impl Fn(Group) -> bool,
        feasibility_only: bool,
        presolve: Presolve,
    ) -> Result<Solution, SolveError> {
        if self.n_variables() == 0 {
            // HiGHS answers a model without columns with an invalid solution
            // status (and refuses a start for it); its rows are constants.
            return self.solve_constant(enabled, feasibility_only);
        }
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
        if presolve == Presolve::Off {
            set(&mut model, "presolve", "off")?;
        }
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
                values[variable.index()] = *value;
            }
            model
                .try_set_solution(Some(&values), None, None, None)
                .map_err(|e| SolveError::Solver(format!("MIP start: {e:?}")))?;
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

impl Model {
    /// A model without columns: feasible exactly when every enabled row
    /// holds of its constants.
    fn solve_constant(&self, enabled: impl Fn(Group) -> bool, feasibility_only: bool) -> Result<Solution, SolveError> {
        let none: HashMap<good_lp::Variable, f64> = HashMap::new();
        let holds = |row: &Row| {
            let value = row.expression.eval_with(&none);
            match row.sense {
                Sense::Le => value <= row.rhs + FEASIBILITY_TOLERANCE,
                Sense::Ge => value >= row.rhs - FEASIBILITY_TOLERANCE,
                Sense::Eq => (value - row.rhs).abs() <= FEASIBILITY_TOLERANCE,
            }
        };
        let rows: Vec<&Row> = self.rows.iter().filter(|r| r.group == STRUCTURAL || enabled(r.group)).collect();
        if !rows.iter().all(|row| holds(row)) {
            return Err(SolveError::Infeasible);
        }
        let objective = if feasibility_only { 0.0 } else { self.objective.eval_with(&none) };
        Ok(Solution {
            status: Status::Optimal,
            objective,
            bound: objective,
            gap: 0.0,
            values: Vec::new(),
            row_duals: vec![0.0; rows.len()],
        })
    }
}

/// HiGHS's default primal feasibility tolerance.
const FEASIBILITY_TOLERANCE: f64 = 1e-7;

/// Whether HiGHS presolves a model before solving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presolve {
    On,
    Off,
}

fn set<V: highs::HighsOptionValue>(model: &mut highs::Model, option: &str, value: V) -> Result<(), SolveError> {
    model.try_set_option(option, value).map_err(|e| SolveError::Solver(format!("option {option}: {e:?}")))
}
