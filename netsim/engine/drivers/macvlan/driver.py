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

from ....datapath.device import Dummy, NetDevice
from ....datapath.macvlan import Macvlan
from ....datapath.vlan import Vlan
from ....errors import DockerError
from ..api import EndpointInfo, HostContext, JoinInfo, NetworkInfo, Scope
from ..options import DriverOptions, choice, option
from ..parent import parse_parent, vlan_of

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

    def skip_gateway_alloc(self) -> bool:
        """GetSkipGwAlloc: from Docker 29 the gateway is the user's to give, or there is none."""
        return not self.host.profile.macvlan_ipam_gateway

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
        created = False
        if opts.parent is not None and vlan_of(parent) and parent not in self.host.ns.devices:
            # createVlanLink: `ip link add link eth0 name eth0.10 type vlan id 10`, Docker's to delete
            sub = Vlan(self.host.world, parent, self.host.ns.devices["eth0"], vlan_of(parent))
            self.host.ns.add_device(sub)
            created = True
        elif opts.parent is not None:
            created = any(n.created for n in self._networks.values() if n.parent == parent)
        if opts.parent is None:
            # No parent: a dummy link of Docker's own, so the children reach only each other.
            lower: NetDevice = next((n.lower for n in self._networks.values() if n.parent == parent), None) or \
                Dummy(self.host.world, parent, self.host.new_mac())
            if lower.ns is None:
                self.host.ns.add_device(lower)
        else:
            found = self.host.ns.devices.get(parent)
            if found is None:
                raise DockerError(f"-o parent interface was not found on the host: {parent}", field="driver_opts.parent")
            lower = found
        self._networks[net.id] = _Network(net, parent, lower, created or opts.parent is None)

    def delete_network(self, nid: str) -> None:
        network = self._networks.pop(nid)
        if network.created and not any(n.lower is network.lower for n in self._networks.values()):
            # Docker deletes only the links it created: a dummy parent, or a sub-interface it added
            self.host.ns.remove_device(network.lower)
            if isinstance(network.lower, Vlan):
                network.lower.close()

    def join(self, nid: str, ep: EndpointInfo) -> JoinInfo:
        network = self._networks[nid]
        try:
            child = Macvlan(self.host.world, ep.ifname, ep.mac, network.lower, network.options.mode)
        except OSError as err:  # createMacVlan: the kernel refused the link
            raise DockerError(f"failed to create the macvlan port: {err.strerror}",
                              fix="a passthru network takes one container: its parent is that container's NIC")
        network.children[ep.id] = child
        gateway = None if network.info.internal else network.info.gateway
        return JoinInfo(child, gateway, disable_gateway_service=True)

    def leave(self, nid: str, eid: str) -> None:
        self._networks[nid].children.pop(eid).close()
