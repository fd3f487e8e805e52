"""The ``host`` driver: a container in host mode *is* its host's namespace (B28, B29)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import DockerError
from .base import JoinInfo

if TYPE_CHECKING:
    from ..daemon import Endpoint, Network


class HostDriver:
    name = "host"

    def create_network(self, network: "Network") -> None:
        """The host's own stack is the network; there is nothing to create."""

    def delete_network(self, network: "Network") -> None:
        raise DockerError("host is a pre-defined network and cannot be removed")

    def join(self, network: "Network", endpoint: "Endpoint") -> JoinInfo:
        raise DockerError("container cannot be disconnected from host network or connected to host network")

    def leave(self, network: "Network", endpoint: "Endpoint") -> None:
        """Host-mode containers never had an interface of their own."""
