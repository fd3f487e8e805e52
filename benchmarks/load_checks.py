"""Benchmark: what checking a topology costs at load, side by side in one run.

    python benchmarks/load_checks.py               # 100 hosts x 20 containers
    python benchmarks/load_checks.py --hosts 20    # smaller

Loads the generated fleet of ``reachability_scale.py`` three ways: the loader alone (every key
checked), the loader and the build, and the same with one ``connect`` event, whose timeline
netsim plays on a twin simulation at load so that a Docker error at its instant is reported
then.  Prints the best of ``--repeat`` runs of each and the ratio of the last two, which is the
price of finding timeline errors at load.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import netsim
from netsim.topology import parse_spec

from reachability_scale import generated_topology


def best(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    plain = generated_topology(args.hosts, args.containers)
    timed = dict(plain, events=[{"at": "1s", "connect": {"container": "h000-c00", "network": "h000-n0"}}])
    parse = best(args.repeat, lambda: parse_spec(plain))
    spec, spec_events = parse_spec(plain), parse_spec(timed)
    build = best(args.repeat, lambda: netsim.build(spec))
    build_events = best(args.repeat, lambda: netsim.build(spec_events))
    print(f"topology            {len(spec.hosts)} hosts, {len(spec.containers)} containers")
    print(f"check the file      {parse:8.3f} s")
    print(f"build               {build:8.3f} s")
    print(f"build + timeline    {build_events:8.3f} s  (x{build_events / build:.2f}: the twin walked to the last event)")


if __name__ == "__main__":
    main()
