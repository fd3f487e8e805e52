"""Oracle: the simulator's datapath, rebuilt from real namespaces, must behave like the kernel.

For every bundled topology (its t=0 state: events are dropped), ``realize.py`` builds the
same namespaces, veths, bridges, addresses, routes, sysctls and iptables rulesets as the
simulation holds, then every (source namespace, destination address) of
``sim.reachability()`` is pinged for real.  A row agrees when the simulation's probe got an
echo reply at all (reachable, or OTHER_RESPONDER) exactly when the real ping succeeded; when
both got one, the namespace that answered (known in the kernel from the reply's TTL, see
``realize.py``) must be the one the simulation says.

Run with ``pytest -m kernel tests/kernel`` as root; skipped elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import pandas as pd
import pytest

import netsim
from netsim.simulation import Simulation
from netsim.datapath.netns import Namespace

from .realize import (KernelUnavailable, PingResult, Realized, check_kernel, listed_netns, parse_save,
                      realize, sim_routes)

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = sorted((ROOT / "topologies").glob("*.yaml"))
# Every topology with the engine its file names, plus the other engine profiles for two of them.
CASES = [(p, None) for p in TOPOLOGIES] + [
    (ROOT / "topologies" / name, engine) for name in ("isolation.yaml", "basic.yaml") for engine in ("27", "28", "29")
    if netsim.load_spec(ROOT / "topologies" / name).engine != engine
]


def _case_id(case: tuple[Path, Optional[str]]) -> str:
    path, engine = case
    return path.stem + (f"@{engine}" if engine else "")


def build_t0(path: Path, engine: Optional[str] = None) -> Simulation:
    """The topology's state at t=0: the spec without its timeline (and another engine if asked)."""
    spec = dataclasses.replace(netsim.load_spec(path), events=())
    if engine is not None:
        spec = dataclasses.replace(spec, engine=engine)
    return netsim.build(spec)


@dataclass
class Case:
    name: str
    sim: Simulation
    real: Realized
    table: pd.DataFrame
    pings: dict[tuple[str, str], PingResult]
    ping_seconds: float


@pytest.fixture(scope="session")
def kernel() -> None:
    try:
        check_kernel()
    except KernelUnavailable as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    mine = f"nsx{os.getpid() % 1000}x"
    left = [n for n in listed_netns() if n.startswith(mine)]
    assert not left, f"namespaces left behind: {left}"


@pytest.fixture(scope="module", params=CASES, ids=_case_id)
def case(request: pytest.FixtureRequest, kernel: None) -> Iterator[Case]:
    path, engine = request.param
    sim = build_t0(path, engine)
    table = sim.reachability()
    ns_of = {v.name: v.ns.name for v in sim.endpoints()}
    pairs = [(ns_of[row.src], row.addr) for row in table.itertuples()]
    try:
        with realize(sim) as real:
            start = time.monotonic()
            pings = real.ping_many(pairs)
            elapsed = time.monotonic() - start
            yield Case(_case_id(request.param), sim, real, table, pings, elapsed)
    except KernelUnavailable as err:
        pytest.skip(str(err))


# ---- the comparison ------------------------------------------------------------------------

def _sim_responder(sim: Simulation, row) -> Optional[str]:  # type: ignore[no-untyped-def]
    if row.disposition == "ACCEPTED":
        return sim.endpoint(row.dst).ns.name
    if row.disposition == "OTHER_RESPONDER" and row.detail.startswith("answered by "):
        who = row.detail[len("answered by "):]
        host, _, sandbox = who.partition("/")  # a sandbox of a host (ingress-sbox), labelled as realize does
        if not sandbox:
            return who
        return sandbox if sum(ns.name == sandbox for ns in sim.world.namespaces.values()) == 1 else f"{host}.{sandbox}"
    return None


def sim_got_reply(row) -> bool:  # type: ignore[no-untyped-def]
    """What a real ping can see of a row: an echo reply came back, from anyone."""
    return bool(row.reachable) or row.disposition == "OTHER_RESPONDER"


def compare(c: Case) -> tuple[list[str], list[str]]:
    """(reply disagreements, responder disagreements), one readable line per table row."""
    ns_of = {v.name: v.ns.name for v in c.sim.endpoints()}
    replies, responders = [], []
    for row in c.table.itertuples():
        src_ns = ns_of[row.src]
        got = c.pings[(src_ns, row.addr)]
        sim_reply = sim_got_reply(row)
        sim_side = row.disposition + (f" ({row.detail})" if row.detail else "")
        where = f"{row.src} [ns {src_ns}] -> {row.dst} {row.addr} ({row.network})"
        if sim_reply != got.ok:
            replies.append(f"{where}: sim {sim_side}; kernel {got.summary()}")
            continue
        if got.ok:
            want = _sim_responder(c.sim, row)
            seen = c.real.responder_of(got.ttl)
            if want is not None and seen is not None and want != seen:
                responders.append(f"{where}: sim answered by {want} ({row.disposition}); "
                                  f"kernel answered by {seen} (ttl={got.ttl})")
    return replies, responders


def test_iptables_restore_accepts_every_ruleset(case: Case) -> None:
    refused = {ns: err for ns, (ok, err) in case.real.restore.items() if not ok}
    assert not refused, "iptables-restore refused:\n" + "\n".join(
        f"{ns}: {err}\n{by_label(case)[ns].nf.save()}" for ns, err in refused.items())


def test_ipvs_rules_load_where_the_kernel_has_ipvs(case: Case) -> None:
    """A load-balancer sandbox's SNAT matches ``-m ipvs``: it loads only on a kernel with IPVS."""
    needing = {name: ns for name, ns in by_label(case).items() if "-m ipvs" in ns.nf.save()}
    if not needing:
        pytest.skip("no rule of this topology needs IPVS")
    if case.real.unloadable:
        pytest.skip("this kernel has no IPVS (xt_ipvs): left out of the real rulesets, "
                    f"{sum(len(v) for v in case.real.unloadable.values())} rules; the model rests on the sources")
    for name in needing:
        assert "-m ipvs --ipvs" in case.real.iptables_save(name), name


def by_label(case: Case) -> dict[str, Namespace]:
    """The simulation's namespaces by the label the real build gave each (HOST.NAME where names repeat)."""
    return {case.real.label(ns): ns for ns in case.sim.world.namespaces.values()}


def test_iptables_save_round_trips(case: Case) -> None:
    """What the kernel holds, printed back by iptables-save, is the simulation's ruleset."""
    problems = []
    for name, ns in by_label(case).items():
        if ns.nf.empty:
            continue
        left_out = set(case.real.unloadable.get(name, ()))
        want = parse_save("\n".join(line for line in ns.nf.save().splitlines() if line not in left_out))
        got = parse_save(case.real.iptables_save(name))
        for key in sorted(set(want) | set(got)):
            if want.get(key) != got.get(key):
                problems.append(f"{name} {key[0]}/{key[1]}:\n  sim:    {want.get(key)}\n  kernel: {got.get(key)}")
    assert not problems, "\n".join(problems)


def test_routes_match_kernel(case: Case) -> None:
    problems = []
    for name, ns in by_label(case).items():
        want, got = sim_routes(ns), case.real.kernel_routes(name)
        if want != got:
            problems.append(f"{name}: only in sim {sorted(want - got, key=str)}; "
                            f"only in kernel {sorted(got - want, key=str)}")
    assert not problems, "\n".join(problems)


def test_reachability_matches_kernel_ping(case: Case) -> None:
    replies, responders = compare(case)
    n_rows, n_pings = len(case.table), len(case.pings)
    print(f"\n{case.name}: {n_rows} rows, {n_pings} distinct pings in {case.ping_seconds:.1f}s; "
          f"{len(replies)} reply disagreements, {len(responders)} responder disagreements")
    for line in replies + responders:
        print("  " + line)
    assert not replies and not responders, (
        f"{case.name}: {len(replies)} of {n_rows} rows disagree on getting a reply, "
        f"{len(responders)} on who answered:\n" + "\n".join(replies + responders))


def _largest(fits: "Callable[[int], bool]", low: int = 0, high: int = 9000) -> int:
    """The largest payload in [low, high] for which ``fits`` holds (it holds for low, fails above the answer)."""
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low


def test_largest_df_payload_across_an_overlay_matches_kernel(case: Case) -> None:
    """B40, T3: for each overlay, the biggest ``ping -M do -s S`` that crosses hosts, sim and kernel."""
    checked = []
    members: dict[str, list] = {}  # swarm network -> its containers on every node
    for host in case.sim.hosts.values():
        for net in host.engine.networks if host.engine else ():
            if net.driver.SCOPE == "swarm":
                members.setdefault(net.name, []).extend(net.containers)
    for name, ctrs in sorted(members.items()):
        pair = next(((a, b) for a in ctrs for b in ctrs if a.host != b.host), None)
        if pair is None:
            continue
        src, dst = pair
        addr = str(dst.endpoints[name].address)
        shown = case.sim.display_name(src)
        if not case.sim.trace(shown, addr).reachable:
            continue
        sim_max = _largest(lambda s: case.sim.trace(shown, addr, size=s, df=True).reachable)
        real_max = _largest(lambda s: case.real.df_ping(src.ns.name, addr, s, wait=0.5))
        checked.append((name, src.host, dst.host, sim_max, real_max))
    if not checked:
        pytest.skip("no overlay with containers on two hosts")
    assert all(sim == real for *_, sim, real in checked), checked


def test_oracle_notices_a_broken_kernel_side(kernel: None) -> None:
    """The comparison is not vacuous: open up one host's firewall for real and it must object.

    In basic.yaml (engine 29) node1's raw PREROUTING and filter DOCKER chains stop its
    containers on one bridge from reaching those on the other; with raw and filter flushed
    (FORWARD policy ACCEPT) in the kernel only, exactly those DIRECT_ACCESS_DENIED rows must
    turn into disagreements.
    """
    sim = build_t0(ROOT / "topologies" / "basic.yaml", "29")
    table = sim.reachability()
    views = {v.name: v for v in sim.endpoints()}
    on_node1 = {v.name for v in views.values() if v.kind == "container" and v.host == "node1"}
    expected = {(r.src, r.dst, r.addr) for r in table.itertuples()
                if r.disposition == "DIRECT_ACCESS_DENIED" and r.src in on_node1}
    assert expected, "basic.yaml no longer has direct-access drops on node1: pick another mutation"
    with realize(sim) as real:
        from .realize import run
        for cmd in (["-t", "raw", "-F"], ["-F"], ["-P", "FORWARD", "ACCEPT"]):
            run(["ip", "netns", "exec", real.netns["node1"], "iptables"] + cmd)
        pings = real.ping_many([(views[r.src].ns.name, r.addr) for r in table.itertuples()])
        replies, responders = compare(Case("basic, node1 firewall open", sim, real, table, pings, 0.0))
    flipped = {(r.src, r.dst, r.addr) for r in table.itertuples()
               if sim_got_reply(r) != pings[(views[r.src].ns.name, r.addr)].ok}
    assert not responders, responders
    assert flipped == expected, "\n".join(replies)


def _macvlan_variant(name: str) -> Simulation:
    spec = dataclasses.replace(netsim.load_spec(ROOT / "topologies" / "macvlan.yaml"), events=())
    if name == "mac-filtering":
        spec = dataclasses.replace(spec, underlay=dataclasses.replace(spec.underlay, mac_filtering=True))
    elif name == "no-relay":
        spec = dataclasses.replace(spec, hosts=tuple(dataclasses.replace(h, link_hairpin=False) for h in spec.hosts))
    elif name == "relay-everywhere":
        spec = dataclasses.replace(spec, hosts=tuple(dataclasses.replace(h, link_hairpin=True) for h in spec.hosts))
    elif name == "node1-not-promiscuous":
        spec = dataclasses.replace(spec, hosts=tuple(dataclasses.replace(h, link_promiscuous=h.name != "node1")
                                                     for h in spec.hosts))
    return netsim.build(spec)


@pytest.mark.parametrize("variant", ["mac-filtering", "no-relay", "relay-everywhere", "node1-not-promiscuous"])
def test_macvlan_underlay_variants_match_kernel(kernel: None, variant: str) -> None:
    """B61, B63 and the modes against a switch that filters MACs (ebtables), never reflects,
    always reflects (bridge port hairpin), or has a port that is not promiscuous: every row as
    the kernel has it."""
    sim = _macvlan_variant(variant)
    table = sim.reachability()
    ns_of = {v.name: v.ns.name for v in sim.endpoints()}
    with realize(sim) as real:
        pings = real.ping_many([(ns_of[row.src], row.addr) for row in table.itertuples()])
        replies, responders = compare(Case(f"macvlan {variant}", sim, real, table, pings, 0.0))
    assert table.reachable.any() and not table.reachable.all(), "the variant separates something"
    assert not replies and not responders, "\n".join(replies + responders)
