"""The bundled topologies: each loads, and the packaged default is the one in topologies/."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

import netsim

from .conftest import ROOT, TOPOLOGIES


def test_at_least_six_bundled_topologies() -> None:
    assert len(TOPOLOGIES) >= 6


def test_packaged_default_is_topologies_basic() -> None:
    packaged = resources.files("netsim").joinpath("data/basic.yaml").read_bytes()
    assert packaged == (ROOT / "topologies" / "basic.yaml").read_bytes()


@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda p: p.stem)
def test_every_topology_has_reachable_and_unreachable_pairs(topology: Path) -> None:
    """Each example is meant to show something: a table that is all-green or all-red shows nothing."""
    df = netsim.load(topology).reachability()
    assert df.reachable.any() and not df.reachable.all()
