"""The reachability table as a data contract: columns, row order, determinism, workers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import netsim
from netsim.analysis.reachability import COLUMNS

from .conftest import TOPOLOGIES

BASIC = next(t for t in TOPOLOGIES if t.stem == "basic")


def test_columns_and_one_row_per_source_destination_address() -> None:
    sim = netsim.load(BASIC)
    df = sim.reachability()
    assert list(df.columns) == COLUMNS
    views = sim.endpoints()
    expected = sum(len(d.addresses) for s in views for d in views if d.name != s.name)
    assert len(df) == expected
    assert not df.duplicated(["src", "dst", "addr"]).any()
    assert list(df.src.unique()) == [v.name for v in views], "sources in endpoint order"
    assert set(df[df.reachable].disposition) == {"ACCEPTED"}
    assert (df[~df.reachable].disposition != "ACCEPTED").all()


def test_paths_name_the_nodes_crossed() -> None:
    df = netsim.load(BASIC).reachability()
    row = df[(df.src == "web") & (df.dst == "ext")].iloc[0]
    assert row.path == "web > node1 > underlay > ext > underlay > node1 > web"


@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda p: p.stem)
def test_same_file_same_seed_same_table(topology: Path) -> None:
    a = netsim.load(topology).reachability()
    b = netsim.load(topology).reachability()
    assert a.to_csv(index=False) == b.to_csv(index=False)


def test_query_order_does_not_change_answers() -> None:
    sim = netsim.load(BASIC)
    first = sim.reachability()
    sim.trace("web", "ext")
    sim.ping("legacy", "db")
    pd.testing.assert_frame_equal(first, sim.reachability())


def test_forked_workers_give_the_same_table() -> None:
    sim = netsim.load(next(t for t in TOPOLOGIES if t.stem == "isolation"))
    pd.testing.assert_frame_equal(sim.reachability(), sim.reachability(workers=2))
