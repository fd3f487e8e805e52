"""The ``null`` driver behind the built-in ``none`` network: a namespace with only ``lo`` (B30)."""

from __future__ import annotations

from typing import ClassVar

from ...errors import DockerError
from .api import EndpointInfo, HostContext, JoinInfo, NetworkInfo, Scope
from .options import DriverOptions


class NullDriver:
    TYPE: ClassVar[str] = "null"
    SCOPE: ClassVar[Scope] = "host"
    Options: ClassVar[type[DriverOptions]] = DriverOptions

    def __init__(self, host: HostContext) -> None:
        """Nothing to set up: the container's own namespace, with lo, is the whole network."""

    def create_network(self, net: NetworkInfo) -> None:
        if not net.builtin:
            raise DockerError("only one instance of \"null\" network is allowed",
                              fix="use network_mode: none on the container instead")

    def delete_network(self, nid: str) -> None:
        raise DockerError("none is a pre-defined network and cannot be removed")

    def join(self, nid: str, ep: EndpointInfo) -> JoinInfo:
        raise DockerError("container cannot be connected to multiple networks with one of the "
                          "networks in private (none) mode", fix="run a new container with network_mode: none instead")

    def leave(self, nid: str, eid: str) -> None:
        """Leaving none leaves nothing behind."""
