"""Service load balancing on one node: libnetwork's load-balancer sandboxes (service_linux.go).

Every node with an endpoint on a swarm network has that network's load-balancer sandbox,
``lb-NETWORK``, joined to it at the node's load-balancer address, which the managers allocate
(one per node and network, B50; ``createLoadBalancerSandbox``).  For each ``vip`` service with
tasks on the network, the sandbox holds (``addLBBackend``, ``configureFWMark``):

- the VIP as a /32 alias of its interface, so it answers ARP for it on the node's own overlay
  bridge: a container reaches its own node's sandbox;
- ``-t mangle -A INPUT -d VIP/32 -j MARK --set-mark FWMARK``, the mark counted per daemon from 256;
- an IPVS virtual service on that mark, round robin, every task of the service a real server,
  whichever node runs it (local tasks as they join, remote ones as NetworkDB tells of them);
- ``-t nat -A POSTROUTING -m ipvs --ipvs -d SUBNET -j SNAT --to-source LB-ADDRESS``: the task
  sees the sandbox's address, not the client's (B59).

A dnsrr service has no VIP and no virtual service: its name answers the task addresses.  The
sandbox goes with the network's last endpoint on the node.  The ingress network's sandbox,
``ingress-sbox``, is the routing mesh's (``ingress.py``): every swarm node has it from the
moment it joins, with a second endpoint on docker_gwbridge, and a service with ingress ports
also marks those ports in its mangle PREROUTING and programs the host's DOCKER-INGRESS rules.
The lb sandbox forwards (IPVS's
NAT sends replies on through FORWARD); a new namespace inherits IPv4 forwarding from the host
(``devconf_inherit_init_net``), where dockerd turned it on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Optional

from ..datapath.addr import ip
from ..datapath.ipvs import Ipvs
from ..datapath.netfilter import Rule
from ..datapath.netns import Namespace
from .cluster import INGRESS, IngressPort, ServiceBinding
from .drivers.api import EndpointInfo
from .ingress import HostIngress

if TYPE_CHECKING:
    from ..datapath.device import NetDevice
    from .daemon import Engine, Network

__all__ = ["LoadBalancers", "LoadBalancer", "FWMARK_START"]

FWMARK_START = 256  # libnetwork service.go: fwMarkCtr
INGRESS_SANDBOX = "ingress-sbox"  # lbSandboxName for the ingress network


@dataclass
class _Service:
    vip: IPv4Address
    fwmark: int
    ingress_ports: tuple[IngressPort, ...] = ()
    backends: dict[str, IPv4Address] = field(default_factory=dict)  # endpoint key -> task address
    rules: list[tuple[str, Rule]] = field(default_factory=list)


@dataclass
class LoadBalancer:
    """One network's ``lb-NETWORK`` sandbox on this node."""

    ns: Namespace
    address: IPv4Address
    endpoint_id: str
    interface: "NetDevice"
    table_keys: tuple[tuple[str, str], ...] = ()
    services: dict[str, _Service] = field(default_factory=dict)  # by service id
    snat: Optional[Rule] = None
    gateway: Optional[EndpointInfo] = None  # the ingress sandbox's endpoint on docker_gwbridge
    gateway_interface: Optional["NetDevice"] = None


class LoadBalancers:
    """The engine's load-balancer sandboxes, by network id."""

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        self.by_network: dict[str, LoadBalancer] = {}
        self._next_fwmark = FWMARK_START
        self.mesh = HostIngress(engine.nf, engine.ns, legacy_forward=engine.profile.version < "28")

    @property
    def ingress(self) -> Optional[LoadBalancer]:
        """The routing mesh's sandbox, while this node is a swarm member."""
        return next((lb for lb in self.by_network.values() if lb.ns.name == INGRESS_SANDBOX), None)

    def ensure(self, net: "Network", address: IPv4Address) -> LoadBalancer:
        """createLoadBalancerSandbox: the sandbox and its endpoint ``NETWORK-endpoint`` at ``address``."""
        lb = self.by_network.get(net.id)
        if lb is not None:
            return lb
        engine = self.engine
        # lbSandboxName: the ingress network's is the ingress sandbox of the routing mesh (B58)
        ns = Namespace(engine.world, INGRESS_SANDBOX if net.name == INGRESS else f"lb-{net.name}", host=engine.host)
        ns.ip_forward = True
        ns.ipvs = Ipvs()
        ep_id = f"{engine._endpoint_rng.getrandbits(256):064x}"
        info = EndpointInfo(ep_id, net.id, f"{net.name}-endpoint", address, net.subnet.prefixlen,
                            engine.container_mac(address), "eth0")
        joined = net.driver.join(net.id, info)
        ns.add_device(joined.interface)
        ns.add_address(joined.interface, ip(address), net.subnet.prefixlen)
        lb = LoadBalancer(ns, address, ep_id, joined.interface)
        if engine.agent is not None:
            for entry in joined.table_entries:  # the overlay's peer record: remote tasks reply to it
                engine.agent.add_table_entry(net.id, entry)
            lb.table_keys = tuple((e.table, e.key) for e in joined.table_entries)
        self.by_network[net.id] = lb
        if net.name == INGRESS:
            self._join_gateway(lb)
        return lb

    def _join_gateway(self, lb: LoadBalancer) -> None:
        """setupDefaultGW: ingress offers no gateway, so its sandbox gets ``gateway_ingress-sbox``
        on docker_gwbridge, its default route, and the address DOCKER-INGRESS DNATs to."""
        engine = self.engine
        gw = engine._gw_network()
        if gw.pool is None or gw.gateway is None:  # a bridge network has both
            return
        address = gw.pool.allocate()
        info = EndpointInfo(f"{engine._endpoint_rng.getrandbits(256):064x}", gw.id, f"gateway_{INGRESS_SANDBOX}", address,
                            gw.subnet.prefixlen, engine.container_mac(address), "eth1")
        joined = gw.driver.join(gw.id, info)
        lb.ns.add_device(joined.interface)
        lb.ns.add_address(joined.interface, ip(address), gw.subnet.prefixlen)
        lb.ns.add_route(0, 0, joined.interface, ip(gw.gateway))
        lb.gateway, lb.gateway_interface = info, joined.interface

    def delete(self, net: "Network") -> None:
        """deleteLoadBalancerSandbox: the network's last endpoint on this node left."""
        lb = self.by_network.pop(net.id, None)
        if lb is None:
            return
        engine = self.engine
        for svc in lb.services.values():
            self.mesh.remove(svc.ingress_ports)
        if engine.agent is not None:
            for table, key in lb.table_keys:
                engine.agent.delete_table_entry(net.id, table, key)
        net.driver.leave(net.id, lb.endpoint_id)
        lb.ns.remove_device(lb.interface)
        if lb.gateway is not None and lb.gateway_interface is not None:
            gw = engine._gw_network()
            gw.driver.leave(gw.id, lb.gateway.id)
            lb.ns.remove_device(lb.gateway_interface)
            if gw.pool is not None:
                gw.pool.release(lb.gateway.address)
        engine.world.namespaces.pop(lb.ns.key, None)

    def users(self, net: "Network") -> list[str]:
        """The sandbox endpoints on ``net`` that are no container's (``docker network rm`` refuses them)."""
        return [lb.gateway.container for lb in self.by_network.values()
                if lb.gateway is not None and lb.gateway.network_id == net.id]

    def add_backend(self, net: "Network", service: ServiceBinding, key: str, address: IPv4Address) -> None:
        """addServiceBinding -> addLBBackend: a task of a vip service joins the virtual service."""
        lb = self.by_network.get(net.id)
        if lb is None or service.vip is None:
            return
        svc = lb.services.get(service.id)
        if svc is None:
            svc = lb.services[service.id] = self._program(net, lb, service.vip, service.ingress_ports)
        svc.backends[key] = address
        assert lb.ns.ipvs is not None
        lb.ns.ipvs.service(svc.fwmark).add(ip(address))

    def remove_backend(self, net: "Network", key: str) -> None:
        """rmLBBackend: the task left; the virtual service goes with its last one."""
        lb = self.by_network.get(net.id)
        if lb is None:
            return
        service_id = next((sid for sid, s in lb.services.items() if key in s.backends), None)
        if service_id is None:
            return
        svc = lb.services[service_id]
        address = svc.backends.pop(key)
        ipvs = lb.ns.ipvs
        assert ipvs is not None
        if address not in svc.backends.values():
            ipvs.service(svc.fwmark).remove(ip(address))
        if not svc.backends:
            del ipvs.services[svc.fwmark]
            self.mesh.remove(svc.ingress_ports)
            lb.ns.nf.remove(svc.rules)
            lb.ns.remove_address(lb.interface, ip(svc.vip))
            del lb.services[service_id]

    def _program(self, net: "Network", lb: LoadBalancer, vip: IPv4Address,
                 ports: tuple[IngressPort, ...]) -> _Service:
        """The first backend of a service here: the VIP alias, in the ingress sandbox the host's
        DOCKER-INGRESS rules and the marks of the published ports, the VIP's mark rule and,
        once per sandbox, the SNAT of what IPVS sends to the subnet."""
        fwmark = self._next_fwmark
        self._next_fwmark += 1
        svc = _Service(vip, fwmark)
        nf = lb.ns.nf
        lb.ns.add_address(lb.interface, ip(vip), 32)
        if lb.gateway is not None and ports:
            svc.ingress_ports = ports
            bridge = self.engine._gw_network().host_interface
            self.mesh.add(lb.gateway.address, bridge.name if bridge is not None else "", ports)
            for port in ports:
                p = port.protocol
                svc.rules.append(("mangle", nf.append("mangle", f"-A PREROUTING -p {p} -m {p} --dport {port.published} "
                                                                f"-j MARK --set-mark {fwmark}")))
        svc.rules.append(("mangle", nf.append("mangle", f"-A INPUT -d {vip}/32 -j MARK --set-mark {fwmark}")))
        if lb.snat is None:
            lb.snat = nf.append("nat", f"-A POSTROUTING -d {net.subnet} -m ipvs --ipvs -j SNAT --to-source {lb.address}")
        return svc
