"""Every bundled topology against its stored reachability matrices (who reaches whom, and why not).

Golden files are named after their parameters (topology, seed) and hold only the contract
columns; refresh them with ``pytest tests/test_golden.py --update-golden`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import netsim
from netsim.analysis.golden import assert_reachability_matches

from .conftest import GOLDEN, TOPOLOGIES

ADDRESS_KEY = ["src", "dst", "addr", "network", "reachable", "disposition"]
NAME_KEY = ["src", "name", "dst", "addr", "network", "reachable", "disposition"]
PORT_KEY = ["src", "dst", "addr", "network", "proto", "port", "reachable", "disposition", "responder"]


def _check(actual: pd.DataFrame, path: Path, columns: list[str], update: bool) -> None:
    table = actual[columns]
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
        return
    assert path.exists(), f"no golden file {path}: run pytest --update-golden and review it"
    assert_reachability_matches(table, path)


def _check_text(table: pd.DataFrame, path: Path, update: bool) -> None:
    """The whole table as CSV text, times in microseconds' precision, byte for byte."""
    text = table.to_csv(index=False, float_format="%.6f", lineterminator="\n")
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"no golden file {path}: run pytest --update-golden and review it"
    assert text == path.read_text(), f"{path.parent.name}: the table differs from {path}"


@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda p: p.stem)
def test_reachability_matches_golden(topology: Path, update_golden: bool) -> None:
    sim = netsim.load(topology)
    golden = GOLDEN / topology.stem / f"seed={sim.seed}.reachability.csv"
    _check(sim.reachability(), golden, ADDRESS_KEY, update_golden)


@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda p: p.stem)
def test_reachability_by_name_matches_golden(topology: Path, update_golden: bool) -> None:
    sim = netsim.load(topology)
    golden = GOLDEN / topology.stem / f"seed={sim.seed}.by_name.csv"
    _check(sim.reachability_by_name(), golden, NAME_KEY, update_golden)


@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda p: p.stem)
def test_ports_match_golden(topology: Path, update_golden: bool) -> None:
    sim = netsim.load(topology)
    golden = GOLDEN / topology.stem / f"seed={sim.seed}.ports.csv"
    _check(sim.ports(), golden, PORT_KEY, update_golden)


@pytest.mark.parametrize("topology", [t for t in TOPOLOGIES if t.stem == "timeline"], ids=lambda p: p.stem)
@pytest.mark.parametrize("at", [1.0, 2.0, 3.0, 4.0])
def test_timeline_instants_match_golden(topology: Path, at: float, update_golden: bool) -> None:
    sim = netsim.load(topology)
    golden = GOLDEN / topology.stem / f"seed={sim.seed},at={at:g}s.reachability.csv"
    _check(sim.reachability(at=at), golden, ADDRESS_KEY, update_golden)


SWARM_WITH_EVENTS = [t for t in TOPOLOGIES if (spec := netsim.load_spec(t)).events and any(h.swarm for h in spec.hosts)]
CHANGE_KEY = ["time", "src", "dst", "addr", "name", "network", "old", "new"]


@pytest.mark.parametrize("topology", SWARM_WITH_EVENTS, ids=lambda p: p.stem)
def test_reachability_changes_match_golden(topology: Path, update_golden: bool) -> None:
    # What moves over the timeline, and when: detection times are part of the contract (B56),
    # so a change to the gossip model shows up here as a reviewable diff of times.
    from netsim.analysis.results import WATCH_AFTER_LAST_EVENT

    spec = netsim.load_spec(topology)
    sim = netsim.build(spec)
    changes = sim.reachability_changes(max(e.at for e in spec.events) + WATCH_AFTER_LAST_EVENT)
    _check_text(changes[CHANGE_KEY], GOLDEN / topology.stem / f"seed={sim.seed}.changes.csv", update_golden)


WITH_TRAFFIC = [t for t in TOPOLOGIES if netsim.load_spec(t).traffic]


@pytest.mark.parametrize("topology", WITH_TRAFFIC, ids=lambda p: p.stem)
def test_flows_match_golden(topology: Path, update_golden: bool) -> None:
    # What the flows saw in simulated time (delays, losses and why, TCP's outcome): a change to
    # the costs, the queues or the TCP model shows up here as a reviewable diff.
    sim = netsim.load(topology)
    sim.run(sim.traffic_end())
    _check_text(sim.flows(), GOLDEN / topology.stem / f"seed={sim.seed}.flows.csv", update_golden)


@pytest.mark.parametrize("topology", WITH_TRAFFIC, ids=lambda p: p.stem)
def test_vectorized_flows_match_the_same_golden(topology: Path) -> None:
    # mode: vectorized moves steady flows by windows; the flow table is the event core's.
    sim = netsim.load(topology)
    sim.mode = "vectorized"
    sim.run(sim.traffic_end())
    _check_text(sim.flows(), GOLDEN / topology.stem / f"seed={sim.seed}.flows.csv", update=False)
