"""The underlay: one learning L2 switch with a cable (latency, bandwidth) to every NIC."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .addr import BROADCAST_MAC, is_multicast_mac
from .skb import Skb

if TYPE_CHECKING:
    from .device import Nic
    from .world import World

# Preamble 8 + FCS 4 + inter-frame gap 12, and the 60-byte minimum frame: what a frame
# really occupies on Ethernet, so serialisation delay is not underestimated for pings.
_WIRE_OVERHEAD = 24
_MIN_FRAME = 60


class Switch:
    def __init__(self, world: "World", name: str, latency: float, bandwidth: float) -> None:
        self.world = world
        self.name = name
        self.latency = latency
        self.bandwidth = bandwidth
        self.ports: list["Nic"] = []
        self.fdb: dict[int, int] = {}  # MAC -> port

    def attach(self, nic: "Nic") -> None:
        nic.switch = self
        nic.port = len(self.ports)
        self.ports.append(nic)

    def wire_delay(self, skb: Skb) -> float:
        size = max(skb.frame.length, _MIN_FRAME) + _WIRE_OVERHEAD
        return self.latency + size * 8 / self.bandwidth

    def transmit_to_switch(self, port: int, skb: Skb) -> None:
        self.world.sched.call_later(self.wire_delay(skb), self.receive, port, skb)

    def receive(self, port: int, skb: Skb) -> None:
        frame = skb.frame
        if not is_multicast_mac(frame.src):
            self.fdb[frame.src] = port
        out = self.fdb.get(frame.dst)
        if frame.dst == BROADCAST_MAC or is_multicast_mac(frame.dst) or out is None:
            targets = [p for p in range(len(self.ports)) if p != port]
            skb.step(self.name, f"port{port}", "FLOODED", f"to {len(targets)} ports")
            for i, p in enumerate(targets):
                self._send(p, skb if i == len(targets) - 1 else skb.clone())
        elif out != port:
            skb.step(self.name, f"port{port}", "SWITCHED", f"-> port{out} ({self.ports[out].node})")
            self._send(out, skb)

    def _send(self, port: int, skb: Skb) -> None:
        nic = self.ports[port]
        self.world.sched.call_later(self.wire_delay(skb), nic.rx, skb)

    def learned(self) -> object:
        return self.fdb

    def relearn(self, learned: object) -> None:
        self.fdb = learned  # type: ignore[assignment]

    def flush_learned(self) -> None:
        self.fdb = {}  # a new table, so the one ``learned`` handed out stays as it was
