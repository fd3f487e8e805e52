"""Traffic flows in simulated time (``traffic:``): what a ping flow sends and what it records."""

from __future__ import annotations

from typing import Any

import yaml

import netsim
from netsim.simulation import build
from netsim.topology import parse_spec
from netsim.traffic.ping import PingFlow

from .conftest import ROOT

BASIC = yaml.safe_load((ROOT / "topologies" / "basic.yaml").read_text())


def _sim(*flows: dict[str, Any]) -> netsim.Simulation:
    return build(parse_spec({**BASIC, "traffic": list(flows)}))


def test_echoes_leave_on_schedule_and_each_is_answered_or_lost() -> None:
    sim = _sim({"ping": {"from": "web", "to": "api", "count": 4, "interval": "250ms", "start": "1s"}},
               {"ping": {"from": "web", "to": "nosuch", "count": 2}})
    sim.run(sim.traffic_end())
    pings = sim.pings()
    api = pings[pings.flow == "traffic[0].ping"]
    assert list(api.seq) == [1, 2, 3, 4] and list(api.sent) == [1.0, 1.25, 1.5, 1.75]
    assert api.reachable.all() and (api.responder == "api").all() and (api.addr == str(
        sim.container("api").endpoints["front"].address)).all(), "by name, through the embedded DNS"
    unknown = pings[pings.flow == "traffic[1].ping"]
    assert list(unknown.disposition) == ["NAME_UNRESOLVED"] * 2 and unknown.addr.isna().all()


def test_a_df_echo_that_does_not_fit_fails_at_the_sender_and_a_cross_host_one_takes_time() -> None:
    sim = _sim({"ping": {"from": "web", "to": "node2", "size": 1473, "df": True}},
               {"ping": {"from": "legacy", "to": "node2", "size": 1472, "df": True}})
    sim.run(sim.traffic_end())
    too_big, fits = sim.pings().itertuples()
    assert too_big.disposition == "MESSAGE_TOO_LONG" and "mtu=1500" in too_big.detail
    assert fits.reachable and fits.rtt_us > 0


def test_flows_from_python_run_with_the_clock_and_are_deterministic() -> None:
    def run() -> Any:
        sim = netsim.load(ROOT / "topologies" / "basic.yaml")
        sim.add_traffic(PingFlow("mine", "web", "db", count=3, interval=0.5))
        sim.run(5.0)
        return sim.pings()
    first = run()
    assert len(first) == 3 and first.equals(run())
