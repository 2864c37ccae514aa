#!/usr/bin/env python3
"""The group-rule benchmark fleet (BENCHMARKS.md, "Group rules"): 40 hosts,
30 single-replica ingress agents that must not share a host, 30 two-replica
apps, 59 routes. Writes the same constraint twice: group.yaml as one group
anti_affinity over the `tier: ingress` label, pairwise.yaml as the 435
pairwise `avoid` rules a config without groups needs.

    python3 benches/groups/generate.py OUT_DIR
"""
import os
import sys

K = 30  # ingress agents


def main(out):
    hosts = [
        f"    - {{name: h{i:02}, zone: z{i % 4}, rack: r{i % 8}, "
        "numa: [{cores: 16, memory_mib: 65536}, {cores: 16, memory_mib: 65536}]}"
        for i in range(40)
    ]
    apps = [
        f"  - {{id: app{i:02}@1, replicas: 2, cpu: 2, memory_mib: 2048, qos: guaranteed, service_us: 80}}"
        for i in range(30)
    ]
    routes = [f"  - {{from: ing{i:02}@1, to: app{i % 30:02}@1, rps: {100 + i * 10}}}" for i in range(K)]
    routes += [f"  - {{from: app{i:02}@1, to: app{i + 1:02}@1, rps: {50 + i}}}" for i in range(29)]

    def ingress(i, extra):
        return (f"  - {{id: ing{i:02}@1, replicas: 1, cpu: 2, memory_mib: 2048, qos: guaranteed, "
                f"service_us: 50, labels: {{tier: ingress}}{extra}}}")

    head = ("version: 1\ntopology:\n  latency_us: {numa: 1.5, host: 4, rack: 25, zone: 120, region: 900}\n"
            "  hosts:\n" + "\n".join(hosts) + "\nagents:\n")
    tail = "\nroutes:\n" + "\n".join(routes) + "\n"
    group = (head + "\n".join([ingress(i, "") for i in range(K)] + apps) + tail
             + "groups:\n  - {name: ingress, selector: {tier: ingress}, anti_affinity: {level: host}}\n")
    pairs = []
    for i in range(K):
        later = ", ".join(f"{{agent: ing{j:02}@1, level: host}}" for j in range(i + 1, K))
        pairs.append(ingress(i, f", avoid: [{later}]" if later else ""))
    pairwise = head + "\n".join(pairs + apps) + tail
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "group.yaml"), "w") as f:
        f.write(group)
    with open(os.path.join(out, "pairwise.yaml"), "w") as f:
        f.write(pairwise)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
