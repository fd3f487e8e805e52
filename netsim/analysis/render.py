"""Reachability tables made readable: a text grid, JSON and CSV text, a heatmap, ping statistics.

Each function takes a table (``reachability`` or ``reachability_by_name``) and returns text or
a matplotlib ``Figure``; nothing here prints or touches pyplot's global state, so the CLI, the
results writer and a notebook share the same renderings.  Serialisations are byte-stable: the
same table always gives the same bytes (sorted JSON keys, pinned float format, PNG metadata
without a version or timestamp), which is what makes ``netsim run`` folders diffable.
"""

from __future__ import annotations

import io
import json
import zlib
import math
import os
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .disposition import ACCEPTED

if TYPE_CHECKING:
    from ..simulation import Simulation
    from .trace import PingResult

__all__ = ["records", "to_json", "to_csv", "disposition_counts", "summary", "grid", "grid_report", "LEGEND",
           "heatmap", "save_png", "disposition_colours", "title", "ping_statistics", "ports_report"]

# Twelve significant digits keep every rtt_us (microseconds, rounded to 0.001) exact while
# pinning the text, whatever pandas' default float repr becomes.
FLOAT_FORMAT = "%.12g"

# ---- serialisation ----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-ready Python value: numpy scalars unwrapped, NaN (no RTT) as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The table as a list of row objects, the shape ``reachability.json`` holds."""
    return [{str(k): _plain(v) for k, v in row.items()} for row in df.to_dict("records")]


def to_json(df: pd.DataFrame) -> str:
    return json.dumps(records(df), indent=2, allow_nan=False) + "\n"  # keys in column order


def to_csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def title(sim: "Simulation", at: Optional[float] = None) -> str:
    """What a rendering shows above itself: topology, engine profile and the instant (default: now)."""
    return f"{sim.name}: engine {sim.profile.version}, t={sim.now if at is None else at:g}s"


# ---- counts ----------------------------------------------------------------------------------


def ports_report(df: pd.DataFrame, title: str) -> str:
    """The ports table as lines: ``web -> node1 192.168.100.11 tcp/8080: ACCEPTED (answered by web)``."""
    lines = [title, ""]
    for row in df.to_dict("records"):
        who = f" (answered by {row['responder']})" if row["responder"] else ""
        lines.append(f"{row['src']} -> {row['dst']} {row['addr']} {row['proto']}/{row['port']} ({row['network']}): "
                     f"{row['disposition']}{who}")
    if len(df) == 0:
        lines.append("no listening ports: publish or expose some (ports:, expose:)")
    lines += ["", summary(df)]
    return "\n".join(lines) + "\n"


def disposition_counts(df: pd.DataFrame) -> dict[str, int]:
    """Rows per disposition, most frequent first (ties by name), so summaries read the same every run."""
    counts = df["disposition"].value_counts()
    # A categorical column also counts the categories no row uses; they are not dispositions seen.
    return {str(name): int(n) for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n}


def summary(df: pd.DataFrame) -> str:
    """``60 probes: 28 reachable, 32 unreachable`` and a line of per-disposition counts."""
    reachable = int(df["reachable"].sum())
    head = f"{len(df)} probes: {reachable} reachable, {len(df) - reachable} unreachable"
    counts = ", ".join(f"{name} {n}" for name, n in disposition_counts(df).items())
    return f"{head}\n{counts}" if counts else head


def flow_summary(flows: pd.DataFrame) -> str:
    """One line per traffic flow: what it sent and what came of it, as ``flows.csv`` has it."""
    lines = []
    for row in flows.to_dict("records"):
        line = f"{row['flow']} {row['src']} -> {row['dst']} ({row['path']}): {row['sent']} sent, {row['received']} received"
        if row["lost"]:
            line += f", {row['lost']} lost ({row['drops']})"
        p50, p99 = row["delay_p50_us"], row["delay_p99_us"]
        if isinstance(p50, float) and p50 == p50:  # not NaN: something arrived
            line += f"; {'round trip' if row['kind'] == 'ping' else 'delay'} p50 {p50:g} us, p99 {p99:g} us"
        if isinstance(row["outcome"], str):
            done = row["outcome"] == "completed"
            line += f"; {row['outcome']}" + (f" in {row['completed_s']:g} s" if done else "")
        lines.append(line)
    return "\n".join(lines)


# ---- text grid (Mininet's pingAll, cyclonus' truth tables) -------------------------------------

LEGEND = "legend: . all addresses reachable   ~ some   X none   - self   (blank) nothing to probe"


def _column_key(df: pd.DataFrame) -> str:
    """By-name tables have one column per name asked; address tables one per destination endpoint."""
    return "name" if "name" in df.columns else "dst"


def _cell(reachable: pd.Series) -> str:
    if reachable.all():
        return "."
    return "~" if reachable.any() else "X"


def _ordered(values: pd.Series, order: Sequence[str]) -> list[str]:
    """Distinct ``values`` in ``order``, then any that ``order`` lacks in table order."""
    present = dict.fromkeys(values)
    first = [name for name in order if name in present]
    return first + [name for name in present if name not in set(first)]


def grid(df: pd.DataFrame, endpoints_order: Sequence[str]) -> str:
    """Rows are sources, columns destinations (or names, for a by-name table), in ``endpoints_order``.

    A cell is ``.`` when every address of the destination answered, ``X`` when none did and
    ``~`` when some did; ``-`` marks a source facing itself.
    """
    key = _column_key(df)
    columns = _ordered(df[key], endpoints_order if key == "dst" else ())
    rows = _ordered(df["src"], endpoints_order)
    # observed=True: with categorical columns pandas would otherwise invent every (src, column) pair.
    groups = df.groupby(["src", key], sort=False, observed=True)["reachable"]
    cells = {pair: _cell(group) for pair, group in groups}
    width = max((len(r) for r in rows), default=0)
    lines = [" " * width + "  " + " ".join(columns)]
    for src in rows:
        marks = [cells.get((src, col), "-" if col == src else " ").ljust(len(col)) for col in columns]
        lines.append(f"{src.ljust(width)}  {' '.join(marks)}".rstrip())
    return "\n".join(lines)


def grid_report(df: pd.DataFrame, endpoints_order: Sequence[str], title: str) -> str:
    """Title, grid, legend and counts: what ``netsim reach`` prints and ``grid.txt`` holds."""
    return f"{title}\n\n{grid(df, endpoints_order)}\n\n{LEGEND}\n{summary(df)}\n"


# ---- heatmap ---------------------------------------------------------------------------------

_ACCEPTED_COLOUR = "#2ca02c"
# Distinct from green and from each other; the first ones are tab10's, then lighter tab20 shades.
_PALETTE = ("#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
            "#ff9896", "#aec7e8", "#ffbb78", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
            "#393b79")
_EMPTY_COLOUR = "#ffffff"
# Beyond this many sources or columns tick labels overlap into noise; the colours still tell the story.
_MAX_LABELLED_ROWS = 40
_MAX_LABELLED_COLUMNS = 60
_DPI = 100


#: One colour per disposition whatever else a table holds, so pictures of two topologies, or of
#: one before and after a change, can be compared by eye.
_FIXED_COLOURS = dict(zip(
    ("OTHER_RESPONDER", "NO_ROUTE", "ISOLATED", "DIRECT_ACCESS_DENIED", "ICC_DISABLED", "INTERNAL_NETWORK",
     "DENIED", "NEIGH_FAILED", "LINK_DOWN", "NOT_FORWARDING", "NO_REPLY", "REFUSED", "NAME_UNRESOLVED",
     "NO_DNS_ON_DEFAULT_BRIDGE", "MARTIAN_SOURCE", "TTL_EXPIRED", "NO_SOCKET", "BRIDGE_HAIRPIN", "NO_NETWORK"),
    _PALETTE,
))


def disposition_colours(dispositions: Sequence[str]) -> dict[str, str]:
    """The colour of each disposition present: ACCEPTED green, the others fixed by name.

    A name outside the table (a new drop reason) gets a palette colour from a hash of the name,
    so it too is the same in every picture.
    """
    colours = {}
    for name in sorted(set(dispositions)):
        if name == ACCEPTED:
            colours[name] = _ACCEPTED_COLOUR
        else:
            colours[name] = _FIXED_COLOURS.get(name) or _PALETTE[zlib.crc32(name.encode()) % len(_PALETTE)]
    return colours


def _hex_rgb(colour: str) -> tuple[float, float, float]:
    return tuple(int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


class NetsimFigure(Figure):
    """A Figure that notebooks show as a picture even though pyplot (and its inline backend) never ran."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        save_png(self, buffer)
        return buffer.getvalue()


def heatmap(df: pd.DataFrame, title: str) -> Figure:
    """Sources down, one column per (destination, address) across, one colour per disposition.

    Built on a bare ``Figure`` with an Agg canvas (never pyplot), so notebooks can display it
    and scripts can save it without a GUI or global state.
    """
    sources = list(dict.fromkeys(df["src"]))
    order = {name: i for i, name in enumerate(dict.fromkeys(list(df["src"]) + list(df["dst"])))}
    pairs = sorted(dict.fromkeys(zip(df["dst"], df["addr"])), key=lambda p: order[p[0]])
    col_of = {pair: i for i, pair in enumerate(pairs)}
    row_of = {name: i for i, name in enumerate(sources)}
    colours = disposition_colours(list(df["disposition"]))

    image = np.ones((len(sources), len(pairs), 3))
    image[:, :] = _hex_rgb(_EMPTY_COLOUR)
    for src, dst, addr, disposition in zip(df["src"], df["dst"], df["addr"], df["disposition"]):
        image[row_of[src], col_of[(dst, addr)]] = _hex_rgb(colours[disposition])

    labelled = len(sources) <= _MAX_LABELLED_ROWS and len(pairs) <= _MAX_LABELLED_COLUMNS
    width = 3.5 + 0.32 * len(pairs) if labelled else 14.0
    height = 2.5 + 0.3 * len(sources) if labelled else 11.0
    fig = NetsimFigure(figsize=(max(width, 6.0), max(height, 4.0)), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if not len(df):
        # A topology with fewer than two endpoints probes nothing; the picture says so instead of failing.
        ax.text(0.5, 0.5, "no probes: the topology has no pair of endpoints", ha="center", va="center",
                transform=ax.transAxes)
    else:
        ax.imshow(image, aspect="auto", interpolation="nearest")
    if labelled and len(df):
        ax.set_xticks(range(len(pairs)), [f"{dst}\n{addr}" for dst, addr in pairs], rotation=90, fontsize=7)
        ax.set_yticks(range(len(sources)), sources, fontsize=8)
        # White lines between cells, so neighbouring cells of one colour still read as separate probes.
        ax.set_xticks(np.arange(-0.5, len(pairs)), minor=True)
        ax.set_yticks(np.arange(-0.5, len(sources)), minor=True)
        ax.grid(which="minor", color="white", linewidth=1)
        ax.tick_params(which="minor", length=0)
    elif len(df):
        # Too many cells for a label each: label every k-th, so the labels stay legible at any size.
        xs = range(0, len(pairs), math.ceil(len(pairs) / _MAX_LABELLED_COLUMNS))
        ys = range(0, len(sources), math.ceil(len(sources) / _MAX_LABELLED_ROWS))
        ax.set_xticks(list(xs), [f"{pairs[i][0]} {pairs[i][1]}" for i in xs], rotation=90, fontsize=6)
        ax.set_yticks(list(ys), [sources[i] for i in ys], fontsize=6)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_xlabel("destination (address)")
    ax.set_ylabel("source")
    ax.set_title(title)
    names = sorted(colours, key=lambda name: (name != ACCEPTED, name))
    if names:
        ax.legend(handles=[Patch(color=colours[name], label=name) for name in names], loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8)
    return fig


def save_png(fig: Figure, path: "str | os.PathLike[str] | io.BytesIO") -> None:
    """Write the figure as PNG bytes that depend only on the figure (no software tag, no timestamp)."""
    fig.savefig(path, format="png", dpi=_DPI, metadata={"Software": None})


# ---- ping ------------------------------------------------------------------------------------


def ping_statistics(dst: str, results: Sequence["PingResult"]) -> str:
    """The closing lines of ping(8): packets sent, received and lost, then RTT min/avg/max in µs."""
    rtts = [r.rtt * 1e6 for r in results if r.reachable and r.rtt is not None]
    sent = len(results)
    loss = 100 * (sent - len(rtts)) / sent if sent else 0.0
    lines = [f"--- {dst} ping statistics ---",
             f"{sent} packets transmitted, {len(rtts)} received, {loss:g}% packet loss"]
    if rtts:
        lines.append(f"rtt min/avg/max = {min(rtts):.3f}/{sum(rtts) / len(rtts):.3f}/{max(rtts):.3f} us")
    return "\n".join(lines)
