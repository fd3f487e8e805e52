"""Per-flow statistics of what the traffic flows sent, as ns-3's FlowMonitor reports them.

One row per flow: packets sent, received and lost (lost = dropped with a reason, or not
delivered by the flow's end), received payload bytes, the delay of what arrived (one way for
``udp``; the round trip for ``ping``), its jitter (the mean difference between consecutive
packets' delays, RFC 3550's idea without its smoothing) and the throughput between the first
and the last arrival; ``drops`` counts the reasons.  A flow that ends by itself (``tcp``) says how
in ``outcome`` (``completed``, ``connect: Connection refused``, ``unfinished: ...``) and, when it
completed, ``completed_s``: from its start to the last byte acknowledged, and ``goodput_bps``:
the bytes it moved over that time (``throughput_bps`` counts every segment that arrived,
retransmissions included).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..simulation import Simulation

__all__ = ["flow_table", "packet_table", "path_kind", "latency_cdf"]

COLUMNS = ["flow", "kind", "src", "dst", "path", "proto", "sent", "received", "lost", "bytes", "delay_min_us",
           "delay_mean_us", "delay_p50_us", "delay_p99_us", "delay_max_us", "jitter_us", "throughput_bps", "drops",
           "outcome", "completed_s", "goodput_bps"]

#: What every packet row has (ping rows add their round trip); an empty table still has them
_PACKET_COLUMNS = ["flow", "kind", "seq", "sent", "src", "dst", "addr", "bytes", "received", "delay_us", "disposition",
                   "detail"]

#: How a flow's path is told apart, from the steps of one probe along it: the first that applies.
PATH_KINDS = (
    ("overlay cross-host", "ENCAPSULATED"),
    ("macvlan", "MACVLAN"),
    ("ipvlan", "IPVLAN"),
    ("NAT", "NAT"),
)


def path_kind(sim: "Simulation", src: str, addr: Optional[str]) -> str:
    """``same-bridge``, ``NAT``, ``overlay same-host``, ``overlay cross-host``, ``macvlan``, ``ipvlan``
    or ``host``: which Docker path a flow takes, from a trace of it (an instant question)."""
    if addr is None:
        return "unresolved"
    trace = sim.trace(src, addr)
    actions = {step[2] for step in trace.steps}
    for kind, action in PATH_KINDS:
        if action in actions:
            return kind
    nodes = [step[0] for step in trace.steps]
    if any(node.startswith("1-") for node in nodes):
        return "overlay same-host"
    return "same-bridge" if "BRIDGED" in actions else "host"


def packet_table(sim: "Simulation") -> "pd.DataFrame":
    import pandas as pd
    rows = sorted(sim._sent, key=lambda r: (r["sent"], r["flow"], r["seq"]))
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=_PACKET_COLUMNS)


def flow_table(sim: "Simulation") -> "pd.DataFrame":
    import numpy as np
    import pandas as pd

    out = []
    for flow in sim.traffic_flows:
        rows = sorted((r for r in sim._sent if r["flow"] == flow.key_path), key=lambda r: r["seq"])
        ping = flow.KIND == "ping"
        got = [r for r in rows if (r["reachable"] if ping else r["disposition"] == "RECEIVED")]
        delays = [r["rtt_us"] if ping else r["delay_us"] for r in got]
        arrivals = [r["sent"] + d / 1e6 for r, d in zip(got, delays)]
        received = sum(r.get("bytes", flow.size) for r in got)
        arrived = {id(r) for r in got}  # by identity: comparing rows as dicts made this quadratic
        lost = [r for r in rows if id(r) not in arrived and r.get("disposition") != "IN_FLIGHT"]
        stats: dict[str, Optional[float]] = dict.fromkeys(COLUMNS[10:17])
        if delays:
            d = np.array(delays, dtype=float)
            stats.update(delay_min_us=float(d.min()), delay_mean_us=round(float(d.mean()), 3),
                         delay_p50_us=round(float(np.percentile(d, 50)), 3),
                         delay_p99_us=round(float(np.percentile(d, 99)), 3), delay_max_us=float(d.max()),
                         jitter_us=round(float(np.abs(np.diff(d)).mean()), 3) if len(d) > 1 else None)
            span = max(arrivals) - min(arrivals)
            stats["throughput_bps"] = round(received * 8 / span, 1) if span > 0 else None
        reasons = Counter(str(r["disposition"]) for r in lost)
        addr = next((r["addr"] for r in rows if r["addr"]), None)
        out.append({"flow": flow.key_path, "kind": flow.KIND, "src": flow.src, "dst": flow.dst,
                    "path": path_kind(sim, flow.src, addr), "proto": "icmp" if ping else flow.KIND, "sent": len(rows), "received": len(got),
                    "lost": len(lost), "bytes": received, **stats,
                    "drops": ", ".join(f"{k}:{v}" for k, v in sorted(reasons.items())),
                    **sim.flow_results.get(flow.key_path, dict.fromkeys(COLUMNS[-3:]))})
    return pd.DataFrame(out, columns=COLUMNS)


def latency_cdf(sim: "Simulation", flows: "pd.DataFrame") -> "Figure":
    """``latency.png``: the distribution of delays, one line per path kind (udp one way, ping
    round trip), as a CDF on a log scale."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    packets = packet_table(sim)
    by_flow = {row.flow: row.path for row in flows.itertuples()}
    delays: dict[str, list[float]] = {}
    for row in packets.to_dict("records"):
        ping = row["kind"] == "ping"
        value = row.get("rtt_us") if ping else row.get("delay_us")
        if value is not None and value == value:  # not NaN
            label = str(by_flow[row["flow"]]) + (" (round trip)" if ping else " (one way)")
            delays.setdefault(label, []).append(float(value))
    for label, values in sorted(delays.items()):
        ordered = np.sort(np.array(values))
        ax.step(ordered, np.arange(1, len(ordered) + 1) / len(ordered), where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("delay (us)")
    ax.set_ylabel("fraction of packets")
    ax.set_title(f"{sim.name}: latency by path")
    ax.grid(True, alpha=0.3)
    if delays:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
