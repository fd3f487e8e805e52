"""netsim: a discrete-event simulator of multi-host Docker networking.

    import netsim
    sim = netsim.load("topologies/basic.yaml")
    sim.reachability()          # pandas DataFrame: who reaches whom, and why not
    sim.trace("web", "db")      # hop by hop
    sim.ping("web", "db")       # in simulated time

Layers: ``topology`` (files -> frozen specs), ``engine`` (dockerd: networks, containers,
iptables), ``datapath`` (namespaces, devices, the forwarding core), ``analysis`` (answers as
DataFrames), ``cli`` (a thin shell over all of it).
"""

from __future__ import annotations

import os
from typing import Optional

from .errors import DockerError, NetsimError, TopologyError
from .simulation import Host, Simulation, build
from .topology import load_spec

__version__ = "0.1.0"

__all__ = ["load", "Simulation", "Host", "build", "load_spec", "NetsimError", "TopologyError", "DockerError",
           "__version__"]


def load(path: "str | os.PathLike[str]", seed: Optional[int] = None) -> Simulation:
    """Read a topology file and build its simulation (``seed`` overrides the file's)."""
    return build(load_spec(path), seed)
