"""Links in simulated time: FIFO store-and-forward transmission, drop-tail queues, seeded loss."""

from __future__ import annotations

from typing import Any

import pytest
import simpy

from netsim.datapath.drop import DropReason
from netsim.datapath.link import MIN_FRAME, WIRE_OVERHEAD, Link
from netsim.datapath.packet import UDP, Ether, IPv4
from netsim.datapath.scheduler import Environment, InstantScheduler, SimpyScheduler
from netsim.datapath.skb import Skb
from netsim.datapath.world import World


class End:
    def __init__(self, name: str, arrivals: list[tuple[float, int]], clock: Any) -> None:
        self.name, self.arrivals, self.clock = name, arrivals, clock

    @property
    def node(self) -> str:
        return self.name

    def rx(self, skb: Skb) -> None:
        self.arrivals.append((self.clock(), skb.frame.payload.payload.sport))


class Lost:
    def __init__(self) -> None:
        self.reasons: list[DropReason] = []

    def dropped(self, skb: Skb, reason: DropReason, detail: str) -> None:
        self.reasons.append(reason)


def _frame(seq: int, payload: int = 972) -> Ether:
    return Ether(2, 1, IPv4(1, 2, UDP(seq, 9, b"x" * payload)))  # 972 + 8 + 20 = a 1000-byte packet


def _setup(**attrs: Any) -> tuple[simpy.Environment, Link, End, list[tuple[float, int]]]:
    env = Environment()
    world = World()
    world.sched = SimpyScheduler(env)
    arrivals: list[tuple[float, int]] = []
    a, b = End("a", [], lambda: env.now), End("b", arrivals, lambda: env.now)
    link = Link(world, a, b, latency=10e-6, bandwidth=1e9)
    for key, value in attrs.items():
        setattr(link, key, value)
    return env, link, a, arrivals


def test_frames_sent_together_leave_one_after_another_then_propagate() -> None:
    env, link, a, arrivals = _setup()
    for seq in range(3):
        link.transmit(a, Skb(_frame(seq)), "a")
    env.run()
    wire = (1014 + WIRE_OVERHEAD) * 8 / 1e9  # Ether 14 + IP 1000, plus preamble, FCS and gap
    assert [seq for _, seq in arrivals] == [0, 1, 2], "FIFO"
    assert [round(t * 1e9, 3) for t, _ in arrivals] == [round((k * wire + wire + 10e-6) * 1e9, 3) for k in range(3)]
    assert round(arrivals[0][0] * 1e9, 3) == 18304.0, "1038 bytes at 1 Gbit/s = 8304 ns, + 10 us"


def test_a_frame_after_the_queue_drains_starts_at_once() -> None:
    env, link, a, arrivals = _setup()
    link.transmit(a, Skb(_frame(0)), "a")
    env.run(until=1e-3)
    link.transmit(a, Skb(_frame(1)), "a")
    env.run()
    assert round((arrivals[1][0] - 1e-3) * 1e9, 3) == 18304.0


def test_short_frames_are_padded_to_the_ethernet_minimum() -> None:
    env, link, a, arrivals = _setup()
    link.transmit(a, Skb(_frame(0, payload=1)), "a")
    env.run()
    assert round(arrivals[0][0] * 1e9, 3) == round(((MIN_FRAME + WIRE_OVERHEAD) * 8 / 1e9 + 10e-6) * 1e9, 3)


def test_drop_tail_keeps_one_on_the_wire_and_queue_waiting() -> None:
    env, link, a, arrivals = _setup(queue=2)
    lost = Lost()
    for seq in range(5):
        link.transmit(a, Skb(_frame(seq), lost), "a")
    env.run()
    assert [seq for _, seq in arrivals] == [0, 1, 2] and lost.reasons == [DropReason.QDISC_DROP] * 2


def test_a_queue_in_bytes_drops_the_frame_that_would_take_what_waits_past_it() -> None:
    # bfifo: 1000-byte frames (14 + 1000-byte IP packets = 1014) sent at once, a limit of 2100 bytes:
    # one on the wire, two waiting (2028), the fourth would make 3042
    env, link, a, arrivals = _setup(queue_bytes=2100)
    lost = Lost()
    for seq in range(5):
        link.transmit(a, Skb(_frame(seq), lost), "a")
    env.run()
    assert [seq for _, seq in arrivals] == [0, 1, 2] and lost.reasons == [DropReason.QDISC_DROP] * 2
    env.run(until=env.now + 1e-3)  # drained: room again
    link.transmit(a, Skb(_frame(9), lost), "a")
    env.run()
    assert arrivals[-1][1] == 9


def test_loss_is_drawn_from_the_link_s_seed() -> None:
    def run(seed: int) -> list[int]:
        env, link, a, arrivals = _setup(loss=0.2)
        link.rng.seed(seed)
        for seq in range(2000):
            if seq:
                env.run(until=seq * 1e-5)
            link.transmit(a, Skb(_frame(seq)), "a")
        env.run()
        return [seq for _, seq in arrivals]
    once, again, other = run(1), run(1), run(2)
    assert once == again and once != other
    assert 1500 < len(once) < 1700, "about 20% lost"


def test_an_instant_query_neither_queues_nor_loses() -> None:
    world = World()
    sched = InstantScheduler()
    world.sched = sched
    arrivals: list[tuple[float, int]] = []
    a, b = End("a", [], lambda: sched.now), End("b", arrivals, lambda: sched.now)
    link = Link(world, a, b, latency=10e-6, bandwidth=1e9)
    link.queue, link.loss = 1, 0.99
    for seq in range(3):
        link.transmit(a, Skb(_frame(seq)), "a")
    sched.run()
    assert len(arrivals) == 3 and len({t for t, _ in arrivals}) == 1, "each as if alone on the wire"


@pytest.mark.parametrize("bandwidth", [1e9, 10e9])
def test_the_underlay_keys_reach_the_links(bandwidth: float) -> None:
    from netsim.simulation import build
    from netsim.topology import parse_spec
    sim = build(parse_spec({"underlay": {"bandwidth": bandwidth, "queue": 7, "loss": 0.01},
                            "hosts": {"h1": {}, "h2": {"link": {"latency": "1ms", "queue": 3}}}}))
    l1, l2 = sim.host("h1").eth0.link, sim.host("h2").eth0.link
    assert (l1.bandwidth, l1.queue, l1.loss) == (bandwidth, 7, 0.01)
    assert (l2.latency, l2.queue, l2.bandwidth) == (1e-3, 3, bandwidth)
    sim = build(parse_spec({"underlay": {"queue": "64KB"}, "hosts": {"h1": {}, "h2": {"link": {"queue": "1MiB"}},
                                                                     "h3": {"link": {"queue": 5}}}}))
    l1, l2, l3 = (sim.host(h).eth0.link for h in ("h1", "h2", "h3"))
    assert (l1.queue, l1.queue_bytes) == (None, 64_000) and (l2.queue, l2.queue_bytes) == (None, 2**20)
    assert (l3.queue, l3.queue_bytes) == (5, None), "a host's own limit replaces the underlay's"
