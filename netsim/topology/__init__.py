"""Topology files: the frozen spec records and the loader that checks files into them."""

from .loader import load_spec, parse_spec
from .spec import (
    EVENT_KINDS,
    AttachSpec,
    ContainerSpec,
    EventSpec,
    HostSpec,
    LinkSpec,
    NetworkSpec,
    PortSpec,
    TopologySpec,
    UnderlaySpec,
)

__all__ = [
    "EVENT_KINDS",
    "AttachSpec",
    "ContainerSpec",
    "EventSpec",
    "HostSpec",
    "LinkSpec",
    "NetworkSpec",
    "PortSpec",
    "TopologySpec",
    "UnderlaySpec",
    "load_spec",
    "parse_spec",
]
