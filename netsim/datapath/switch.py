"""The underlay: one learning L2 switch, cabled to every NIC by a ``Link``.

It learns which port each source MAC is behind and forgets an entry ``ageing`` (300 s, the
802.1D default and Linux's ``ageing_time``) after the MAC was last seen; unknown unicast and
broadcast are flooded.  A port never sends a frame back out the port it came in on, unless it
does reflective relay (802.1Qbg, ``hairpin``: what vepa macvlan children need to reach each
other).  With ``mac_filtering`` (a cloud's virtual network) a port accepts only frames from the
MAC its NIC was given, as most clouds do for their VMs: a container's own MAC is dropped (B63).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .addr import BROADCAST_MAC, is_multicast_mac, mac_str
from .drop import DropReason
from .link import Link
from .skb import Skb
from .state import STATE, Versioned

if TYPE_CHECKING:
    from .device import Nic
    from .world import World

FDB_AGEING = 300.0  # seconds


class SwitchPort(Versioned):
    """One port: the far end of a NIC's cable; what arrives on it goes to the switch's forwarding."""

    def __init__(self, switch: "Switch", index: int) -> None:
        self.switch = switch
        self.index = index
        self.name = f"port{index}"
        self.link: "Link | None" = None
        # Reflective relay (frames may go back out this port): on, off, or None for what an
        # administrator sets up for VEPA hosts: on while the NIC has vepa macvlan children.
        self.hairpin: "bool | None" = None
        self.allowed_mac: "int | None" = None  # with MAC filtering, the one source MAC accepted
        # 802.1Q: untagged frames belong to VLAN ``pvid`` (None: untagged frames are dropped) and
        # leave it untagged; ``tagged`` are the VLANs the port carries tagged (None: every one,
        # as an unmanaged switch passes tags through).  An access port: pvid N, tagged empty.
        self.pvid: "int | None" = 1
        self.tagged: "frozenset[int] | None" = None
        # A hypervisor port that is not promiscuous delivers only frames for its NIC's MAC (and
        # broadcasts): a macvlan child's MAC is not among them (B63).
        self.promiscuous = True

    def carries(self, vlan: int) -> bool:
        return vlan == self.pvid or self.tagged is None or vlan in self.tagged

    def ingress_vlan(self, tag: "int | None") -> "int | None":
        """The VLAN a frame arriving here belongs to, or None when the port does not take it."""
        if tag is None:
            return self.pvid
        return tag if self.carries(tag) else None

    @property
    def node(self) -> str:
        return self.switch.name

    def rx(self, skb: Skb) -> None:
        self.switch.receive(self.index, skb)

    @property
    def reflects(self) -> bool:
        if self.hairpin is not None:
            return self.hairpin
        port = self.switch.nics[self.index].upper_port
        return port is not None and any(getattr(c, "mode", "") == "vepa" for c in port.children)

    def xmit(self, skb: Skb) -> None:
        if self.link is not None:
            self.link.transmit(self, skb, self.switch.name)


class Switch(Versioned):
    WATCHED = frozenset({"ports", "nics"})  # not ``fdb``: its refreshes are free, its changes counted

    def __init__(self, world: "World", name: str, latency: float, bandwidth: float) -> None:
        self.world = world
        self.name = name
        self.latency = latency  # of the cables it plugs in
        self.bandwidth = bandwidth
        self.ports: list[SwitchPort] = []
        self.nics: list["Nic"] = []  # what each port is cabled to, by port index
        self.fdb: dict[tuple[int, int], tuple[int, float]] = {}  # (VLAN, MAC) -> (port, when last seen)
        self.ageing = FDB_AGEING
        self.mac_filtering = False
        self.groups: "list[int] | None" = None  # a partition: each port's side; frames cross no sides

    def _seen(self, key: tuple[int, int], port: int, now: float) -> None:
        """A replayed frame refreshes its source's entry, as the frame it replays did."""
        self.fdb[key] = (port, now)

    def attach(self, nic: "Nic") -> Link:
        """Plug ``nic`` into a new port with a cable of the switch's latency and bandwidth."""
        port = SwitchPort(self, len(self.ports))
        port.allowed_mac = nic.mac
        link = Link(self.world, nic, port, self.latency, self.bandwidth)
        port.link = nic.link = link
        self.ports.append(port)
        self.nics.append(nic)
        return link

    def receive(self, port: int, skb: Skb) -> None:
        frame = skb.frame
        inport = self.ports[port]
        if self.mac_filtering and frame.src != inport.allowed_mac:
            skb.drop(self.name, inport.name, DropReason.MAC_FILTERED,
                     f"source {mac_str(frame.src)} is not the MAC of {self.nics[port].node}'s NIC")
            return
        vlan = inport.ingress_vlan(frame.vlan)
        if vlan is None:
            skb.drop(self.name, inport.name, DropReason.VLAN_FILTERED,
                     f"{'untagged' if frame.vlan is None else f'VLAN {frame.vlan}'}: not carried by "
                     f"{self.nics[port].node}'s port")
            return
        now = self.world.sched.now
        fdb = self.fdb
        if not is_multicast_mac(frame.src):
            key = (vlan, frame.src)
            known = fdb.get(key)
            if known is None or known[0] != port:
                STATE.changed()
            fdb[key] = (port, now)
            if skb.recorder is not None:  # datapath.flowcache: a replay refreshes it too
                skb.recorder.touch(self._seen, key, port)
        entry = fdb.get((vlan, frame.dst))
        out = None
        if entry is not None:
            if now - entry[1] > self.ageing:
                del fdb[(vlan, frame.dst)]
                STATE.changed()
            else:
                out = entry[0]
                if skb.recorder is not None:
                    skb.recorder.relies_until(entry[1] + self.ageing)
        groups = self.groups
        if frame.dst == BROADCAST_MAC or is_multicast_mac(frame.dst) or out is None:
            reflect = inport.reflects
            targets = [p for p in range(len(self.ports)) if (p != port or reflect) and self.ports[p].carries(vlan)
                       and (groups is None or groups[p] == groups[port])]
            skb.step(self.name, f"port{port}", "FLOODED", f"to {len(targets)} ports" + (f" of VLAN {vlan}"
                                                                                       if vlan != 1 else ""))
            for i, p in enumerate(targets):
                self._egress(p, vlan, skb if i == len(targets) - 1 else skb.clone())
        elif groups is not None and groups[out] != groups[port]:
            skb.drop(self.name, f"port{port}", DropReason.UNDERLAY_PARTITION,
                     f"{self.nics[port].node} and {self.nics[out].node} are on different sides")
        elif out != port or inport.reflects:
            skb.step(self.name, f"port{port}", "SWITCHED", (_describe_switched, frame.dst, out, self.nics[out].node,
                                                              vlan, out == port))
            self._egress(out, vlan, skb)
        else:
            skb.drop(self.name, f"port{port}", DropReason.BRIDGE_HAIRPIN,
                     f"{mac_str(frame.dst)} is behind the port it came in on")

    def _egress(self, port: int, vlan: int, skb: Skb) -> None:
        """Out of ``port``: untagged in its pvid, tagged otherwise (it carries ``vlan``: learning
        only puts a MAC behind a port that took the frame, and floods pick carrying ports)."""
        out = self.ports[port]
        dst = skb.frame.dst
        if not out.promiscuous and dst != out.allowed_mac and dst != BROADCAST_MAC and not is_multicast_mac(dst):
            skb.drop(self.name, out.name, DropReason.MAC_FILTERED,
                     f"{self.nics[port].node}'s port is not promiscuous: {mac_str(dst)} is not its NIC's MAC")
            return
        tag = None if vlan == out.pvid else vlan
        if skb.frame.vlan != tag:
            skb.frame = skb.frame._replace(vlan=tag)
        out.xmit(skb)

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


def _describe_switched(dst: int, port: int, node: str, vlan: int, reflected: bool) -> str:
    where = f"{mac_str(dst)} learned on port{port} ({node})" + (f" in VLAN {vlan}" if vlan != 1 else "")
    return where + (", reflected" if reflected else "")
