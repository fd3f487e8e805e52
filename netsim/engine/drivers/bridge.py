"""The ``bridge`` driver: a Linux bridge per network, a veth pair per endpoint, iptables rules.

``docker0`` is the built-in ``bridge`` network; user-defined networks get ``br-<id[:12]>``.
The bridge keeps the gateway address even on internal networks (B16), so the host can
reach containers; internal networks simply hand the container no default gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...datapath.addr import ip
from ...datapath.bridge import Bridge
from ...datapath.device import Veth
from .. import iptables
from .base import JoinInfo

if TYPE_CHECKING:
    from ...datapath.netfilter import Rule
    from ..daemon import Endpoint, Network
    from ..ports import PortBinding


class BridgeDriver:
    name = "bridge"

    def create_network(self, network: "Network") -> None:
        engine = network.engine
        ifname = "docker0" if network.name == "bridge" else f"br-{network.id[:12]}"
        dev = Bridge(engine.world, ifname, engine.random_mac(), network.mtu or 1500)
        engine.ns.add_device(dev)
        assert network.gateway is not None
        engine.ns.add_address(dev, ip(network.gateway), network.subnet.prefixlen)
        network.device = dev
        iptables.setup_bridge(engine.nf, engine.profile, ifname, network.subnet,
                              network.icc, network.masquerade, network.internal,
                              hairpin=not engine.config.userland_proxy)
        if not network.icc or not engine.config.userland_proxy:
            # dockerd loads br_netfilter only to enforce ICC off, or to DNAT bridged traffic with
            # the userland proxy off; the sysctl then applies to every bridge of the namespace.
            engine.ns.br_nf_call_iptables = True

    def delete_network(self, network: "Network") -> None:
        engine = network.engine
        assert network.device is not None
        iptables.teardown_bridge(engine.nf, network.device.name, network.subnet)
        engine.ns.remove_device(network.device)
        network.device = None

    def join(self, network: "Network", endpoint: "Endpoint") -> JoinInfo:
        engine = network.engine
        bridge = network.device
        assert isinstance(bridge, Bridge)
        mtu = network.mtu or 1500
        inside, outside = Veth.pair(engine.world, endpoint.ifname, endpoint.mac,
                                    engine.interface_name("veth"), engine.random_mac(), mtu)
        engine.ns.add_device(outside)
        bridge.add_port(outside)
        outside.hairpin = not engine.config.userland_proxy  # moby setHairpinMode, with the proxy off
        endpoint.host_device = outside
        iptables.endpoint_direct_access(engine.nf, engine.profile, engine.config.allow_direct_routing,
                                        bridge.name, endpoint.address,
                                        network.internal)
        return JoinInfo(inside, None if network.internal else network.gateway)

    def leave(self, network: "Network", endpoint: "Endpoint") -> None:
        engine = network.engine
        outside = endpoint.host_device
        assert network.device is not None and outside is not None
        network.device.remove_port(outside)  # type: ignore[attr-defined]
        engine.ns.remove_device(outside)
        endpoint.host_device = None
        iptables.remove_endpoint(engine.nf, endpoint.address)

    def publish(self, network: "Network", endpoint: "Endpoint",
                binding: "PortBinding") -> list[tuple[str, "Rule"]]:
        if network.internal:
            return []  # B16: no NAT or filter rules for internal networks
        assert network.device is not None
        return iptables.publish_port(network.engine.nf, network.engine.profile, not network.engine.config.userland_proxy,
                                     network.device.name,
                              endpoint.address, binding.proto, binding.container_port,
                              binding.host_port, binding.host_ip)
