"""Benchmark: many containers on one host, for several sizes side by side.

    python benchmarks/build_scale.py                          # 2500, 5000, 10000, 20000 containers
    python benchmarks/build_scale.py --sizes 1000 2000 4000   # smaller, for a quick look
    python benchmarks/build_scale.py --variants user --cli    # one variant, also `netsim trace`/`ping`

Every size builds one host whose containers all sit on one bridge: the default bridge
(``default``), a user-defined bridge with embedded DNS (``user``), or a user-defined bridge
with ICC disabled (``icc``, per-container iptables rules).  For each size it prints the build
time, one trace by name (c0 -> c1; on the default bridge, which has no embedded DNS, that
ends at NXDOMAIN without a probe), one trace by address (c0 -> the last container's address,
which floods one ARP request over every bridge port), one ``sim.endpoint()`` lookup, and with
``--cli`` the whole ``netsim trace FILE c0 c1`` and ``netsim ping FILE c0 c1 -c 1`` commands
(a fresh process each: starting Python and importing pandas, about a second, then reading
the YAML file, building, checking the names and asking).
Each column is followed by the ratio to the previous size, time(N) / time(N/2) when the sizes
double: linear growth shows as about 2.0, quadratic growth as about 4.0.

The questions (traces, lookup) are asked ``--repeat`` times and the best time is shown: at
20,000 containers a full pass of Python's garbage collector costs more than a trace, and
falls on one call or another.  Builds and commands run once.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import yaml

import netsim
import netsim.analysis.trace  # imports pandas, which is then not part of the first timed trace
from netsim.topology import parse_spec

T = TypeVar("T")

VARIANTS: dict[str, dict[str, object]] = {  # the networks: block; containers join all of them
    "default": {},
    "user": {"front": {"host": "node1", "subnet": "10.0.0.0/16"}},
    "icc": {"front": {"host": "node1", "subnet": "10.0.0.0/16", "icc": False}},
}
TITLES = {"default": "default bridge docker0", "user": "user-defined bridge (embedded DNS)",
          "icc": "user-defined bridge with icc: false"}


def generated_topology(variant: str, containers: int) -> dict[str, object]:
    nets = VARIANTS[variant]
    spec: dict[str, object] = {"networks": list(nets)} if nets else {}
    return {"name": f"build-{variant}-{containers}", "seed": 1, "hosts": {"node1": {}}, "networks": nets,
            "containers": {f"c{i}": dict(spec) for i in range(containers)}}


def timed(action: Callable[[], T], repeat: int = 1) -> tuple[float, T]:
    """The best of ``repeat`` runs in seconds, and what the last one returned."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(variant: str, containers: int, repeat: int, cli: bool) -> dict[str, float]:
    topology = generated_topology(variant, containers)
    spec = parse_spec(topology)
    gc.collect()  # the previous size's world is garbage in cycles: not this size's to collect
    row: dict[str, float] = {}
    row["build"], sim = timed(lambda: netsim.build(spec))
    last = f"c{containers - 1}"
    address = str(next(iter(sim.container(last).endpoints.values())).address)
    row["trace name"], _ = timed(lambda: sim.trace("c0", "c1"), repeat)
    row["trace addr"], _ = timed(lambda: sim.trace("c0", address), repeat)
    row["endpoint()"], _ = timed(lambda: sim.endpoint(last), repeat)
    if cli:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "topology.yaml"
            path.write_text(yaml.safe_dump(topology, sort_keys=False))
            for command in (["trace", str(path), "c0", "c1"], ["ping", str(path), "c0", "c1", "-c", "1"]):
                argv = [sys.executable, "-m", "netsim", *command]
                row[f"cli {command[0]}"], _ = timed(partial(subprocess.run, argv, capture_output=True))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2500, 5000, 10000, 20000])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--repeat", type=int, default=3, help="ask each question this many times, keep the best")
    parser.add_argument("--cli", action="store_true", help="also time `netsim trace` and `netsim ping` in subprocesses")
    args = parser.parse_args()

    for variant in args.variants:
        print(f"{variant}: {TITLES[variant]}")
        previous: dict[str, float] = {}
        header = ""
        for n in args.sizes:
            row = measure(variant, n, args.repeat, args.cli)
            if not header:
                header = f"{'containers':>10}" + "".join(f"  {name:>12} {'ratio':>5}" for name in row)
                print(header)
            cells = []
            for name, seconds in row.items():
                ratio = f"{seconds / previous[name]:5.2f}" if previous.get(name) else f"{'':5}"
                unit = f"{seconds:10.3f} s" if seconds >= 0.01 else f"{seconds * 1e3:9.3f} ms"
                cells.append(f"  {unit} {ratio}")
            print(f"{n:>10,}" + "".join(cells), flush=True)
            previous = row
        print()


if __name__ == "__main__":
    main()
