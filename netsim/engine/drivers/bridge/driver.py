"""The ``bridge`` driver: a Linux bridge per network, a veth pair per endpoint, iptables rules.

``docker0`` is the built-in ``bridge`` network; user-defined networks get ``br-<id[:12]>``.
The bridge keeps the gateway address even on internal networks (B16), so the host can
reach containers; internal networks simply hand the container no default gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Optional

from ....datapath.addr import ip
from ....datapath.bridge import Bridge
from ....datapath.device import NetDevice, Veth
from ....datapath.netfilter import Rule
from ....errors import DockerError
from ..api import EndpointInfo, HostContext, JoinInfo, NetworkInfo, Scope
from ..options import DriverOptions, OptionError, go_bool, option
from . import iptables

if TYPE_CHECKING:
    from ...ports import PortBinding


def _ifname(text: str) -> str:
    # dev_valid_name: 1 to 15 bytes (IFNAMSIZ 16 with the NUL), not "." or "..", no '/', ':' or space.
    if not 0 < len(text.encode()) < 16 or text in (".", "..") or any(c in text for c in "/: \t\n"):
        raise OptionError(f"invalid bridge name {text!r}",
                          "a Linux interface name: 1 to 15 characters without '/', ':' or spaces")
    return text


@dataclass(frozen=True)
class BridgeOptions(DriverOptions):
    icc: bool = option(True, "com.docker.network.bridge.enable_icc", go_bool, "icc", "bool")
    masquerade: bool = option(True, "com.docker.network.bridge.enable_ip_masquerade", go_bool, "masquerade", "bool")
    #: the Linux bridge's name (docker_gwbridge sets its own); br-<id[:12]> when not given
    name: Optional[str] = option(None, "com.docker.network.bridge.name", _ifname)


@dataclass
class _Network:
    info: NetworkInfo
    bridge: Bridge
    ports: dict[str, Veth] = field(default_factory=dict)  # endpoint id -> host-side veth
    addresses: dict[str, EndpointInfo] = field(default_factory=dict)
    published: dict[str, list[tuple[str, Rule]]] = field(default_factory=dict)  # endpoint id -> its rules

    @property
    def options(self) -> BridgeOptions:
        return self.info.options  # type: ignore[return-value]


class BridgeDriver:
    TYPE: ClassVar[str] = "bridge"
    SCOPE: ClassVar[Scope] = "host"
    Options: ClassVar[type[DriverOptions]] = BridgeOptions

    def __init__(self, host: HostContext) -> None:
        self.host = host
        self._networks: dict[str, _Network] = {}
        config = host.config
        if config.ip_forward:
            host.ns.ip_forward = True  # dockerd enables it, and so sets FORWARD's policy to DROP (B26)
        # The chains and jumps dockerd creates at start-up, before any network (iptabler addNATJumpRules).
        iptables.setup_host(host.nf, host.profile, drop_forward=config.ip_forward, hairpin=not config.userland_proxy)

    @property
    def _hairpin(self) -> bool:
        return not self.host.config.userland_proxy

    def create_network(self, net: NetworkInfo) -> None:
        host = self.host
        opts: BridgeOptions = net.options  # type: ignore[assignment]
        ifname = opts.name or ("docker0" if net.name == "bridge" else f"br-{net.id[:12]}")
        other = next((n for n in self._networks.values() if n.bridge.name == ifname), None)
        if other is not None:
            raise DockerError(f"cannot create network {net.id} ({ifname}): conflicts with network {other.info.id} "
                              f"({ifname}): networks have same bridge name",
                              fix="give the network another com.docker.network.bridge.name", field="driver_opts")
        if ifname in host.ns.devices:
            raise DockerError(f"bridge name {ifname} is taken by another device on {host.host}",
                              fix="give the network another com.docker.network.bridge.name", field="driver_opts")
        dev = Bridge(host.world, ifname, host.new_mac(), opts.mtu or 1500)
        host.ns.add_device(dev)
        if net.gateway is not None:
            host.ns.add_address(dev, ip(net.gateway), net.subnet.prefixlen)
        self._networks[net.id] = _Network(net, dev)
        iptables.setup_bridge(host.nf, host.profile, ifname, net.subnet, opts.icc, opts.masquerade, net.internal,
                              hairpin=self._hairpin)
        if not opts.icc or self._hairpin:
            # dockerd loads br_netfilter only to enforce ICC off, or to DNAT bridged traffic with
            # the userland proxy off; the sysctl then applies to every bridge of the namespace.
            host.ns.br_nf_call_iptables = True

    def delete_network(self, nid: str) -> None:
        network = self._networks.pop(nid)
        iptables.teardown_bridge(self.host.nf, network.bridge.name, network.info.subnet)
        self.host.ns.remove_device(network.bridge)

    def join(self, nid: str, ep: EndpointInfo) -> JoinInfo:
        host = self.host
        network = self._networks[nid]
        bridge = network.bridge
        mtu = network.options.mtu or 1500
        inside, outside = Veth.pair(host.world, ep.ifname, ep.mac, host.new_ifname("veth"), host.new_mac(), mtu)
        host.ns.add_device(outside)
        bridge.add_port(outside)
        outside.hairpin = self._hairpin  # moby setHairpinMode, with the proxy off
        network.ports[ep.id] = outside
        network.addresses[ep.id] = ep
        iptables.endpoint_direct_access(host.nf, host.profile, host.config.allow_direct_routing, bridge.name,
                                        ep.address, network.info.internal)
        return JoinInfo(inside, None if network.info.internal else network.info.gateway)

    def leave(self, nid: str, eid: str) -> None:
        network = self._networks[nid]
        self.unpublish(nid, eid)
        outside = network.ports.pop(eid)
        ep = network.addresses.pop(eid)
        network.bridge.remove_port(outside)
        self.host.ns.remove_device(outside)
        iptables.remove_endpoint(self.host.nf, ep.address)

    # ---- capabilities ----------------------------------------------------------------------

    def publish(self, nid: str, ep: EndpointInfo, binding: "PortBinding") -> None:
        network = self._networks[nid]
        if network.info.internal:
            return  # B16: no NAT or filter rules for internal networks
        rules = iptables.publish_port(self.host.nf, self.host.profile, self._hairpin, network.bridge.name,
                                      ep.address, binding.proto, binding.container_port, binding.host_port,
                                      binding.host_ip)
        network.published.setdefault(ep.id, []).extend(rules)

    def unpublish(self, nid: str, eid: str) -> None:
        self.host.nf.remove(self._networks[nid].published.pop(eid, []))

    def host_interface(self, nid: str) -> Optional[NetDevice]:
        return self._networks[nid].bridge

    def link(self, nid: str, client: EndpointInfo, server: EndpointInfo,
             ports: tuple[tuple[int, str], ...]) -> None:
        """B7: with ICC off, a link opens the target's exposed ports to the linking container."""
        network = self._networks[nid]
        if network.options.icc:
            return  # with ICC on everything is open already; moby programs no link rule
        for port, proto in ports:
            iptables.link(self.host.nf, network.bridge.name, client.address, server.address, port, proto)
