"""Reachability over time: every cell of the tables that changes, when, and what caused it.

The simulation notes each change of forwarding state with its cause (a timeline event, what
memberlist or NetworkDB learned on a node).  Walking the clock in ``step`` slices, the address
and by-name tables are recomputed after each slice in which something changed, and compared
with the previous ones: a row per cell whose disposition moved, stamped with the time of the
last change of the slice.  Two flips inside one slice (up and back down) are not seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

import pandas as pd

from ..errors import NetsimError

if TYPE_CHECKING:
    from ..simulation import Simulation

__all__ = ["CHANGE_COLUMNS", "reachability_changes"]

CHANGE_COLUMNS = ["time", "src", "dst", "addr", "name", "network", "old", "new", "cause"]
_MAX_CAUSES = 3


def _cells(sim: "Simulation") -> dict[tuple[str, str, str, str, str], str]:
    """(src, dst, addr, name, network) -> disposition, for both tables."""
    cells: dict[tuple[str, str, str, str, str], str] = {}
    table = sim.reachability()
    for src, dst, addr, network, disposition in zip(table.src, table.dst, table.addr, table.network,
                                                    table.disposition):
        cells[(str(src), str(dst), str(addr), "", str(network))] = str(disposition)
    names = sim.reachability_by_name()
    for src, name, dst, addr, network, disposition in zip(names.src, names.name, names.dst, names.addr,
                                                          names.network, names.disposition):
        # A name's row is keyed by who asks and what for; whom it reaches is part of the answer.
        cells[(str(src), "", "", str(name), "")] = f"{disposition}" + (f" -> {dst} {addr}" if dst else "")
    return cells


def reachability_changes(sim: "Simulation", until: Union[float, str], step: float = 0.1) -> pd.DataFrame:
    from ..simulation import seconds

    end = seconds(until)
    if step <= 0:
        raise NetsimError(f"step={step!r}: the slices must last more than zero seconds")
    rows: list[tuple[object, ...]] = []
    seen = len(sim.changes)
    previous = _cells(sim)
    t = sim.now
    while t < end:
        t = min(end, round(t + step, 9))
        sim.run(t)
        fresh = sim.changes[seen:]
        if not fresh:
            continue
        seen = len(sim.changes)
        causes = list(dict.fromkeys(cause for _, cause in fresh))
        cause = "; ".join(causes[:_MAX_CAUSES]) + (f"; ... ({len(causes)} in all)" if len(causes) > _MAX_CAUSES else "")
        when = fresh[-1][0]
        current = _cells(sim)
        for key in sorted(previous.keys() | current.keys()):
            old, new = previous.get(key, ""), current.get(key, "")
            if old != new:
                src, dst, addr, name, network = key
                rows.append((when, src, dst, addr, name, network, old, new, cause))
        previous = current
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)
