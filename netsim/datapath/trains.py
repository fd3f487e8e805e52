"""Packet trains through FIFO links: by the event core, or all at once with numpy (vectorized).

A link on the simulation's clock is a FIFO with store-and-forward transmission (``Link.transmit``):
departure_i = max(arrival_i, departure_i-1) + wire_i, then the propagation latency.  Lindley's
recursion has a closed form that numpy evaluates over a whole train in a few passes: with S the
running sum of the wire times, departure_i = S_i + max over j <= i of (arrival_j - S_j-1).  So a
steady flow whose path is known (the links it crosses, and the fixed device costs between them)
needs no event per packet and per hop: each link is solved once for every packet that crosses
it, in an order where every link comes after the links that feed it.

Trains that share a link merge there in time order, as the event core's heap serves them.
Packets reaching one link at the same instant go in the order the trains are given, then by
sequence; the event core serves such a tie in the order its events were scheduled, so the two
modes agree to the nanosecond except on exact ties between trains (measure zero for times that
are not all on one grid).  A link starts idle.
What the vectorized mode leaves to the event core: queues that overflow, loss, and anything else
on the links (the swarm's own gossip): use it for steady flows on an otherwise quiet path.
``mode="event"`` runs the same trains through the event core's own ``Link`` objects, one frame
and one event per hop, which is what the vectorized mode is held to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np
import numpy.typing as npt

from ..errors import NetsimError
from .lindley import feed_order, serve
from .vectorized import MODES
from .link import MIN_FRAME, WIRE_OVERHEAD, Link
from .scheduler import Environment, SimpyScheduler, young_collections_rarer
from .skb import Skb, datagram
from .world import World

__all__ = ["MODES", "Train", "run_trains", "wire_times"]

_HEADERS = 14 + 20 + 8  # the smallest frame a train may carry: Ethernet, IPv4, UDP

Floats = npt.NDArray[np.float64]


class TimedLink(Protocol):
    """What the mode needs of a link: the event core's ``Link`` has both."""

    bandwidth: float  # bits per second
    latency: float  # seconds, one way


@dataclass(frozen=True)
class Train:
    """The packets of one flow: when each enters its first link, its frame's length (Ethernet
    header on, no FCS, as ``Ether.length``), the links it crosses in order (indices into the
    links given to ``run_trains``), and the fixed delay after each link before the next (device
    costs; the last one is the delay to the receiver)."""

    send: Floats
    frame_bytes: npt.NDArray[np.int64]
    path: tuple[int, ...]
    after: tuple[float, ...] = field(default=())

    def delay_after(self, hop: int) -> float:
        return self.after[hop] if hop < len(self.after) else 0.0


def wire_times(frame_bytes: npt.NDArray[np.int64], bandwidth: float) -> Floats:
    """Serialisation on the wire, as ``Link.wire_time``: the 60-byte minimum and Ethernet's overhead."""
    return (np.maximum(frame_bytes, MIN_FRAME) + WIRE_OVERHEAD) * 8 / bandwidth


def run_trains(links: Sequence[TimedLink], trains: Sequence[Train], mode: str = "vectorized") -> list[Floats]:
    """Each train's arrival times at the end of its path, packet by packet."""
    if mode not in MODES:
        raise NetsimError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    for n, train in enumerate(trains):
        if len(train.send) != len(train.frame_bytes):
            raise NetsimError(f"train {n}: {len(train.send)} send times but {len(train.frame_bytes)} frame lengths")
        if len(train.frame_bytes) and int(np.min(train.frame_bytes)) < _HEADERS:
            raise NetsimError(f"train {n}: a frame must be at least {_HEADERS} bytes (Ethernet, IPv4, UDP headers)")
        if not train.path or max(train.path) >= len(links) or min(train.path) < 0:
            raise NetsimError(f"train {n}: its path must name links 0 to {len(links) - 1}")
        if len(set(train.path)) != len(train.path):
            raise NetsimError(f"train {n} crosses a link twice; a loop is the event core's to run")
    if mode == "event":
        return _by_events(links, trains)
    at = [np.asarray(train.send, dtype=np.float64) for train in trains]  # arrival at each train's next link
    hop = [0] * len(trains)
    for link in feed_order(len(links), (train.path for train in trains)):
        users = [n for n, train in enumerate(trains) if link in train.path]
        if not users:
            continue
        arrival = np.concatenate([at[n] for n in users])
        wire = np.concatenate([wire_times(trains[n].frame_bytes, links[link].bandwidth) for n in users])
        train_of = np.concatenate([np.full(len(at[n]), n) for n in users])
        seq = np.concatenate([np.arange(len(at[n])) for n in users])
        order = np.lexsort((seq, train_of, arrival))
        served = np.empty_like(arrival)
        served[order] = serve(arrival[order], wire[order])
        start = 0
        for n in users:
            end = start + len(at[n])
            at[n] = served[start:end] + links[link].latency + trains[n].delay_after(hop[n])
            hop[n] += 1
            start = end
    return at


class _Tag:
    """Which train's packet a frame is and how far it got: its skb's observer, which hears of a drop."""

    __slots__ = ("train", "seq", "hop", "out")

    def __init__(self, train: int, seq: int, out: list[Floats]) -> None:
        self.train, self.seq, self.hop, self.out = train, seq, 0, out

    def dropped(self, skb: Skb, reason: object, detail: str) -> None:
        self.out[self.train][self.seq] = np.nan  # it never arrives


class _Port:
    """A link's end in the event mode: frames arriving here go on after the train's delay."""

    def __init__(self, name: str, arrived: "Callable[[Skb], None] | None" = None) -> None:
        self.name = self.node = name
        self.rx: Callable[[Skb], None] = arrived or (lambda skb: None)


def _by_events(links: Sequence[TimedLink], trains: Sequence[Train]) -> list[Floats]:
    """The same trains through the event core: real ``Link`` objects on the simulation's clock."""
    env = Environment()
    world = World()
    world.sched = sched = SimpyScheduler(env)
    out = [np.full(len(train.send), np.nan) for train in trains]
    senders = [_Port(f"l{n}.a") for n in range(len(links))]
    cables: list[Link] = []
    # Each train's path as its hops: the delay after a link, then the next link's transmit and
    # sender (None at the end), so a port's work per frame is two lookups.
    Hop = tuple[float, "tuple[Callable[..., None], _Port] | None"]
    paths: list[list[Hop]] = []
    def arrived(skb: Skb) -> None:
        tag: _Tag = skb.observer  # type: ignore[assignment]
        delay, nxt = paths[tag.train][tag.hop]
        if nxt is None:
            out[tag.train][tag.seq] = env._now + delay
            return
        tag.hop += 1
        transmit, sender = nxt
        if delay:
            sched.call_later(delay, transmit, sender, skb, sender.name)
        else:
            transmit(sender, skb, sender.name)

    for n, spec in enumerate(links):
        cables.append(Link(world, senders[n], _Port(f"l{n}.b", arrived), spec.latency, spec.bandwidth))
    for train in trains:
        paths.append([(train.delay_after(k), (cables[nxt].transmit, senders[nxt]) if nxt is not None else None)
                      for k, nxt in enumerate([*train.path[1:], None])])
    payloads: dict[int, bytes] = {}
    times = [train.send.tolist() for train in trains]  # Python floats and ints: numpy scalars are slow to index
    sizes = [train.frame_bytes.tolist() for train in trains]

    def send(n: int, seq: int) -> None:  # each train's next packet is scheduled as it sends one, as a source does
        size = sizes[n][seq] - _HEADERS
        data = payloads.get(size)
        if data is None:
            data = payloads[size] = bytes(size)
        skb = datagram(1, 2, n, seq & 0xFFFF, data, _Tag(n, seq, out))
        first = trains[n].path[0]
        cables[first].transmit(senders[first], skb, senders[first].name)
        if seq + 1 < len(times[n]):
            env.call_at(times[n][seq + 1], send, n, seq + 1)

    for n, train in enumerate(trains):
        if len(train.send):
            env.call_at(times[n][0], send, n, 0)
    with young_collections_rarer():
        env.run()
    return out
