"""Drivers whose options and scope are declared but whose data path is not built yet.

macvlan and ipvlan (a parent NIC on each host) are validated by the loader from these
declarations, exactly as they will be once built; ``create_network`` refuses them with one
clear line.  Each moves to a module of its own (``drivers/macvlan.py``) when its issue builds
the data path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Optional

from ...errors import DockerError
from .api import EndpointInfo, HostContext, JoinInfo, NetworkInfo, Scope
from .options import DriverOptions, OptionError, choice, option

__all__ = ["MacvlanDriver", "IpvlanDriver"]

_PARENT = re.compile(r"eth0(?:\.(\d+))?", re.ASCII)


def _parent(text: str) -> str:
    # Hosts have exactly one NIC, eth0; a ".N" suffix asks Docker to create that VLAN sub-interface.
    match = _PARENT.fullmatch(text)
    if not match or (match.group(1) and not 1 <= int(match.group(1)) <= 4094):
        raise OptionError(f"-o parent interface was not found on the host: {text}",
                          "use parent: eth0, or eth0.<VLAN id 1-4094> for an 802.1Q sub-interface")
    return text


@dataclass(frozen=True)
class MacvlanOptions(DriverOptions):
    parent: Optional[str] = option(None, "parent", _parent, "parent")
    mode: str = option("bridge", "macvlan_mode", choice(("bridge", "vepa", "private", "passthru"), "macvlan mode"),
                       "mode")


@dataclass(frozen=True)
class IpvlanOptions(DriverOptions):
    parent: Optional[str] = option(None, "parent", _parent, "parent")
    mode: str = option("l2", "ipvlan_mode", choice(("l2", "l3", "l3s"), "ipvlan mode"), "mode")


class _Pending:
    TYPE: ClassVar[str]

    def __init__(self, host: HostContext) -> None:
        self.host = host

    def create_network(self, net: NetworkInfo) -> None:
        raise DockerError(f"driver {self.TYPE!r} is not simulated yet (bridge, overlay, host and none are)",
                          fix="use driver: bridge or overlay for now; macvlan and ipvlan arrive in a later release",
                          field="driver")

    def delete_network(self, nid: str) -> None:
        """create_network never succeeded, so there is nothing to remove."""

    def join(self, nid: str, ep: EndpointInfo) -> JoinInfo:
        raise DockerError(f"driver {self.TYPE!r} is not simulated yet")

    def leave(self, nid: str, eid: str) -> None:
        """join never succeeded, so there is nothing to leave."""


class MacvlanDriver(_Pending):
    TYPE: ClassVar[str] = "macvlan"
    SCOPE: ClassVar[Scope] = "hosts"
    Options: ClassVar[type[DriverOptions]] = MacvlanOptions


class IpvlanDriver(_Pending):
    TYPE: ClassVar[str] = "ipvlan"
    SCOPE: ClassVar[Scope] = "hosts"
    Options: ClassVar[type[DriverOptions]] = IpvlanOptions
