"""Drivers whose options and scope are declared but whose data path is not built yet.

ipvlan (a parent NIC on each host) is validated by the loader from this declaration, exactly
as it will be once built; ``create_network`` refuses it with one clear line.  It moves to a
package of its own (``drivers/ipvlan/``) when its data path is built, as macvlan did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from ...errors import DockerError
from .api import EndpointInfo, HostContext, JoinInfo, NetworkInfo, Scope
from .options import DriverOptions, choice, option
from .parent import parse_parent

__all__ = ["IpvlanDriver"]


@dataclass(frozen=True)
class IpvlanOptions(DriverOptions):
    parent: Optional[str] = option(None, "parent", parse_parent, "parent")
    mode: str = option("l2", "ipvlan_mode", choice(("l2", "l3", "l3s"), "ipvlan mode"), "mode")


class _Pending:
    TYPE: ClassVar[str]

    def __init__(self, host: HostContext) -> None:
        self.host = host

    def create_network(self, net: NetworkInfo) -> None:
        raise DockerError(f"driver {self.TYPE!r} is not simulated yet (bridge, overlay, macvlan, host and none are)",
                          fix="use driver: macvlan for now; ipvlan arrives in a later release",
                          field="driver")

    def delete_network(self, nid: str) -> None:
        """create_network never succeeded, so there is nothing to remove."""

    def join(self, nid: str, ep: EndpointInfo) -> JoinInfo:
        raise DockerError(f"driver {self.TYPE!r} is not simulated yet")

    def leave(self, nid: str, eid: str) -> None:
        """join never succeeded, so there is nothing to leave."""


class IpvlanDriver(_Pending):
    TYPE: ClassVar[str] = "ipvlan"
    SCOPE: ClassVar[Scope] = "hosts"
    Options: ClassVar[type[DriverOptions]] = IpvlanOptions
