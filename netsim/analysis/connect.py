"""Connections, not pings: does a TCP handshake (or a UDP exchange) complete, and who answered.

``connect`` opens ``count`` connections from one endpoint to an address and port, one after the
other at one instant, each from a new ephemeral port as a client's successive connections are.
They share what they teach the datapath (conntrack, IPVS's connection table and its round-robin
position), so connections to a service's VIP or a routing-mesh port show IPVS spreading them;
the timed world is left as it was, as every instant question leaves it.

For each attempt: whether it connected (a SYN-ACK, or the echoed datagram), the disposition
when not, the endpoint whose stack answered (a task's Docker name: ``web.2.<task id>``), and
the source address that endpoint saw, which is how a VIP's SNAT (B59) and the routing mesh's
(T11) show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..datapath.addr import ip_str
from ..datapath.probe import Probe
from .disposition import classify
from .reachability import PING_TIMEOUT, Prober
from .trace import aim

if TYPE_CHECKING:
    import pandas as pd

    from ..datapath.netns import Namespace
    from ..simulation import Simulation

__all__ = ["connect", "CONNECT_COLUMNS"]

CONNECT_COLUMNS = ["attempt", "src", "dst", "addr", "port", "proto", "connected", "disposition", "answered_by",
                   "source_seen", "detail"]


def connect(sim: "Simulation", src: str, dst: str, port: int, proto: str = "tcp", count: int = 1) -> "pd.DataFrame":
    """One row per attempt (``attempt`` from 1)."""
    import pandas as pd

    if proto not in ("tcp", "udp"):
        raise ValueError(f"proto must be tcp or udp, not {proto!r}")
    target = aim(sim, src, dst)
    rows = []
    if target.addr is None:
        rows = [_row(n, src, dst, "", port, proto, False, target.how, "", "", f"{dst}: NXDOMAIN")
                for n in range(1, count + 1)]
        return pd.DataFrame(rows, columns=CONNECT_COLUMNS)
    ns = sim.endpoint(src).ns
    with Prober(sim) as prober:
        for n in range(1, count + 1):
            probe = prober.send(ns, target.addr, proto, port)
            reachable, disposition, detail, _ = classify(probe, probe.responder, PING_TIMEOUT)
            rows.append(_row(n, src, dst, str(target.addr), port, proto, reachable, disposition,
                             _name(sim, probe.responder), _seen(probe), detail))
    return pd.DataFrame(rows, columns=CONNECT_COLUMNS)


def _row(*values: object) -> dict[str, object]:
    return dict(zip(CONNECT_COLUMNS, values))


def _name(sim: "Simulation", ns: Optional["Namespace"]) -> str:
    """The endpoint a namespace is, as the tables name it."""
    if ns is None:
        return ""
    for ctr in sim.containers():
        if ctr.ns is ns:
            return sim.display_name(ctr)
    return f"{ns.host}/{ns.name}" if ns.host and ns.host != ns.name else ns.name


def _seen(probe: Probe) -> str:
    """The source address of the probe as the answering stack received it."""
    responder = probe.responder
    if responder is None:
        return ""
    for node, _, action, _, frame in probe.reply_steps:
        if node == responder.name and action == "DELIVERED":
            pkt = getattr(frame, "payload", None)
            src = getattr(pkt, "src", None)
            if isinstance(src, int):
                return ip_str(src)
    return ""
