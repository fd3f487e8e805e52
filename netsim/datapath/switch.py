"""The underlay: one learning L2 switch, cabled to every NIC by a ``Link``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .addr import BROADCAST_MAC, is_multicast_mac
from .drop import DropReason
from .link import Link
from .skb import Skb

if TYPE_CHECKING:
    from .device import Nic
    from .world import World


class SwitchPort:
    """One port: the far end of a NIC's cable; what arrives on it goes to the switch's forwarding."""

    def __init__(self, switch: "Switch", index: int) -> None:
        self.switch = switch
        self.index = index
        self.name = f"port{index}"
        self.link: "Link | None" = None

    @property
    def node(self) -> str:
        return self.switch.name

    def rx(self, skb: Skb) -> None:
        self.switch.receive(self.index, skb)

    def xmit(self, skb: Skb) -> None:
        if self.link is not None:
            self.link.transmit(self, skb, self.switch.name)


class Switch:
    def __init__(self, world: "World", name: str, latency: float, bandwidth: float) -> None:
        self.world = world
        self.name = name
        self.latency = latency  # of the cables it plugs in
        self.bandwidth = bandwidth
        self.ports: list[SwitchPort] = []
        self.nics: list["Nic"] = []  # what each port is cabled to, by port index
        self.fdb: dict[int, int] = {}  # MAC -> port
        self.groups: "list[int] | None" = None  # a partition: each port's side; frames cross no sides

    def attach(self, nic: "Nic") -> Link:
        """Plug ``nic`` into a new port with a cable of the switch's latency and bandwidth."""
        port = SwitchPort(self, len(self.ports))
        link = Link(self.world, nic, port, self.latency, self.bandwidth)
        port.link = nic.link = link
        self.ports.append(port)
        self.nics.append(nic)
        return link

    def receive(self, port: int, skb: Skb) -> None:
        frame = skb.frame
        if not is_multicast_mac(frame.src):
            self.fdb[frame.src] = port
        out = self.fdb.get(frame.dst)
        groups = self.groups
        if frame.dst == BROADCAST_MAC or is_multicast_mac(frame.dst) or out is None:
            targets = [p for p in range(len(self.ports)) if p != port and (groups is None or groups[p] == groups[port])]
            skb.step(self.name, f"port{port}", "FLOODED", f"to {len(targets)} ports")
            for i, p in enumerate(targets):
                self.ports[p].xmit(skb if i == len(targets) - 1 else skb.clone())
        elif groups is not None and groups[out] != groups[port]:
            skb.drop(self.name, f"port{port}", DropReason.UNDERLAY_PARTITION,
                     f"{self.nics[port].node} and {self.nics[out].node} are on different sides")
        elif out != port:
            skb.step(self.name, f"port{port}", "SWITCHED", f"-> port{out} ({self.nics[out].node})")
            self.ports[out].xmit(skb)

    def partition(self, sides: "list[list[str]] | None") -> None:
        """Cut the fabric into sides by host name (hosts not listed make one more side); None heals it."""
        if sides is None:
            self.groups = None
            return
        side = {host: index for index, hosts in enumerate(sides) for host in hosts}
        self.groups = [side.get(nic.node, len(sides)) for nic in self.nics]

    def learned(self) -> object:
        return self.fdb

    def relearn(self, learned: object) -> None:
        self.fdb = learned  # type: ignore[assignment]

    def flush_learned(self) -> None:
        self.fdb = {}  # a new table, so the one ``learned`` handed out stays as it was
