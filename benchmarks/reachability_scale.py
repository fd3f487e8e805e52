"""Benchmark: full reachability table of a generated topology (bridges only).

    python benchmarks/reachability_scale.py              # 100 hosts x 20 containers
    python benchmarks/reachability_scale.py --hosts 10   # smaller, for a quick look
    python benchmarks/reachability_scale.py --workers 2  # also time the forked run, side by side

Each host has the default bridge and three user-defined bridges (one with ICC disabled),
and its containers spread over the four; every host gets the same subnets (B32), which is
what real fleets look like and what makes most cross-host rows OTHER_RESPONDER.  Prints
wall time per phase, probes sent, rows, peak RSS, and the share of time spent in probes
versus building the table, measured side by side in the same run; with --workers N it
then times the same table with N forked probe processes, checks it is identical, and
prints the speed-up ratio.
"""

from __future__ import annotations

import argparse
import resource
import time

import netsim
from netsim.analysis import reachability as reach_mod
from netsim.topology import parse_spec


def generated_topology(hosts: int, containers: int) -> dict[str, object]:
    nets: dict[str, object] = {}
    ctrs: dict[str, object] = {}
    for h in range(hosts):
        host = f"h{h:03d}"
        for n, extra in enumerate(({}, {}, {"icc": False})):
            nets[f"{host}-n{n}"] = {"host": host, **extra}
        for c in range(containers):
            slot = c % 4
            spec: dict[str, object] = {"host": host}
            if slot:
                spec["networks"] = [f"{host}-n{slot - 1}"]
            if c == 0:
                spec["ports"] = ["8080:80"]
            ctrs[f"{host}-c{c:02d}"] = spec
    return {"name": f"scale-{hosts}x{containers}", "seed": 1,
            "underlay": {"subnet": "10.0.0.0/16", "gateway": "10.0.0.1"},
            "hosts": {f"h{h:03d}": {} for h in range(hosts)}, "networks": nets, "containers": ctrs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    t0 = time.perf_counter()
    spec = parse_spec(generated_topology(args.hosts, args.containers))
    sim = netsim.build(spec)
    t1 = time.perf_counter()

    probe_time = 0.0
    probes = 0
    original = reach_mod.Prober.send

    def timed_send(self, *a, **kw):  # type: ignore[no-untyped-def]
        nonlocal probe_time, probes
        start = time.perf_counter()
        result = original(self, *a, **kw)
        probes += 1
        probe_time += time.perf_counter() - start
        return result

    reach_mod.Prober.send = timed_send  # type: ignore[method-assign]
    df = sim.reachability()
    t2 = time.perf_counter()
    reach_mod.Prober.send = original  # type: ignore[method-assign]

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = t2 - t1
    print(f"topology        {spec.name}: {len(spec.hosts)} hosts, {len(spec.containers)} containers, "
          f"{len(spec.networks)} user networks")
    print(f"build           {t1 - t0:8.2f} s")
    print(f"reachability    {total:8.2f} s  ({len(df):,} rows, {int(df.reachable.sum()):,} reachable)")
    print(f"  probes        {probe_time:8.2f} s  ({probes:,} distinct probes, "
          f"{1e6 * probe_time / max(probes, 1):.0f} us each, {100 * probe_time / total:.0f}% of the table)")
    print(f"  table rows    {total - probe_time:8.2f} s  ({1e6 * (total - probe_time) / max(len(df), 1):.2f} us "
          f"per row, {100 * (total - probe_time) / total:.0f}%)")
    print(f"peak RSS        {peak_mib:8.0f} MiB")
    if args.workers > 1:
        t3 = time.perf_counter()
        forked = sim.reachability(workers=args.workers)
        t4 = time.perf_counter()
        same = forked.equals(df)
        print(f"workers={args.workers}       {t4 - t3:8.2f} s  (x{total / (t4 - t3):.2f} vs one process; "
              f"identical table: {same})")


if __name__ == "__main__":
    main()
