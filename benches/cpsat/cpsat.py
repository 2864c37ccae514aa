#!/usr/bin/env python3
"""CP-SAT baseline for rtt's planning problem (SPEC §4), the yardstick of the
planner issue's performance goals.

    python3 benches/cpsat/cpsat.py CONFIG.json [--previous PLAN.json]
        [--seconds 60] [--workers 2] [--seed 1]

CONFIG is a config as JSON (`rtt-instances` output, or any config in the
JSON form of SPEC §3). PREVIOUS is an rtt plan document (its `placements`).
Prints one JSON object: status, objective and bound in SPEC §4 units (µs of
traffic-weighted mean p99 plus churn_weight · moves), wall seconds, and the
placement as plan rows `{agent, host, numa, replicas}`. The benchmark
(`benches/plan.rs`, `RTT_BENCH_CPSAT=1`) re-scores that placement with rtt's
scorer, so the figure it quotes is SPEC §4's, not this model's.

A straightforward model, the same shape as rtt's MILP (docs/model.md §2-§4):

- y[a,n] integer replica counts on eligible NUMA nodes (schedulable host,
  selector, pinned host and NUMA, one replica fits).
- Capacity per NUMA node: memory exactly; CPU as exact rationals
  (cpu · 1/overcommit from the decimal text) scaled to integers by the least
  common denominator, so no rounding (a fallback rounds at 1e-6 cores if the
  denominators get absurd; it never does on generated tiers).
- Spread, anti-affinity, colocate, avoid as in SPEC §4, with presence booleans.
- Route locality: S[r,d] <= R_b·y[a,d] and S[r,d] <= R_a·y[b,d] (S is
  R_a·R_b times the share min(y_a/R_a, y_b/R_b)); "local at level L" w[r,L]
  needs sum_d S >= ceil(0.99·R_a·R_b), which is exactly the scorer's
  F_L >= 0.99 - 1e-9 for R_a·R_b < 10^7 (the share is a multiple of
  1/(R_a R_b)). Levels chained: w[finer] <= w[coarser].
- SLO: lat_region + service_b - sum_L Δ_L w[r,L] <= slo.
- Churn: m[a,n] >= P[a,n] - y[a,n]; replicas on gone or ineligible nodes and
  the scale-down allowance are constants.
- Objective: CP-SAT needs integers. Every term is multiplied by
  K = SCALE · Σrps with SCALE = 1000 (latencies in ns): the latency term of
  route r at level L becomes round(SCALE · latency_weight · rps_r · Δ_L), a
  move round(SCALE · churn_weight · Σrps). With integral rps and latencies
  with at most 3 decimals (every generated tier) this is exact; otherwise
  each coefficient is off by at most 0.5/K µs. Objective and bound are
  divided back by K and the constant Σ_r ω_r (lat_region + service_b) added.
"""

import argparse
import json
import math
import sys
import time
from fractions import Fraction

from ortools.sat.python import cp_model

LEVELS = ["numa", "host", "rack", "zone"]
SCALE = 1000


def exact(value):
    """A config number as the exact decimal it was written as."""
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--previous")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log", action="store_true", help="CP-SAT search log on stderr")
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    previous = None
    if args.previous:
        with open(args.previous) as f:
            previous = json.load(f)

    hosts = config["topology"]["hosts"]
    latency_table = config["topology"]["latency_us"]
    lat = [exact(latency_table[k]) for k in LEVELS + ["region"]]
    agents = config["agents"]
    routes = config.get("routes", [])
    objective = config.get("objective", {})
    latency_weight = exact(objective.get("latency_weight", 1.0))
    churn_weight = exact(objective.get("churn_weight", 50.0))
    overcommit = config.get("qos_overcommit", {})
    qos_factor = {
        "guaranteed": Fraction(1),
        "burstable": 1 / exact(overcommit.get("burstable", 1.0)),
        "best-effort": 1 / exact(overcommit.get("best_effort", 1.0)),
    }
    index_of = {a["id"]: i for i, a in enumerate(agents)}
    host_index = {h["name"]: i for i, h in enumerate(hosts)}

    # NUMA nodes, flattened host by host, with their domain at every level.
    nodes = []  # (host index, numa index, cores, memory)
    domain = [[], [], [], []]
    for h, host in enumerate(hosts):
        for n, numa in enumerate(host["numa"]):
            nodes.append((h, n, numa["cores"], numa["memory_mib"]))
            domain[0].append((h, n))
            domain[1].append(h)
            domain[2].append((host["zone"], host["rack"]))
            domain[3].append(host["zone"])

    def host_eligible(agent, h):
        host = hosts[h]
        if not host.get("schedulable", True):
            return False
        pin = agent.get("pin")
        if pin and pin["host"] != host["name"]:
            return False
        labels = host.get("labels", {})
        return all(labels.get(k) == v for k, v in (agent.get("selector") or {}).items())

    cpu = [exact(a["cpu"]) * qos_factor[a["qos"]] for a in agents]
    denominator = 1
    for c in cpu:
        denominator = denominator * c.denominator // math.gcd(denominator, c.denominator)
    if denominator > 10**6:
        # Never on generated tiers: round CPU up to 1e-6 cores (conservative).
        denominator = 10**6
        cpu = [Fraction(math.ceil(c * denominator), denominator) for c in cpu]
    cpu_units = [int(c * denominator) for c in cpu]

    model = cp_model.CpModel()
    y = [dict() for _ in agents]  # node index -> var
    for a, agent in enumerate(agents):
        R = agent["replicas"]
        pin_numa = (agent.get("pin") or {}).get("numa")
        anti = (agent.get("anti_affinity") or {}).get("level")
        for i, (h, n, cores, memory) in enumerate(nodes):
            if not host_eligible(agent, h) or (pin_numa is not None and pin_numa != n):
                continue
            upper = min(R, (cores * denominator) // cpu_units[a], memory // agent["memory_mib"])
            if anti in ("numa", "host"):
                upper = min(upper, 1)
            if upper >= 1:
                y[a][i] = model.new_int_var(0, upper, f"y_{a}_{i}")
        model.add(sum(y[a].values()) == R)

    for i, (h, n, cores, memory) in enumerate(nodes):
        users = [a for a in range(len(agents)) if i in y[a]]
        if users:
            model.add(sum(cpu_units[a] * y[a][i] for a in users) <= cores * denominator)
            model.add(sum(agents[a]["memory_mib"] * y[a][i] for a in users) <= memory)

    def per_domain(a, level):
        sums = {}
        for i, var in y[a].items():
            sums.setdefault(domain[level][i], []).append(var)
        return sums

    presence_vars = {}

    def presence(a, level, d, terms):
        key = (a, level, d)
        if key not in presence_vars:
            p = model.new_bool_var(f"p_{a}_{level}_{d}")
            model.add(sum(terms) >= 1).only_enforce_if(p)
            model.add(sum(terms) == 0).only_enforce_if(~p)
            presence_vars[key] = p
        return presence_vars[key]

    for a, agent in enumerate(agents):
        R = agent["replicas"]
        spread = agent.get("spread")
        if spread:
            level = LEVELS.index(spread["level"])
            domains = sorted({domain[level][i] for i in range(len(nodes)) if host_eligible(agent, nodes[i][0])}, key=str)
            if len(domains) > 1:
                sums = per_domain(a, level)
                top = model.new_int_var(0, R, f"spread_max_{a}")
                bottom = model.new_int_var(0, R, f"spread_min_{a}")
                for d in domains:
                    count = sum(sums.get(d, []))
                    model.add(count <= top)
                    model.add(count >= bottom)
                model.add(top - bottom <= spread["max_skew"])
        anti = agent.get("anti_affinity")
        if anti:
            for terms in per_domain(a, LEVELS.index(anti["level"])).values():
                model.add(sum(terms) <= 1)
        for rule in agent.get("colocate") or []:
            b = index_of[rule["with"]]
            level = LEVELS.index(rule["level"])
            theirs = per_domain(b, level)
            for d, terms in per_domain(a, level).items():
                if d in theirs:
                    model.add(sum(terms) <= R * presence(b, level, d, theirs[d]))
                else:
                    model.add(sum(terms) == 0)
        for rule in agent.get("avoid") or []:
            b = index_of[rule["agent"]]
            level = LEVELS.index(rule["level"])
            theirs = per_domain(b, level)
            for d, terms in per_domain(a, level).items():
                if d in theirs:
                    model.add_bool_or([~presence(a, level, d, terms), ~presence(b, level, d, theirs[d])])

    total_rps = sum(exact(r["rps"]) for r in routes)
    K = SCALE * total_rps if routes else Fraction(SCALE)
    objective_terms = []  # (integer coefficient, var)
    constant = Fraction(0)  # in µs
    rounding = Fraction(0)
    w_vars = []
    for r, route in enumerate(routes):
        a, b = index_of[route["from"]], index_of[route["to"]]
        Ra, Rb = agents[a]["replicas"], agents[b]["replicas"]
        weight = latency_weight * exact(route["rps"]) / total_rps
        service = exact(agents[b]["service_us"])
        constant += weight * (lat[4] + service)
        threshold = (99 * Ra * Rb + 99) // 100  # ceil(0.99 Ra Rb)
        gain = []  # (Δ_L, w)
        coarser = None
        for level in reversed(range(4)):
            step = lat[level + 1] - lat[level]
            if step <= 0:
                continue
            mine, theirs = per_domain(a, level), per_domain(b, level)
            shared = [d for d in mine if d in theirs]
            if not shared:
                continue
            shares = []
            for d in shared:
                s = model.new_int_var(0, Ra * Rb, f"s_{r}_{level}")
                model.add(s <= Rb * sum(mine[d]))
                model.add(s <= Ra * sum(theirs[d]))
                shares.append(s)
            w = model.new_bool_var(f"w_{r}_{level}")
            model.add(sum(shares) >= threshold).only_enforce_if(w)
            if coarser is not None:
                model.add_implication(w, coarser)
            coarser = w
            gain.append((step, w))
            exact_coefficient = K * latency_weight * exact(route["rps"]) / total_rps * step
            coefficient = round(exact_coefficient)
            rounding += abs(exact_coefficient - coefficient)
            objective_terms.append((-coefficient, w))
            w_vars.append(w)
        slo = route.get("slo_p99_us")
        if slo is not None:
            # lat_region + service - Σ Δ w <= slo, in SCALE-ths of a µs.
            need = (lat[4] + service - exact(slo)) * SCALE
            if need > 0:
                model.add(sum(int(step * SCALE) * w for step, w in gain) >= math.ceil(need))

    moves_constant = 0
    move_vars = []
    if previous is not None:
        before = {}
        for row in previous.get("placements", []):
            before.setdefault(row["agent"], []).append(row)
        for a, agent in enumerate(agents):
            rows = before.get(agent["id"])
            if rows is None:
                continue
            total_before = sum(row["replicas"] for row in rows)
            moves_constant -= max(0, total_before - agent["replicas"])
            for row in rows:
                h = host_index.get(row["host"])
                i = None
                if h is not None and row["numa"] < len(hosts[h]["numa"]):
                    i = next(j for j, node in enumerate(nodes) if node[0] == h and node[1] == row["numa"])
                if i is None or i not in y[a]:
                    moves_constant += row["replicas"]
                    continue
                m = model.new_int_var(0, row["replicas"], f"m_{a}_{i}")
                model.add(m + y[a][i] >= row["replicas"])
                move_vars.append(m)
    move_coefficient = round(K * churn_weight)
    constant += churn_weight * moves_constant
    objective_terms.extend((move_coefficient, m) for m in move_vars)
    model.minimize(sum(c * v for c, v in objective_terms))
    # (`rounding` is reported so a non-exact scaling is visible in the output.)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = args.seconds
    solver.parameters.num_workers = args.workers
    solver.parameters.random_seed = args.seed
    solver.parameters.log_search_progress = args.log
    solver.log_callback = lambda line: print(line, file=sys.stderr)
    started = time.monotonic()
    status = solver.solve(model)
    seconds = time.monotonic() - started

    # The solver's objective is in units of 1/K µs and leaves out `constant`
    # (every route at region level, plus the moves nothing can avoid).
    result = {
        "status": solver.status_name(status),
        "seconds": round(seconds, 3),
        "workers": args.workers,
        "seed": args.seed,
        "variables": len(model.proto.variables),
        "constraints": len(model.proto.constraints),
        "objective_rounding_us": float(rounding / K),
        "placements": [],
    }
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        result["objective"] = float(Fraction(round(solver.objective_value)) / K + constant)
        result["bound"] = float(Fraction(math.floor(solver.best_objective_bound)) / K + constant)
        rows = []
        for a, agent in enumerate(agents):
            for i, var in y[a].items():
                count = solver.value(var)
                if count > 0:
                    h, n = nodes[i][0], nodes[i][1]
                    rows.append({"agent": agent["id"], "host": hosts[h]["name"], "numa": n, "replicas": count})
        rows.sort(key=lambda row: (row["agent"], row["host"], row["numa"]))
        result["placements"] = rows
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
