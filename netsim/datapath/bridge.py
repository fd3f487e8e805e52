"""A Linux bridge: FDB learning, unicast forwarding, flooding, and delivery to its own stack.

The bridge is also a device of its namespace (``docker0``, ``br-...``) carrying the gateway
address.  With ``br_netfilter`` loaded and ``bridge-nf-call-iptables=1`` (dockerd does both once a
network disables ICC), IPv4 frames bridged between two ports traverse the namespace's
iptables PREROUTING/FORWARD/POSTROUTING with ``-i br -o br``: that is where Docker's ICC
rules act on same-bridge traffic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .addr import BROADCAST_MAC, is_multicast_mac, mac_str
from .device import NetDevice
from .drop import DropReason
from .packet import IPv4
from .skb import Skb

if TYPE_CHECKING:
    from .world import World


class Bridge(NetDevice):
    kind = "bridge"
    WATCHED = NetDevice.WATCHED | {"ports", "fdb", "static"}

    def __init__(self, world: "World", name: str, mac: int, mtu: int = 1500) -> None:
        super().__init__(world, name, mac, mtu)
        self.ports: list[NetDevice] = []
        self.fdb: dict[int, NetDevice] = {}
        # MACs of entries an administrator added (`bridge fdb add ... master static`): learning
        # does not move them and a flush of learned state keeps them.
        self.static: set[int] = set()

    def add_port(self, dev: NetDevice) -> None:
        """``ip link set DEV master BRIDGE``: br_add_if registers the bridge's rx handler on it."""
        dev.master = self
        dev.rx_handler = self.handle_frame
        self.ports.append(dev)

    def remove_port(self, dev: NetDevice) -> None:
        dev.master = None
        dev.rx_handler = None
        self.ports.remove(dev)
        self.fdb = {m: p for m, p in self.fdb.items() if p is not dev}
        self.static = {m for m in self.static if m in self.fdb}

    def fdb_add(self, mac: int, port: NetDevice) -> None:
        """``bridge fdb add MAC dev PORT master static``."""
        self.fdb[mac] = port
        self.static.add(mac)

    def handle_frame(self, port: NetDevice, skb: Skb) -> bool:
        """br_handle_frame: a port received a frame; the bridge consumes every one."""
        frame = skb.frame
        src = frame.src
        if not is_multicast_mac(src) and src not in self.static and self.fdb.get(src) is not port:
            self.fdb[src] = port  # br_fdb_update (a MAC seen again on its port changes nothing)
        dst = frame.dst
        ns = self.ns
        if ns is None:  # the bridge was deleted under its ports
            skb.drop(self.node, port.name, DropReason.DEV_DOWN, f"{self.name} is gone")
            return True
        ns.charge(skb, "bridge")
        if dst == self.mac:
            skb.step(self.node, port.name, "BRIDGED", f"{self.name}: to local stack")
            ns.netif_receive(self, skb)  # br_pass_frame_up
        elif dst == BROADCAST_MAC or is_multicast_mac(dst):
            self._flood(port, skb.clone(), "broadcast")
            ns.netif_receive(self, skb)
        else:
            out = self.fdb.get(dst)
            if out is None:
                self._flood(port, skb, f"unknown {mac_str(dst)}")
            elif out is port and not port.hairpin:
                skb.drop(self.node, self.name, DropReason.BRIDGE_HAIRPIN)
            else:
                skb.step(self.node, port.name, "BRIDGED", (_describe_fdb, self.name, dst, out.name))
                self._forward(port, out, skb)
        return True

    def _flood(self, inport: NetDevice, skb: Skb, why: str) -> None:
        targets = [p for p in self.ports if p is not inport or p.hairpin]  # br_flood's should_deliver
        if not targets:
            return
        skb.step(self.node, inport.name, "FLOODED", f"{self.name}: {why} to {len(targets)} ports")
        for i, out in enumerate(targets):
            self._forward(inport, out, skb if i == len(targets) - 1 else skb.clone())

    def _forward(self, inport: NetDevice, out: NetDevice, skb: Skb) -> None:
        assert self.ns is not None
        if self.ns.br_nf_call_iptables and type(skb.frame.payload) is IPv4:
            if not self.ns.br_netfilter_forward(self, skb):
                return
        out.xmit(skb)

    def xmit(self, skb: Skb) -> None:
        """The bridge's own stack sends a frame (e.g. the gateway answering a container)."""
        dst = skb.frame.dst
        out = None if dst == BROADCAST_MAC or is_multicast_mac(dst) else self.fdb.get(dst)
        if out is not None:
            skb.step(self.node, self.name, "TRANSMITTED", f"fdb -> {out.name}")
            out.xmit(skb)
            return
        targets = list(self.ports)
        for i, port in enumerate(targets):
            port.xmit(skb if i == len(targets) - 1 else skb.clone())

    def learned(self) -> object:
        return self.fdb

    def relearn(self, learned: object) -> None:
        self.fdb = learned  # type: ignore[assignment]

    def flush_learned(self) -> None:
        # A new table, so the one ``learned`` handed out stays as it was.
        self.fdb = {m: self.fdb[m] for m in self.static}


def _describe_fdb(bridge: str, dst: int, port: str) -> str:
    return f"{bridge}: fdb {mac_str(dst)} -> {port}"
