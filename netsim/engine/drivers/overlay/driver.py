"""The ``overlay`` driver (libnetwork drivers/overlay): one namespace per network on each node.

On a node that instantiates the network (B36) the driver builds, as moby does, a namespace
``1-<id[:10]>`` holding a bridge ``ov-<VNI hex>-<id[:5]>`` with the gateway address and a VXLAN
device ``vx-<VNI hex>-<id[:5]>`` enslaved to it, its socket in the host namespace (B37).  Each
container gets a veth into that bridge, with the MAC 02:42 + its address, an MTU of 1450 (the
underlay's 1500 less 50 of VXLAN, less 26 more and rounded to 4 when encrypted, B40) and no
gateway, so the sandbox adds docker_gwbridge for egress (B46).

Peers come only from gossip (B42): a join publishes ``overlay_peer_table`` {address, MAC,
VTEP} through the node's agent, and ``event_notify`` writes, for every other node's entry, a
permanent neighbour (address -> MAC) and a static FDB entry (MAC -> VTEP) on the VXLAN device;
a delete removes both.  An encrypted overlay's VXLAN device marks its datagrams for the
host's xfrm policy, and each new peer node gets a pair of SAs, so they cross the underlay in
ESP transport mode (B49); plaintext for its VNI is refused on arrival.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import ClassVar, Optional

from ....datapath.addr import ip, mac, mac_str
from ....datapath.bridge import Bridge
from ....datapath.device import Veth
from ....datapath.netns import Namespace
from ....datapath.vxlan import VXLAN_OVERHEAD, Vxlan
from ...drivers.api import EndpointInfo, HostContext, JoinInfo, NetworkInfo, Scope, TableEntry
from ..options import DriverOptions, OptionError, option

__all__ = ["OverlayDriver", "OverlayOptions", "PEER_TABLE"]

PEER_TABLE = "overlay_peer_table"
ESP_OVERHEAD = 26  # SPI 4 + sequence 4 + IV 8 + pad length 1 + next header 1 + ICV 8 (encryption.go)
_UNDERLAY_MTU = 1500  # moby takes 1500 whatever the host NIC says, unless the mtu option is given


def _spi(src: int, dst: int) -> int:
    """The SPI of the SA from ``src`` to ``dst`` (moby derives them from the swarm's keys)."""
    return 0x100 + zlib.crc32(f"{src}>{dst}".encode()) % 0x7FFFFF00


def _encrypted(text: str) -> bool:
    # Docker's overlay driver turns encryption on when the option is present, whatever its value.
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        raise OptionError(f"Docker encrypts an overlay whenever the 'encrypted' option is present, even as {text!r}",
                          "remove driver_opts.encrypted to leave the network unencrypted")
    return True


def _vni(text: str) -> int:
    first = text.split(",")[0]
    if not (first.isascii() and first.isdigit() and 1 <= int(first) < 1 << 24):
        raise OptionError(f"invalid VXLAN id {first!r}", "a VNI from 1 to 16777215")
    return int(first)


@dataclass(frozen=True)
class OverlayOptions(DriverOptions):
    encrypted: bool = option(False, "encrypted", _encrypted, "encrypted", "bool", from_yaml=bool)
    #: the VNI the manager allocated (B37); set by the swarm, not by users
    vni: int = option(0, "com.docker.network.driver.overlay.vxlanid_list", _vni)

    @property
    def interface_mtu(self) -> int:
        mtu = (self.mtu or _UNDERLAY_MTU) - VXLAN_OVERHEAD
        return (mtu - ESP_OVERHEAD) & ~3 if self.encrypted else mtu


@dataclass
class _Network:
    info: NetworkInfo
    ns: Namespace
    bridge: Bridge
    vxlan: Vxlan
    veths: dict[str, Veth] = field(default_factory=dict)  # endpoint id -> its end in the overlay namespace
    peers: dict[str, tuple[int, int]] = field(default_factory=dict)  # entry key -> (address, MAC)

    @property
    def options(self) -> OverlayOptions:
        return self.info.options  # type: ignore[return-value]


class OverlayDriver:
    TYPE: ClassVar[str] = "overlay"
    SCOPE: ClassVar[Scope] = "swarm"
    Options: ClassVar[type[DriverOptions]] = OverlayOptions

    def __init__(self, host: HostContext) -> None:
        self.host = host
        self._networks: dict[str, _Network] = {}

    def create_network(self, net: NetworkInfo) -> None:
        host = self.host
        opts: OverlayOptions = net.options  # type: ignore[assignment]
        vni, short = opts.vni, net.id[:5]
        mtu = opts.interface_mtu
        ns = Namespace(host.world, f"1-{net.id[:10]}", host=host.host)
        bridge = Bridge(host.world, f"ov-{vni:06x}-{short}", host.new_mac(), mtu)
        ns.add_device(bridge)
        if net.gateway is not None:
            ns.add_address(bridge, ip(net.gateway), net.subnet.prefixlen)
        vx = Vxlan(host.world, f"vx-{vni:06x}-{short}", host.new_mac(), vni, host.ns, host.address, mtu=mtu,
                   encrypted=opts.encrypted)
        ns.add_device(vx)
        bridge.add_port(vx)
        self._networks[net.id] = _Network(net, ns, bridge, vx)

    def delete_network(self, nid: str) -> None:
        network = self._networks.pop(nid)
        network.vxlan.close()
        self.host.world.namespaces.pop(network.ns.key, None)

    def join(self, nid: str, ep: EndpointInfo) -> JoinInfo:
        network, host = self._networks[nid], self.host
        ep_mac = mac("02:42:00:00:00:00") | ip(ep.address)  # B37: overlay MACs are always 02:42 + address
        mtu = network.options.interface_mtu
        inside, outside = Veth.pair(host.world, ep.ifname, ep_mac, host.new_ifname("veth"), host.new_mac(), mtu)
        network.ns.add_device(outside)
        network.bridge.add_port(outside)
        network.veths[ep.id] = outside
        record = {"ip": f"{ep.address}/{ep.plen}", "mac": mac_str(ep_mac), "vtep": str(IPv4Address(host.address))}
        entry = TableEntry(PEER_TABLE, ep.id, json.dumps(record, sort_keys=True).encode())
        return JoinInfo(inside, None, table_entries=(entry,))

    def leave(self, nid: str, eid: str) -> None:
        network = self._networks[nid]
        veth = network.veths.pop(eid)
        network.bridge.remove_port(veth)
        network.ns.remove_device(veth)

    def event_notify(self, nid: str, table: str, key: str, value: Optional[bytes]) -> None:
        """peerAdd / peerDelete from NetworkDB: the only writer of the VXLAN FDB and neighbours (B42)."""
        network = self._networks.get(nid)
        if network is None or table != PEER_TABLE:
            return
        old = network.peers.pop(key, None)
        if old is not None:
            network.vxlan.fdb_del(old[1])
            network.ns.neigh.pop((network.vxlan.name, old[0]), None)
        if value is None:
            return
        record = json.loads(value)
        vtep = ip(record["vtep"])
        if vtep == self.host.address:
            return  # a local endpoint: the bridge knows it already
        address, peer_mac = ip(record["ip"].split("/")[0]), mac(record["mac"])
        if network.options.encrypted and vtep not in self.host.ns.xfrm_out:
            # One SA pair per peer node (encryption.go); both ends derive the same SPIs.
            self.host.ns.xfrm_add(vtep, _spi(self.host.address, vtep), _spi(vtep, self.host.address))
        network.peers[key] = (address, peer_mac)  # peerdb keeps it, whatever the kernel said
        replace = self.host.profile.fdb_add == "replace"
        vx = network.vxlan
        # peerdb.go addNeighbor: the neighbour first, then the FDB entry, each an error on EEXIST
        if not network.ns.neigh_add(vx, address, peer_mac, replace):
            self._peer_add_failed(vx, address, peer_mac, "neighbor")
        elif not vx.fdb_add(peer_mac, vtep, replace):
            self._peer_add_failed(vx, vtep, peer_mac, "fdb")

    def _peer_add_failed(self, vx: Vxlan, addr: int, peer_mac: int, what: str) -> None:
        self.host.log("warning", f'Neighbor entry already present ifc={vx.name} ip={IPv4Address(addr)} '
                                 f'mac="{mac_str(peer_mac)}"')
        self.host.log("warning", 'overlay: failed to add peer entry error="peer add operation failed: '
                                 f'could not add {what} entry into the sandbox: neighbor entry already present"')
