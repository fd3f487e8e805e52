"""FIFO transmitters in closed form, for numpy: what the vectorized paths (``trains``,
``vectorized``) share.

A link is a FIFO with store-and-forward transmission: departure_i = max(arrival_i,
departure_i-1) + wire_i.  Lindley's recursion has a closed form that numpy evaluates over a
whole train in a few passes: with S the running sum of the wire times, departure_i = S_i + max
over j <= i of (arrival_j - S_j-1), and the time the transmitter was already busy until.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from ..errors import NetsimError

__all__ = ["feed_order", "serve", "serve_exact"]

Floats = npt.NDArray[np.float64]


def serve(arrival: Floats, wire: Floats, busy: float = -np.inf) -> Floats:
    """A FIFO transmitter's departures for frames in the order it serves them (arrival sorted):
    Lindley's recursion in closed form, from a transmitter busy until ``busy``."""
    total = np.cumsum(wire)
    return total + np.maximum(np.maximum.accumulate(arrival - (total - wire)), busy)


def serve_exact(arrival: Floats, wire: Floats, busy: float = -np.inf) -> Floats:
    """``serve`` as the event core's ``Link.carry`` computes it, frame after frame: the same
    float operations in the same order, so the departures are the event core's to the bit (the
    closed form's rounding differs by an ulp now and then: enough to move a pcap timestamp across
    half a nanosecond).  A loop, but of two operations a frame."""
    out: list[float] = []
    append = out.append
    for a, s in zip(arrival.tolist(), wire.tolist()):
        busy = (a if a > busy else busy) + s
        append(busy)
    return np.array(out, dtype=np.float64)


def feed_order(count: int, paths: Iterable[Sequence[int]]) -> list[int]:
    """The links in an order where each comes after every link that feeds it (Kahn's)."""
    feeds: dict[int, set[int]] = {n: set() for n in range(count)}
    waiting = [0] * count
    for path in paths:
        for a, b in zip(path, path[1:]):
            if b not in feeds[a]:
                feeds[a].add(b)
                waiting[b] += 1
    ready = [n for n in range(count) if waiting[n] == 0]
    order: list[int] = []
    while ready:
        link = ready.pop(0)
        order.append(link)
        for nxt in sorted(feeds[link]):
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                ready.append(nxt)
    if len(order) < count:
        raise NetsimError("the trains' paths feed each other in a loop; run them on the event core")
    return order
