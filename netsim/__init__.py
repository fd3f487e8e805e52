"""netsim: a discrete-event simulator of multi-host Docker networking.

    import netsim
    sim = netsim.load("topologies/basic.yaml")
    sim.reachability()          # pandas DataFrame: who reaches whom, and why not
    sim.trace("web", "db")      # hop by hop
    sim.ping("web", "db")       # in simulated time

Layers: ``topology`` (files -> frozen specs), ``engine`` (dockerd: networks, containers,
iptables), ``datapath`` (namespaces, devices, the forwarding core), ``analysis`` (answers as
DataFrames), ``cli`` (a thin shell over all of it).

The names below load on first use, so ``import netsim.datapath`` (a swarm unit test, a
forked worker) does not import the engine, the loader and their dependencies.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any, Optional

__version__ = "0.1.0"

__all__ = ["load", "Simulation", "Host", "build", "load_spec", "NetsimError", "TopologyError", "DockerError",
           "__version__"]

_LAZY = {
    "Simulation": "netsim.simulation", "Host": "netsim.simulation", "build": "netsim.simulation",
    "load_spec": "netsim.topology", "NetsimError": "netsim.errors", "TopologyError": "netsim.errors",
    "DockerError": "netsim.errors",
}

if TYPE_CHECKING:
    from .errors import DockerError, NetsimError, TopologyError
    from .simulation import Host, Simulation, build
    from .topology import load_spec


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'netsim' has no attribute {name!r}")


def load(path: "str | os.PathLike[str]", seed: Optional[int] = None) -> "Simulation":
    """Read a topology file and build its simulation (``seed`` overrides the file's)."""
    from .simulation import build
    from .topology import load_spec

    return build(load_spec(path), seed)
