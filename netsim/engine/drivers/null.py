"""The ``null`` driver behind the built-in ``none`` network: a namespace with only ``lo`` (B30)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import DockerError
from .base import JoinInfo

if TYPE_CHECKING:
    from ..daemon import Endpoint, Network


class NullDriver:
    name = "null"

    def create_network(self, network: "Network") -> None:
        """Nothing to build: the container's own namespace, with lo, is the whole network."""

    def delete_network(self, network: "Network") -> None:
        raise DockerError("none is a pre-defined network and cannot be removed")

    def join(self, network: "Network", endpoint: "Endpoint") -> JoinInfo:
        raise DockerError("container cannot be connected to multiple networks with one of the "
                          "networks in private (none) mode")

    def leave(self, network: "Network", endpoint: "Endpoint") -> None:
        """Leaving none leaves nothing behind."""
