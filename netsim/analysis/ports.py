"""The ports table: who reaches which listening port, over TCP and UDP, and who answers it.

A port is probed where something listens: a container's published or exposed ports on its own
addresses, and the host ports the daemon holds for published ports (docker-proxy) on the host's
addresses, or on the one address a binding names.  Every other endpoint sends a TCP SYN or a
UDP datagram there.  ``responder`` says whose stack answered: the container behind a DNAT, the
host's docker-proxy, or another machine that owns the same address.  A TCP RST or an ICMP port
unreachable is ``REFUSED``; silence and drops keep their usual dispositions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..datapath.addr import ip
from .disposition import ACCEPTED, REFUSED, outcome, path_of
from .reachability import PING_TIMEOUT, Prober

if TYPE_CHECKING:
    from ..simulation import Simulation

__all__ = ["PORT_COLUMNS", "ports"]

PORT_COLUMNS = ["src", "dst", "addr", "network", "proto", "port", "reachable", "disposition", "responder", "detail",
                "path"]


def ports(sim: "Simulation") -> pd.DataFrame:
    """One row per (source endpoint, destination endpoint, address, protocol, listening port)."""
    views = sim.endpoints()
    targets = []
    for view in views:
        for proto, bound, port in sorted(view.ns.listening):
            if proto not in ("tcp", "udp"):
                continue  # SCTP is published but not probed
            for addr, network in view.addresses:
                if bound in (0, ip(addr)):
                    targets.append((view, addr, network, proto, port))
    rows = []
    with Prober(sim) as prober:
        for src in views:
            for dst, addr, network, proto, port in targets:
                if dst.ns is src.ns:
                    continue  # itself, or a host-mode container and its host: one namespace
                probe = prober.probe(src.ns, addr, proto, port)
                responder, disposition, detail, steps = outcome(probe, PING_TIMEOUT)
                if disposition == REFUSED:
                    responder = probe.responder  # who said no is worth knowing too
                rows.append((src.name, dst.name, str(addr), network, proto, port, disposition == ACCEPTED,
                             disposition, responder.name if responder is not None else "", detail, path_of(steps)))
    return pd.DataFrame(rows, columns=PORT_COLUMNS)
