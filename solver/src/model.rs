//! Building a MILP: variables, rows tagged with the group (config
//! statement) they come from, and the objective, on good_lp's expressions.

pub use good_lp::Expression;
use good_lp::{ProblemVariables, variable};

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
pub(crate) struct Row {
    pub(crate) expression: Expression,
    pub(crate) sense: Sense,
    pub(crate) rhs: f64,
    pub(crate) group: Group,
}

/// A MILP under construction.
#[derive(Clone, Default)]
pub struct Model {
    pub(crate) variables: ProblemVariables,
    pub(crate) integer: Vec<bool>,
    pub(crate) objective: Expression,
    pub(crate) rows: Vec<Row>,
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
}
