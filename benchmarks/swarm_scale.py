"""Benchmark: a swarm in simulated time, then its reachability table.

    python benchmarks/swarm_scale.py                 # 50 hosts (3 managers), 5 overlays, 1,000 containers
    python benchmarks/swarm_scale.py --hosts 10      # smaller, for a quick look
    python benchmarks/swarm_scale.py --workers 2     # fork the table's probes

The generated swarm has 3 managers and the rest workers, 5 attachable overlays, and
``containers`` spread round robin over the hosts and the overlays.  One worker fails at 10 s;
the clock runs to 60 s (gossip, SWIM probes and the failure's detection all happen as
packets on the underlay), then the reachability table is computed for t = 60 s.  Prints wall
time per phase, simulated events, gossip datagrams, rows, and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import time

import simpy

import netsim
from netsim.topology import parse_spec


def generated_swarm(hosts: int, containers: int, overlays: int) -> dict[str, object]:
    names = [f"h{h:03d}" for h in range(hosts)]
    return {
        "name": f"swarm-{hosts}x{containers}", "seed": 1,
        "hosts": {name: {"swarm": "manager" if i < 3 else "worker"} for i, name in enumerate(names)},
        "networks": {f"o{n}": {"driver": "overlay", "attachable": True} for n in range(overlays)},
        "containers": {f"c{c:04d}": {"host": names[c % hosts], "networks": [f"o{c % overlays}"]}
                       for c in range(containers)},
        "events": [{"at": "10s", "node_fail": names[-1]}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--containers", type=int, default=1000)
    parser.add_argument("--overlays", type=int, default=5)
    parser.add_argument("--until", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    steps = [0]
    step = simpy.Environment.step

    def counted(env: simpy.Environment) -> None:  # every simulated event the clock processes
        steps[0] += 1
        step(env)

    simpy.Environment.step = counted  # type: ignore[method-assign]
    t0 = time.perf_counter()
    spec = parse_spec(generated_swarm(args.hosts, args.containers, args.overlays))
    sim = netsim.build(spec)
    t1 = time.perf_counter()
    events_before = steps[0]
    sim.run(args.until)
    t2 = time.perf_counter()
    events = steps[0]
    table = sim.reachability(workers=args.workers)
    t3 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    victim = f"h{args.hosts - 1:03d}"
    dead = sum(1 for h in sim.swarm.members if h != victim and sim.swarm.view(h)[victim] == "dead")

    print(f"topology        {spec.name}: {args.hosts} hosts (3 managers), {args.overlays} overlays, "
          f"{args.containers} containers")
    print(f"build           {t1 - t0:6.2f} s  ({events_before:,} simulated events while the swarm settles from -5 s)")
    print(f"run to {args.until:g} s      {t2 - t1:6.2f} s  ({events - events_before:,} simulated events, "
          f"{sim.swarm.messages():,} gossip datagrams in all)")
    print(f"failure seen    by {dead} of {len(sim.swarm.members) - 1} survivors at t = {args.until:g} s")
    print(f"reachability    {t3 - t2:6.2f} s  ({len(table):,} rows, {int(table.reachable.sum()):,} reachable, "
          f"workers={args.workers})")
    print(f"total           {t3 - t0:6.2f} s")
    print(f"peak RSS        {rss:6.0f} MiB")


if __name__ == "__main__":
    main()
