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

mod model;
mod solve;

pub use model::{Expression, Group, Model, STRUCTURAL, Sense, Var};
pub use solve::{Limits, Solution, SolveError, Status};

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
    fn a_model_without_columns_takes_an_empty_start() {
        // A sub-MILP can have no columns; HiGHS cannot answer one (an
        // invalid solution status), so the solver wrapper does.
        let mut model = Model::new();
        model.add_objective_constant(7.0);
        let solution = model.solve(&Limits::default(), Some(&[])).unwrap();
        assert!((solution.objective - 7.0).abs() < 1e-9, "{}", solution.objective);
        assert_eq!(solution.status, Status::Optimal);
        // Its rows are constants: one that does not hold makes it infeasible.
        model.constrain(Expression::from(1.0), Sense::Le, 0.0, Group(3));
        assert_eq!(model.solve(&Limits::default(), None).unwrap_err(), SolveError::Infeasible);
        assert!(model.is_feasible(|g| g != Group(3), &Limits::default()).unwrap());
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
