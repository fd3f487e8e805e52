"""Packet trains: the vectorized mode gives the event core's per-packet times to the nanosecond."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.datapath.trains import Train, run_trains
from netsim.errors import NetsimError


@dataclass
class Spec:
    bandwidth: float
    latency: float


def test_a_busy_link_delays_the_next_packet_by_its_wire_time() -> None:
    # 976 bytes + 24 of overhead at 1 Gbit/s: 8 us on the wire; sent 4 us apart, they queue.
    links = [Spec(1e9, 10e-6), Spec(1e9, 10e-6)]
    train = Train(np.array([0.0, 4e-6, 40e-6]), np.full(3, 976), (0, 1), (1e-6,))
    for mode in ("event", "vectorized"):
        arrivals = run_trains(links, [train], mode)[0]
        # packet 0: 8 + 10 + 1, then 8 + 10; packet 1 waits until 8 at the first link and until 27
        # at the second; packet 2 finds both idle.
        assert np.allclose(arrivals * 1e6, [37.0, 45.0, 77.0], rtol=0, atol=1e-9), mode


def test_trains_merge_at_a_shared_link_in_time_order() -> None:
    links = [Spec(1e9, 0.0), Spec(1e9, 0.0), Spec(1e9, 0.0)]
    a = Train(np.array([0.0]), np.full(1, 976), (0, 2))
    b = Train(np.array([1e-6]), np.full(1, 976), (1, 2))  # arrives at link 2 1 us after a: waits 7 us
    for mode in ("event", "vectorized"):
        first, second = run_trains(links, [a, b], mode)
        assert first[0] == pytest.approx(16e-6, abs=1e-15) and second[0] == pytest.approx(24e-6, abs=1e-15)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), trains=st.integers(1, 5), links=st.integers(1, 5))
def test_vectorized_equals_the_event_core_on_random_trains(seed: int, trains: int, links: int) -> None:
    rng = np.random.default_rng(seed)
    specs = [Spec(float(rng.choice([1e8, 1e9, 1e10])), float(rng.uniform(0, 50e-6))) for _ in range(links)]
    built = []
    for _ in range(trains):
        # a path in increasing link order, so the trains' paths never feed each other in a loop
        path = tuple(sorted(rng.choice(links, size=int(rng.integers(1, links + 1)), replace=False).tolist()))
        count = int(rng.integers(1, 200))
        send = np.sort(rng.uniform(0, 1e-3, count))
        built.append(Train(send, rng.integers(42, 1515, count), path,
                           tuple(float(x) for x in rng.uniform(0, 5e-6, len(path)))))
    events = run_trains(specs, built, "event")
    vectors = run_trains(specs, built, "vectorized")
    for e, v in zip(events, vectors):
        assert np.max(np.abs(e - v)) < 1e-12  # a thousandth of a nanosecond


def test_paths_that_feed_each_other_are_refused() -> None:
    links = [Spec(1e9, 0.0), Spec(1e9, 0.0)]
    loop = [Train(np.zeros(1), np.full(1, 100), (0, 1)), Train(np.zeros(1), np.full(1, 100), (1, 0))]
    with pytest.raises(NetsimError, match="loop"):
        run_trains(links, loop)
    with pytest.raises(NetsimError, match="at least 42 bytes"):
        run_trains(links, [Train(np.zeros(1), np.full(1, 20), (0,))])
    with pytest.raises(NetsimError, match="unknown mode"):
        run_trains(links, [], "fast")
