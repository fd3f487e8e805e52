"""Packet captures: ``tcpdump -i IFACE`` on any device of the simulation, as nanosecond pcap.

A capture hears every frame its device receives or sends on the simulation's clock (instant
queries move no frames in time and are not captured), from t = 0 (a swarm's settling before it
is not in the file: pcap has no negative times).  The file is libpcap's nanosecond format
(magic ``a1b23c4d``), link type Ethernet, the bytes ``frames.to_bytes`` makes of each record,
so Wireshark and tshark dissect VXLAN, ESP and 802.1Q tags as on a real wire.  Serialising
happens when the file is written, never on the forwarding path.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ..datapath.frames import to_bytes

if TYPE_CHECKING:
    from ..datapath.device import NetDevice
    from ..datapath.packet import Ether

__all__ = ["Capture", "MAGIC_NANOSECONDS", "LINKTYPE_ETHERNET"]

MAGIC_NANOSECONDS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144


class Capture:
    def __init__(self, where: str, dev: "NetDevice") -> None:
        self.where = where  # "node1:eth0"
        self.dev = dev
        self.records: list[tuple[float, "Ether"]] = []
        dev.taps.append(self._heard)

    def _heard(self, now: float, frame: "Ether") -> None:
        if now >= 0:
            self.records.append((now, frame))

    def stop(self) -> None:
        if self._heard in self.dev.taps:
            self.dev.taps.remove(self._heard)

    @property
    def filename(self) -> str:
        """``pcap/<node>-<iface>.pcap`` without the folder: ``node1-eth0.pcap``."""
        return self.where.replace("/", "_").replace(":", "-") + ".pcap"

    def pcap(self) -> bytes:
        """The capture as a pcap file's bytes."""
        out = [struct.pack("<IHHiIII", MAGIC_NANOSECONDS, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)]
        for now, frame in self.records:
            data = to_bytes(frame)
            ns = round(now * 1e9)
            out.append(struct.pack("<IIII", ns // 1_000_000_000, ns % 1_000_000_000, len(data), len(data)))
            out.append(data)
        return b"".join(out)
