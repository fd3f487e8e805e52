"""802.1Q VLAN sub-interfaces (net/8021q): ``eth0.10`` tags what it sends and gets what is tagged 10.

A vlan device shares its lower's MAC and MTU.  What it transmits leaves by the lower with the
VLAN id in the frame's 802.1Q tag (``vlan_dev_hard_start_xmit``).  What the lower receives
tagged goes, untagged, to the vlan device of that id before any rx handler of the lower sees it
(``vlan_do_receive``, in ``NetDevice.rx``), so a macvlan network on ``eth0.10`` hears only
VLAN 10; a tagged frame for an id without a device stays on the lower as for another host and
dies there.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from .device import NetDevice
from .skb import Skb

if TYPE_CHECKING:
    from .world import World

__all__ = ["Vlan"]


class Vlan(NetDevice):
    kind = "vlan"

    def __init__(self, world: "World", name: str, lower: NetDevice, vid: int) -> None:
        if not 1 <= vid <= 4094:
            raise ValueError(f"VLAN id {vid} is outside 1-4094")
        if vid in lower.vlans:
            raise OSError(errno.EEXIST, "File exists")  # register_vlan_dev: one device per id and lower
        super().__init__(world, name, lower.mac, lower.mtu)
        self.lower = lower
        self.vid = vid
        lower.vlans[vid] = self

    def close(self) -> None:
        """``ip link del``: the id is free again on its lower."""
        if self.lower.vlans.get(self.vid) is self:
            del self.lower.vlans[self.vid]

    def xmit(self, skb: Skb) -> None:
        if not self.sending(skb):
            return
        skb.frame = skb.frame._replace(vlan=self.vid)
        skb.step(self.node, self.name, "VLAN", f"tagged {self.vid}, out by {self.lower.name}")
        self.lower.xmit(skb)
