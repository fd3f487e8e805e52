"""The ``ipvlan`` driver: each endpoint an ipvlan slave of the network's parent (ipvlan_network.go).

As macvlan, but every container shares the parent's MAC (``datapath.ipvlan``): in ``l2`` mode
they sit on the LAN like macvlan containers without needing the NIC to accept other MACs; in
``l3`` and ``l3s`` modes the host routes for them, their default route is ``default dev eth0``
with no next hop, and the LAN needs a route to their subnet via the host (B66).  One network
per parent, as Docker allows; the ``ipvlan_flag`` (bridge, private, vepa) says whether slaves
of the host reach each other directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import ClassVar, Optional

from ....datapath.device import NetDevice
from ....datapath.ipvlan import Ipvlan
from ....errors import DockerError
from ..api import EndpointInfo, HostContext, JoinInfo, NetworkInfo, Scope
from ..options import DriverOptions, choice, option
from ..parent import parent_device, parse_parent, release_parent

__all__ = ["IpvlanDriver", "IpvlanOptions"]

DEFAULT = IPv4Network("0.0.0.0/0")


@dataclass(frozen=True)
class IpvlanOptions(DriverOptions):
    parent: Optional[str] = option(None, "parent", parse_parent, "parent")
    mode: str = option("l2", "ipvlan_mode", choice(("l2", "l3", "l3s"), "ipvlan mode"), "mode")
    flag: str = option("bridge", "ipvlan_flag", choice(("bridge", "private", "vepa"), "ipvlan flag"), "flag")


@dataclass
class _Network:
    info: NetworkInfo
    parent: str
    lower: NetDevice
    created: bool
    slaves: dict[str, Ipvlan] = field(default_factory=dict)

    @property
    def options(self) -> IpvlanOptions:
        return self.info.options  # type: ignore[return-value]


class IpvlanDriver:
    TYPE: ClassVar[str] = "ipvlan"
    SCOPE: ClassVar[Scope] = "hosts"
    Options: ClassVar[type[DriverOptions]] = IpvlanOptions

    def __init__(self, host: HostContext) -> None:
        self.host = host
        self._networks: dict[str, _Network] = {}

    def skip_gateway_alloc(self, options: DriverOptions, internal: bool) -> bool:
        """GetSkipGwAlloc: 27 always takes one, 28 not for l3/l3s nor --internal, 29 never."""
        policy = self.host.profile.gateway_alloc
        l3 = getattr(options, "mode", "l2") != "l2"
        return policy == "configured" or policy == "needed" and (internal or l3)

    def create_network(self, net: NetworkInfo) -> None:
        opts: IpvlanOptions = net.options  # type: ignore[assignment]
        parent = opts.parent or f"dm-{net.id[:12]}"
        for other in self._networks.values():
            if other.parent == parent:
                raise DockerError(f"network dm-{other.info.id[:12]} is already using parent interface {parent}",
                                  fix="give each ipvlan network a parent of its own (eth0.ID sub-interfaces)",
                                  field="driver_opts.parent")
        lower, created = parent_device(self.host, parent, opts.parent is None)
        self._networks[net.id] = _Network(net, parent, lower, created)

    def delete_network(self, nid: str) -> None:
        network = self._networks.pop(nid)
        if network.created:
            release_parent(self.host, network.lower)

    def join(self, nid: str, ep: EndpointInfo) -> JoinInfo:
        network = self._networks[nid]
        opts = network.options
        try:
            slave = Ipvlan(self.host.world, ep.ifname, network.lower, opts.mode, opts.flag)
        except OSError as err:
            raise DockerError(f"failed to create the ipvlan port: {err.strerror}",
                              fix="a parent with a macvlan network takes no ipvlan one")
        network.slaves[ep.id] = slave
        if network.info.internal:
            return JoinInfo(slave, None, disable_gateway_service=True)
        if opts.mode != "l2":
            return JoinInfo(slave, None, disable_gateway_service=True, device_routes=(DEFAULT,))
        return JoinInfo(slave, network.info.gateway, disable_gateway_service=True)

    def leave(self, nid: str, eid: str) -> None:
        self._networks[nid].slaves.pop(eid).close()
