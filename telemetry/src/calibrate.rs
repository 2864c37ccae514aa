//! Calibration (pure): fit the SPEC §4 latency model, `p99(r) =
//! latency_us[L*(r)] + service_us(callee)`, to observed route p99s.
//!
//! The unknowns are one latency per locality level and one service time
//! per callee; each judged route gives one equation. The fit is robust:
//! iteratively reweighted least squares with Huber weights (scale from the
//! median absolute deviation), solved by alternating exact updates of the
//! two blocks. The model cannot always tell a level's latency from a
//! callee's service time (add `c` to a level, take `c` from the services of
//! the callees only seen at that level: the same predictions), so each
//! callee's configured service time counts as evidence of one route's
//! weight (a ridge toward the config): what the routes cannot separate stays
//! where the config put it, and what they can, they decide. Levels and
//! callees no route observes keep the config's values; levels end monotone
//! from numa to region, as the config must be; no value is negative.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The weight of a callee's configured service time, in routes.
const RIDGE: f64 = 1.0;

/// The locality levels, finest first, as SPEC §4 and the config name them.
pub const LEVELS: [&str; 5] = ["numa", "host", "rack", "zone", "region"];

/// One route's reading.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutePoint {
    /// `from->to`.
    pub route: String,
    /// Index into [`LEVELS`] of the route's `L*` under the plan.
    pub level: usize,
    /// The callee agent.
    pub callee: String,
    /// Observed p99, µs.
    pub observed_p99_us: f64,
    /// Samples behind it.
    pub samples: u64,
}

/// The config's values, where the fit starts and what it keeps unobserved.
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    /// Per level, [`LEVELS`] order.
    pub latency_us: [f64; 5],
    /// Per agent.
    pub service_us: BTreeMap<String, f64>,
}

/// How one route sits against the fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Residual {
    /// `from->to`.
    pub route: String,
    /// Its level.
    pub level: String,
    /// Observed p99, µs.
    pub observed_p99_us: f64,
    /// The fitted model's p99, µs.
    pub fitted_p99_us: f64,
    /// The config's p99 for the same placement, µs.
    pub config_p99_us: f64,
    /// Observed − fitted, µs.
    pub residual_us: f64,
    /// Whether the route disagrees with the fitted model (an outlier the
    /// robust fit set aside: `|residual|` over 3 robust deviations and 5 %).
    pub disagrees: bool,
}

/// The fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Per level; unobserved levels keep the prior.
    pub latency_us: [f64; 5],
    /// Which levels some route observed.
    pub fitted_levels: [bool; 5],
    /// Fitted callees only.
    pub service_us: BTreeMap<String, f64>,
    /// Every route, in input order.
    pub residuals: Vec<Residual>,
    /// Root mean square of the residuals of the routes that agree, µs.
    pub rmse_us: f64,
    /// IRLS rounds taken.
    pub iterations: usize,
}

/// Fits the model to `points`, starting from `prior`.
pub fn fit(points: &[RoutePoint], prior: &Prior) -> Fit {
    let mut latency = prior.latency_us;
    let mut fitted_levels = [false; 5];
    for point in points {
        fitted_levels[point.level] = true;
    }
    let mut service: BTreeMap<String, f64> = BTreeMap::new();
    for point in points {
        let start = prior.service_us.get(&point.callee).copied().unwrap_or(0.0);
        service.entry(point.callee.clone()).or_insert(start);
    }
    let mut weights = vec![1.0; points.len()];
    let mut iterations = 0;
    for round in 0..100 {
        iterations = round + 1;
        let before = (latency, service.clone());
        // Alternating exact updates of the two blocks under fixed weights.
        for _ in 0..50 {
            let mut sums: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
            for (point, w) in points.iter().zip(&weights) {
                let entry = sums.entry(point.callee.as_str()).or_default();
                entry.0 += w * (point.observed_p99_us - latency[point.level]);
                entry.1 += w;
            }
            for (callee, (sum, weight)) in sums {
                let configured = prior.service_us.get(callee).copied().unwrap_or(0.0);
                if let Some(value) = service.get_mut(callee) {
                    *value = ((sum + RIDGE * configured) / (weight + RIDGE)).max(0.0);
                }
            }
            let mut level_sums = [(0.0, 0.0); 5];
            for (point, w) in points.iter().zip(&weights) {
                level_sums[point.level].0 += w * (point.observed_p99_us - service[&point.callee]);
                level_sums[point.level].1 += w;
            }
            for (level, (sum, weight)) in level_sums.iter().enumerate() {
                if *weight > 0.0 {
                    latency[level] = (sum / weight).max(0.0);
                }
            }
        }
        let residuals: Vec<f64> =
            points.iter().map(|p| p.observed_p99_us - latency[p.level] - service[&p.callee]).collect();
        let scale = robust_scale(&residuals);
        let k = 1.345 * scale;
        weights = residuals.iter().map(|r| if r.abs() <= k { 1.0 } else { k / r.abs() }).collect();
        let moved =
            latency.iter().zip(&before.0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max).max(
                service.iter().map(|(k, v)| (v - before.1.get(k).copied().unwrap_or(*v)).abs()).fold(0.0, f64::max),
            );
        if moved < 1e-6 {
            break;
        }
    }
    // SPEC §3 wants latencies that never fall from numa to region: the fitted
    // levels are made monotone (pool-adjacent-violators, weighted by their
    // routes), and a level no route observed is moved, if it must be, to
    // stay between its neighbours — and then counts as fitted.
    let mut weights_of = [0.0f64; 5];
    for point in points {
        weights_of[point.level] += 1.0;
    }
    monotone(&mut latency, &weights_of, &mut fitted_levels);
    let raw: Vec<f64> = points.iter().map(|p| p.observed_p99_us - latency[p.level] - service[&p.callee]).collect();
    let scale = robust_scale(&raw);
    let mut residuals = Vec::with_capacity(points.len());
    let mut agreeing = Vec::new();
    for (point, residual) in points.iter().zip(&raw) {
        let fitted = latency[point.level] + service[&point.callee];
        let disagrees = residual.abs() > 3.0 * scale && residual.abs() > 0.05 * point.observed_p99_us.abs();
        if !disagrees {
            agreeing.push(*residual);
        }
        residuals.push(Residual {
            route: point.route.clone(),
            level: LEVELS[point.level].to_owned(),
            observed_p99_us: point.observed_p99_us,
            fitted_p99_us: fitted,
            config_p99_us: prior.latency_us[point.level] + prior.service_us.get(&point.callee).copied().unwrap_or(0.0),
            residual_us: *residual,
            disagrees,
        });
    }
    let rmse_us = (mean(agreeing.iter().map(|r| r * r))).sqrt();
    Fit { latency_us: latency, fitted_levels, service_us: service, residuals, rmse_us, iterations }
}

/// The kind of [`Profile`].
pub const PROFILE_KIND: &str = "rtt.calibration";

/// What `rtt calibrate` writes and `rtt plan --profile` reads: the fitted
/// levels and service times (only those some route observed), and the fit's
/// evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// [`PROFILE_KIND`].
    pub kind: String,
    /// 1.
    pub version: u32,
    /// The plan whose observations were fitted.
    pub plan: rtt_canonical::Sha256,
    /// Fitted latency per level, µs.
    pub latency_us: BTreeMap<String, f64>,
    /// Fitted service time per callee agent, µs.
    pub service_us: BTreeMap<String, f64>,
    /// Routes fitted.
    pub routes: usize,
    /// Root mean square residual of the routes that agree, µs.
    pub rmse_us: f64,
    /// Every route against the fit.
    pub residuals: Vec<Residual>,
}

impl Profile {
    /// The profile of `fit` over `plan`'s observations. Values are rounded
    /// to 0.01 µs, so a profile's bytes, and the plans made with it, do
    /// not depend on the last bits of a floating-point fit.
    pub fn of(fit: &Fit, plan: rtt_canonical::Sha256) -> Profile {
        let round = |v: f64| (v * 100.0).round() / 100.0;
        Profile {
            kind: PROFILE_KIND.to_owned(),
            version: 1,
            plan,
            latency_us: LEVELS
                .iter()
                .zip(fit.latency_us)
                .zip(fit.fitted_levels)
                .filter(|(_, fitted)| *fitted)
                .map(|((level, value), _)| ((*level).to_owned(), round(value.max(0.0))))
                .collect(),
            service_us: fit.service_us.iter().map(|(agent, v)| (agent.clone(), round(v.max(0.0)))).collect(),
            routes: fit.residuals.len(),
            rmse_us: round(fit.rmse_us),
            residuals: fit
                .residuals
                .iter()
                .map(|r| Residual {
                    observed_p99_us: round(r.observed_p99_us),
                    fitted_p99_us: round(r.fitted_p99_us),
                    config_p99_us: round(r.config_p99_us),
                    residual_us: round(r.residual_us),
                    ..r.clone()
                })
                .collect(),
        }
    }

    /// Reads a profile, refusing anything else.
    pub fn parse(bytes: &[u8]) -> Result<Profile, String> {
        let profile: Profile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if profile.kind != PROFILE_KIND || profile.version != 1 {
            return Err(format!(
                "kind {:?} version {}, expected {PROFILE_KIND:?} version 1",
                profile.kind, profile.version
            ));
        }
        if let Some((level, _)) = profile.latency_us.iter().find(|(level, _)| !LEVELS.contains(&level.as_str())) {
            return Err(format!("`{level}` is not a locality level"));
        }
        let bad = |v: &f64| !(v.is_finite() && *v >= 0.0);
        if profile.latency_us.values().chain(profile.service_us.values()).any(bad) {
            return Err("latencies must be finite and not negative".to_owned());
        }
        Ok(profile)
    }
}

/// Makes `latency` non-decreasing: pool-adjacent-violators over the fitted
/// levels (weighted by `weights`), then each unfitted level clamped between
/// its finer and coarser neighbours. Unfitted levels that move are marked.
fn monotone(latency: &mut [f64; 5], weights: &[f64; 5], fitted: &mut [bool; 5]) {
    // Blocks of (sum of weighted values, weight, levels) over fitted levels.
    let mut blocks: Vec<(f64, f64, Vec<usize>)> = Vec::new();
    for level in (0..5).filter(|&l| fitted[l]) {
        let w = weights[level].max(1e-9);
        blocks.push((latency[level] * w, w, vec![level]));
        while blocks.len() >= 2 {
            let n = blocks.len();
            let (last, prev) = (blocks[n - 1].0 / blocks[n - 1].1, blocks[n - 2].0 / blocks[n - 2].1);
            if prev <= last {
                break;
            }
            let (sum, weight, levels) = blocks.pop().unwrap_or_default();
            if let Some(merged) = blocks.last_mut() {
                merged.0 += sum;
                merged.1 += weight;
                merged.2.extend(levels);
            }
        }
    }
    for (sum, weight, levels) in &blocks {
        for &level in levels {
            latency[level] = sum / weight;
        }
    }
    let original = *latency;
    for level in 1..5 {
        if !fitted[level] {
            latency[level] = latency[level].max(latency[level - 1]);
        }
    }
    for level in (0..4).rev() {
        if !fitted[level] {
            latency[level] = latency[level].min(latency[level + 1]);
        }
    }
    for level in 0..5 {
        if !fitted[level] && (latency[level] - original[level]).abs() > 1e-9 {
            fitted[level] = true;
        }
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// 1.4826 × the median absolute deviation (σ for normal noise), at least
/// 1 µs so that an exact fit does not make every route an outlier.
fn robust_scale(residuals: &[f64]) -> f64 {
    if residuals.is_empty() {
        return 1.0;
    }
    let mut sorted: Vec<f64> = residuals.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mut deviations: Vec<f64> = sorted.iter().map(|r| (r - median).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    (1.4826 * deviations[deviations.len() / 2]).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Routes at every level into several callees, from a known truth, with
    /// ±2 % deterministic noise and one route five times slower than the model.
    fn synthetic(truth: [f64; 5], services: &[(&str, f64)], outlier: bool) -> Vec<RoutePoint> {
        let mut points = Vec::new();
        let mut n = 0u32;
        for (level, at) in truth.iter().enumerate() {
            for (callee, service) in services {
                for caller in 0..3 {
                    n += 1;
                    let noise = 1.0 + 0.02 * (f64::from(n % 7) - 3.0) / 3.0;
                    points.push(RoutePoint {
                        route: format!("c{caller}->{callee}"),
                        level,
                        callee: (*callee).to_owned(),
                        observed_p99_us: (at + service) * noise,
                        samples: 1000,
                    });
                }
            }
        }
        if outlier {
            points[7].observed_p99_us *= 5.0;
        }
        points
    }

    #[test]
    fn recovers_level_latencies_within_five_percent_despite_an_outlier() {
        let truth = [20.0, 60.0, 300.0, 900.0, 4000.0];
        let services = [("db", 40.0), ("cache", 8.0), ("search", 120.0)];
        let prior = Prior {
            latency_us: [1.5, 4.0, 25.0, 120.0, 900.0],
            service_us: services.iter().map(|(a, s)| ((*a).to_owned(), *s)).collect(),
        };
        let fit = fit(&synthetic(truth, &services, true), &prior);
        for (level, want) in truth.iter().enumerate() {
            let got = fit.latency_us[level];
            assert!((got - want).abs() <= 0.05 * want, "{}: fitted {got}, truth {want}", LEVELS[level]);
        }
        let outliers: Vec<&str> = fit.residuals.iter().filter(|r| r.disagrees).map(|r| r.route.as_str()).collect();
        assert_eq!(outliers.len(), 1, "{outliers:?}");
        assert!(fit.fitted_levels.iter().all(|f| *f));
    }

    #[test]
    fn the_fitted_levels_never_fall_from_numa_to_region() {
        let prior = Prior { latency_us: [1.5, 4.0, 25.0, 120.0, 900.0], service_us: [("db".to_owned(), 10.0)].into() };
        let at = |level: usize, p99: f64| RoutePoint {
            route: format!("a{level}->db"),
            level,
            callee: "db".into(),
            observed_p99_us: p99,
            samples: 100,
        };
        // numa observed slow, region fast, the rest unobserved: not monotone as fitted.
        let fit = fit(&[at(0, 1_500.0), at(4, 1_000.0)], &prior);
        assert!(fit.latency_us.windows(2).all(|w| w[0] <= w[1] + 1e-9), "{:?}", fit.latency_us);
        assert!(fit.fitted_levels.iter().all(|f| *f), "the levels moved to keep the order are in the profile");
    }

    #[test]
    fn unobserved_levels_and_callees_keep_the_config() {
        let prior = Prior {
            latency_us: [1.0, 2.0, 3.0, 4.0, 5.0],
            service_us: [("db".to_owned(), 10.0), ("idle".to_owned(), 7.0)].into(),
        };
        let points = vec![RoutePoint {
            route: "a->db".into(),
            level: 2,
            callee: "db".into(),
            observed_p99_us: 50.0,
            samples: 100,
        }];
        let fit = fit(&points, &prior);
        assert_eq!(fit.latency_us[0], 1.0);
        // Coarser levels below the fitted rack rise to it: latencies never fall outward.
        assert_eq!(fit.latency_us[3], 40.0);
        assert_eq!(fit.latency_us[4], 40.0);
        assert!(!fit.fitted_levels[0] && fit.fitted_levels[4]);
        // One route, one callee: the service keeps its config value, the level takes the rest.
        assert!((fit.latency_us[2] - 40.0).abs() < 1e-6, "{:?}", fit.latency_us);
        assert!(!fit.service_us.contains_key("idle"));
        assert!(fit.residuals[0].residual_us.abs() < 1e-6);
    }
}
