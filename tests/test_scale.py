"""Building and asking grow linearly with the containers of a host, and the indexes behind that agree.

Nothing here is timed.  The work of a call is counted as the lines of netsim code it executes
(``sys.settrace``): a deterministic count, the same on any machine, in which a scan over every
container per container shows up as a ratio near 4 when the containers double, against 2 for
linear work and 1 for a lookup.  The second half checks the data structures that made it so
(IPAM's free-address heap, the embedded DNS's name table, endpoint views) against the plain
scans they replaced, through connects, disconnects and removals at run time.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from functools import partial
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from types import FrameType
from typing import Any, Optional

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import netsim
from netsim.cli import _check_names
from netsim.datapath.netfilter import Netfilter
from netsim.engine import dns
from netsim.engine.ipam import AddressPool
from netsim.errors import DockerError
from netsim.topology import parse_spec

PACKAGE = str(Path(netsim.__file__).resolve().parent)
N = 200  # containers; each test compares N with 2N

NETWORKS: dict[str, dict[str, object]] = {
    "default": {},
    "user": {"front": {"host": "node1", "subnet": "10.0.0.0/16"}},
    "icc": {"front": {"host": "node1", "subnet": "10.0.0.0/16", "icc": False}},
}


def work(action: Callable[[], object]) -> int:
    """Lines of netsim code that ``action()`` executes."""
    count = 0

    def lines(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return lines

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return lines if frame.f_code.co_filename.startswith(PACKAGE) else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        action()
    finally:
        sys.settrace(previous)
    return count


def one_host(variant: str, containers: int, engine: str = "29") -> netsim.Simulation:
    nets = NETWORKS[variant]
    attach: dict[str, object] = {"networks": list(nets)} if nets else {}
    return netsim.build(parse_spec({"name": variant, "engine": engine, "hosts": {"node1": {}}, "networks": nets,
                                    "containers": {f"c{i}": dict(attach) for i in range(containers)}}))


def last_address(sim: netsim.Simulation, name: str) -> str:
    return str(next(iter(sim.container(name).endpoints.values())).address)


QUESTIONS: dict[str, tuple[float, Callable[[netsim.Simulation, str], object]]] = {
    # name: (largest allowed work(2N) / work(N), the question asked of N containers)
    "endpoint": (1.2, lambda sim, last: sim.endpoint(last)),
    "container": (1.2, lambda sim, last: sim.container(last)),
    "resolve": (1.2, lambda sim, last: dns.resolve(sim.container("c0"), last)),
    # One probe floods one ARP request over every bridge port: linear, as in the kernel.
    "trace by name": (2.2, lambda sim, last: sim.trace("c0", last)),
    "trace by address": (2.2, lambda sim, last: sim.trace("c0", last_address(sim, last))),
    "ping": (2.2, lambda sim, last: sim.ping("c0", last)),
    "cli names": (2.2, lambda sim, last: _check_names(sim, "c0", last)),
}


@pytest.mark.parametrize("variant", sorted(NETWORKS))
def test_build_work_is_linear(variant: str) -> None:
    small, large = (work(partial(one_host, variant, n)) for n in (N, 2 * N))
    assert large / small < 2.1, f"building {2 * N} containers costs {large / small:.2f}x {N}"


def test_removing_rules_leaves_other_chains_alone() -> None:
    """The engine removes a container's port rules (often none) each time it picks its gateway."""
    def removal(other_rules: int) -> int:
        nf = Netfilter()
        for i in range(other_rules):
            nf.append("raw", f"-A PREROUTING -d 10.0.{i // 256}.{i % 256}/32 ! -i docker0 -j DROP")
        rule = nf.append("filter", "-A FORWARD -j ACCEPT")
        return work(lambda: (nf.remove([]), nf.remove([("filter", rule)])))

    assert removal(2 * N) == removal(N)


@pytest.mark.parametrize("variant", sorted(NETWORKS))
def test_questions_cost_a_lookup_or_one_pass(variant: str) -> None:
    # Engine 27: from 28 on every container's unsolicited ARPs flood its bridge when it starts
    # (N x N deliveries in simulated time), which the first ping would run before its own work.
    sims = {n: one_host(variant, n, "27") for n in (N, 2 * N)}
    offenders = []
    for question, (bound, ask) in QUESTIONS.items():
        small, large = (work(partial(ask, sim, f"c{n - 1}")) for n, sim in sims.items())
        if large / small >= bound:
            offenders.append(f"{question} with {2 * N} containers costs {large / small:.2f}x {N} (bound {bound})")
    assert not offenders, "\n".join(offenders)


# ---- IPAM: the free-address heap hands out what a scan from the pool start would ---------------

class ScanPool:
    """First-fit by scanning from the start of the range: what AddressPool must agree with."""

    def __init__(self, subnet: IPv4Network, ip_range: Optional[IPv4Network], gateway: IPv4Address) -> None:
        rng = ip_range or subnet
        self.subnet, self.first, self.last = subnet, int(rng.network_address), int(rng.broadcast_address)
        self.used = {int(gateway)}
        self.reserved = {int(subnet.network_address), int(subnet.broadcast_address)}

    def allocate(self, wanted: Optional[IPv4Address] = None) -> IPv4Address:
        if wanted is not None:
            if wanted not in self.subnet or int(wanted) in self.used | self.reserved:
                raise DockerError("refused")
            self.used.add(int(wanted))
            return wanted
        for value in range(self.first, self.last + 1):
            if value not in self.used | self.reserved:
                self.used.add(value)
                return IPv4Address(value)
        raise DockerError("exhausted")

    def release(self, address: IPv4Address) -> None:
        self.used.discard(int(address))


_OPS = st.lists(st.one_of(st.just(("allocate", 0)), st.tuples(st.just("wanted"), st.integers(0, 40)),
                          st.tuples(st.just("release"), st.integers(0, 40))), max_size=120)


@given(ops=_OPS, narrow=st.booleans(), gateway_offset=st.sampled_from([1, 9, 0]))
# Released below the scan mark, taken again by address, then skipped on the heap:
@example(ops=[("allocate", 0)] * 3 + [("release", 2), ("wanted", 2), ("allocate", 0)], narrow=False,
         gateway_offset=1)
# Taken by address below the narrow range, released: never handed out by first-fit.
@example(ops=[("allocate", 0), ("wanted", 3), ("release", 3), ("allocate", 0)], narrow=True,
         gateway_offset=1)
# A gateway on the network address, released: still reserved.
@example(ops=[("allocate", 0), ("release", 0), ("allocate", 0)], narrow=False, gateway_offset=0)
def test_ipam_hands_out_what_a_scan_would(ops: list[tuple[str, int]], narrow: bool, gateway_offset: int) -> None:
    subnet = IPv4Network("10.9.0.0/27")  # 32 addresses: the ops reach exhaustion and go past it
    ip_range = IPv4Network("10.9.0.8/29") if narrow else None  # wanted may lie outside the range
    gateway = subnet.network_address + gateway_offset  # a gateway may even be the network address
    pool, scan = AddressPool(subnet, ip_range, gateway), ScanPool(subnet, ip_range, gateway)
    for op, offset in ops:
        address = subnet.network_address + offset
        if op == "release":
            pool.release(address)
            scan.release(address)
            continue
        wanted = address if op == "wanted" else None
        try:
            expected: object = scan.allocate(wanted)
        except DockerError:
            expected = DockerError
        try:
            got: object = pool.allocate(wanted)
        except DockerError:
            got = DockerError
        assert got == expected, (op, offset)
    assert pool.in_use == len(scan.used) - 1


# ---- DNS names and endpoint views stay in step with connect, disconnect and remove ----------

def _scan_resolve(ctr: Any, wanted: str) -> Optional[tuple[tuple[IPv4Address, ...], tuple[str, ...], str]]:
    """The embedded DNS's answer found by scanning every endpoint of the asker's networks."""
    for ep in ctr.endpoints.values():
        if ep.network.user_defined:
            hits = [o for o in ep.network.endpoints.values() if wanted.lower() in dns._names(o)]
            if hits:
                return tuple(h.address for h in hits), tuple(h.container.name for h in hits), ep.network.name
    return None


def _scan_addresses(sim: netsim.Simulation, ns: Any, host: Any) -> tuple[tuple[IPv4Address, str], ...]:
    """A namespace's addresses with the network owning each, found by scanning every endpoint."""
    by_device = {"eth0": "underlay"} if ns is host.ns else {}
    for net in host.engine.networks:
        if ns is host.ns and net.host_interface is not None:
            by_device[net.host_interface.name] = net.name
        for ep in net.endpoints.values():
            if ep.container.ns is ns and ep.interface is not None:
                by_device[ep.interface.name] = net.name
    return tuple((IPv4Address(a.addr), by_device.get(a.dev.name, a.dev.name))
                 for a in ns.addresses if a.addr >> 24 != 127)


@pytest.mark.parametrize("seed", range(2))
def test_indexes_follow_run_time_changes(seed: int) -> None:
    rng = random.Random(seed)
    sim = netsim.Simulation("churn", seed=seed)
    host = sim.add_host("node1")
    nets = [host.networks.create(name) for name in ("front", "back")] + [host.networks.get("bridge")]
    aliases = ["web", "db", "api", "Web"]  # shared across containers and networks, case folded
    serial = 0
    for _ in range(100):
        live = [c for c in host.containers if c.owns_namespace]
        roll = rng.random()
        if roll < 0.35 or not live:
            serial += 1
            net = rng.choice(nets[:2])
            host.containers.run(f"c{serial}", hostname=rng.choice([None, "box"]),
                                networks={net.name: {"aliases": rng.sample(aliases, rng.randint(0, 2))}})
        elif roll < 0.45:
            serial += 1
            host.containers.run(f"c{serial}", network_mode=f"container:{rng.choice(live).name}")
        elif roll < 0.65:
            ctr, net = rng.choice(live), rng.choice(nets)
            if net.name not in ctr.endpoints:
                user = net.user_defined
                net.connect(ctr, aliases=rng.sample(aliases, rng.randint(0, 2)) if user else ())
        elif roll < 0.85:
            ctr = rng.choice(live)
            if ctr.endpoints:
                nets_of = [n for n in nets if n.name in ctr.endpoints]
                rng.choice(nets_of).disconnect(ctr)
        else:
            ctr = rng.choice(list(host.containers))
            if not any(c.network_mode == f"container:{ctr.name}" for c in host.containers):
                ctr.remove()
        containers = list(host.containers)
        names = {n for c in containers for ep in c.endpoints.values() for n in dns._names(ep)} | {"nobody"}
        # One asker per network it is on first: every network's table is consulted.
        askers = {next(iter(c.endpoints)): c for c in containers if c.endpoints}
        for ctr in askers.values():
            for name in sorted(names):
                answer = dns.resolve(ctr, name)
                got = None if answer is None else (answer.addresses, answer.owners, answer.network)
                assert got == _scan_resolve(ctr, name), name
        views = sim.endpoints()
        assert [v.name for v in views] == ["node1"] + [c.name for c in containers]
        for view in views:
            assert view.addresses == _scan_addresses(sim, view.ns, host), view.name
            assert sim.endpoint(view.name) == view
