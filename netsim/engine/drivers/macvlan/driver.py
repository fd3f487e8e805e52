"""The ``macvlan`` driver: each endpoint a macvlan child of the network's parent (macvlan_network.go).

A network names a parent (``eth0``, or an 802.1Q sub-interface such as ``eth0.10``, which Docker
creates when it is missing and deletes with the last network on it only if it created it
(B62); without one Docker makes a ``dummy`` device, so the network only connects its own
containers) and a mode.  Each endpoint is a child device with
the endpoint's MAC, moved into the container: no bridge, no veth, no NAT and no iptables rule.
What the children can reach follows from the macvlan device itself (``datapath.macvlan``): the
host's own stack is not among them (B61).  IPAM is the engine's, per host, so two hosts can
hand out one address twice (B60).  Since Docker 29 a network without ``--gateway`` has none:
IPAM reserves no address for it and containers get no default route (B64).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

from ....datapath.device import NetDevice
from ....datapath.macvlan import Macvlan
from ....errors import DockerError
from ..api import EndpointInfo, HostContext, JoinInfo, NetworkInfo, Scope
from ..options import DriverOptions, choice, option
from ..parent import parent_device, parse_parent, release_parent

__all__ = ["MacvlanDriver", "MacvlanOptions"]


@dataclass(frozen=True)
class MacvlanOptions(DriverOptions):
    parent: Optional[str] = option(None, "parent", parse_parent, "parent")
    mode: str = option("bridge", "macvlan_mode", choice(("bridge", "vepa", "private", "passthru"), "macvlan mode"),
                       "mode")


@dataclass
class _Network:
    info: NetworkInfo
    parent: str  # the parent's name: eth0, or dm-<id[:12]> for the dummy Docker made
    lower: NetDevice
    created: bool  # the parent is a link Docker made (CreatedSlaveLink): it goes with the last network on it
    children: dict[str, Macvlan] = field(default_factory=dict)  # endpoint id -> its device

    @property
    def options(self) -> MacvlanOptions:
        return self.info.options  # type: ignore[return-value]


class MacvlanDriver:
    TYPE: ClassVar[str] = "macvlan"
    SCOPE: ClassVar[Scope] = "hosts"
    Options: ClassVar[type[DriverOptions]] = MacvlanOptions

    def __init__(self, host: HostContext) -> None:
        self.host = host
        self._networks: dict[str, _Network] = {}

    def skip_gateway_alloc(self, options: DriverOptions, internal: bool) -> bool:
        """GetSkipGwAlloc: 27 always takes one from IPAM, 28 not for --internal, 29 never (the
        gateway is the user's to give, or there is none)."""
        policy = self.host.profile.gateway_alloc
        return policy == "configured" or policy == "needed" and internal

    def create_network(self, net: NetworkInfo) -> None:
        opts: MacvlanOptions = net.options  # type: ignore[assignment]
        parent = opts.parent or f"dm-{net.id[:12]}"
        for other in self._networks.values():
            if other.parent != parent:
                continue
            if opts.mode == "passthru":
                raise DockerError(f"cannot use mode passthru, macvlan network {other.info.id} is already using "
                                  f"parent interface {parent}", fix="give each passthru network a parent of its own",
                                  field="driver_opts.macvlan_mode")
            if other.options.mode == "passthru":
                raise DockerError(f"macvlan network {other.info.id} is already using parent interface {parent} in "
                                  "mode passthru", fix="use another parent, or remove the passthru network first",
                                  field="driver_opts.parent")
        lower, created = parent_device(self.host, parent, opts.parent is None)
        # A sub-interface another macvlan network had Docker create goes with the last of them.
        created = created or any(n.created for n in self._networks.values() if n.parent == parent)
        self._networks[net.id] = _Network(net, parent, lower, created)

    def delete_network(self, nid: str) -> None:
        network = self._networks.pop(nid)
        if network.created and not any(n.lower is network.lower for n in self._networks.values()):
            release_parent(self.host, network.lower)

    def join(self, nid: str, ep: EndpointInfo) -> JoinInfo:
        network = self._networks[nid]
        try:
            child = Macvlan(self.host.world, ep.ifname, ep.mac, network.lower, network.options.mode)
        except OSError as err:  # createMacVlan: the kernel refused the link
            raise DockerError(f"failed to create the macvlan port: {err.strerror}",
                              fix="a passthru network takes one container, and a parent with ipvlan slaves no "
                                  "macvlan child: give this network another parent")
        network.children[ep.id] = child
        gateway = None if network.info.internal else network.info.gateway
        return JoinInfo(child, gateway, disable_gateway_service=True)

    def leave(self, nid: str, eid: str) -> None:
        self._networks[nid].children.pop(eid).close()
