"""The ``host`` driver: a container in host mode *is* its host's namespace (B28, B29)."""

from __future__ import annotations

from typing import ClassVar

from ...errors import DockerError
from .api import EndpointInfo, HostContext, JoinInfo, NetworkInfo, Scope
from .options import DriverOptions


class HostDriver:
    TYPE: ClassVar[str] = "host"
    SCOPE: ClassVar[Scope] = "host"
    Options: ClassVar[type[DriverOptions]] = DriverOptions

    def __init__(self, host: HostContext) -> None:
        """The host's own stack is the network; there is nothing to set up."""

    def create_network(self, net: NetworkInfo) -> None:
        if not net.builtin:
            raise DockerError("only one instance of \"host\" network is allowed",
                              fix="use network_mode: host on the container instead")

    def delete_network(self, nid: str) -> None:
        raise DockerError("host is a pre-defined network and cannot be removed")

    def join(self, nid: str, ep: EndpointInfo) -> JoinInfo:
        raise DockerError("container cannot be disconnected from host network or connected to host network",
                          fix="run a new container with network_mode: host instead")

    def leave(self, nid: str, eid: str) -> None:
        """Host-mode containers never had an interface of their own."""
