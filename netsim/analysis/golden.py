"""A reachability table against a stored golden CSV: which cells changed, said in one line each.

The contract of a table is who reaches whom on which network and why not: ``src, dst,
network, reachable, disposition`` (by-name tables add ``name`` and the answer's ``dst``).
Addresses, RTTs, hop paths and details are informative and may change without breaking
anything: adding a container shifts first-fit addresses, and no pair that existed changed.
The actual ``detail`` is only quoted next to a changed cell to say what happened.  Rows are
matched by key (``src, dst, network``, or ``src, name`` for by-name tables), so reordering
rows is not a change; an endpoint that appears or disappears is reported once, not row by
row.

``compare`` returns a ``GoldenDiff`` (data, with a readable ``__str__``);
``assert_reachability_matches`` is the pytest and notebook face of it, in the manner of
pybatfish's ``assert_flows_*``.
"""

from __future__ import annotations

import os
import warnings
from ipaddress import IPv4Address
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
import pandas as pd

from ..errors import NetsimError
from .disposition import ACCEPTED

__all__ = ["CONTRACT", "NAME_CONTRACT", "PORT_CONTRACT", "read_golden", "write_golden", "golden_kind", "compare", "GoldenDiff", "Change",
           "assert_reachability_matches", "ReachabilityMismatch", "ReachabilityMismatchWarning"]

CONTRACT = ("src", "dst", "network", "reachable", "disposition")
NAME_CONTRACT = ("src", "name", "dst", "network", "reachable", "disposition")
_KEY = ("src", "dst", "network")
_NAME_KEY = ("src", "name")
PORT_CONTRACT = ("src", "dst", "network", "proto", "port", "reachable", "disposition", "responder")
_PORT_KEY = ("src", "dst", "network", "proto", "port")
_SHOWN = ("addr",)  # carried along to label rows, never compared

Row = dict[str, Any]
Golden = Union[str, "os.PathLike[str]", pd.DataFrame]


#: The three kinds of table, told apart by a column: (marker column, kind, the call, the CLI flag).
_KINDS = (("name", "by-name", "reachability_by_name()", "--by-name"), ("port", "ports", "ports()", "--ports"),
          ("", "by-address", "reachability()", "neither --by-name nor --ports"))


def _kind(df: pd.DataFrame) -> tuple[str, str, str, str]:
    return next(k for k in _KINDS if not k[0] or k[0] in df.columns)


def _contract(df: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(compared columns, key columns) of a table, by its kind."""
    marker = _kind(df)[0]
    if marker == "name":
        return NAME_CONTRACT, _NAME_KEY
    if marker == "port":
        return PORT_CONTRACT, _PORT_KEY
    return CONTRACT, _KEY


def read_golden(path: "str | os.PathLike[str]") -> pd.DataFrame:
    """Read a golden CSV as written (every cell text, empty cells empty, never NaN)."""
    where = f"cannot read golden table {os.fspath(path)}"
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise NetsimError(f"golden table {os.fspath(path)} does not exist (fix: write it with netsim reach "
                          f"TOPOLOGY --write-golden {os.fspath(path)}, or write_golden(table, path), and review it)"
                          ) from None
    except OSError as err:
        raise NetsimError(f"{where}: {err.strerror} (fix: check the path; goldens live in "
                          "tests/golden/<topology>/)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        reason = str(err).strip().removeprefix("Error tokenizing data. C error: ")
        raise NetsimError(f"{where}: it is not a reachability CSV ({reason}) (fix: give a table written by "
                          "netsim reach --csv or a results folder's reachability.csv)") from None


def write_golden(table: pd.DataFrame, path: "str | os.PathLike[str]") -> int:
    """Store ``table`` as a golden CSV (the contract columns and the address), atomically; return its rows."""
    columns, _ = _contract(table)
    shown = [c for c in (*columns[:-3], "addr", *columns[-3:]) if c in table.columns]
    target = os.fspath(path)
    staging = f"{target}.tmp-{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        with open(staging, "w", encoding="utf-8", newline="") as out:
            out.write(table[shown].to_csv(index=False, lineterminator="\n"))
        os.replace(staging, target)
    except OSError as err:
        if os.path.exists(staging):
            os.unlink(staging)
        raise NetsimError(f"cannot write golden table {target}: {err.strerror} (fix: check the folder)") from None
    return len(table)


def golden_kind(golden: Golden) -> str:
    """``by-address``, ``by-name`` or ``ports``: which table a golden (a DataFrame or a CSV path) holds."""
    return _kind(golden if isinstance(golden, pd.DataFrame) else read_golden(golden))[1]


def _reachable(value: Any, where: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise NetsimError(f"{where}: reachable must be True or False, got {value!r}")


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _records(df: pd.DataFrame, columns: tuple[str, ...], where: str) -> list[Row]:
    """The rows with contract values normalised (text, and a real bool for ``reachable``)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise NetsimError(f"{where} lacks column(s) {', '.join(missing)}; a golden table needs {', '.join(columns)} "
                          "(fix: write it with netsim reach --csv, or copy a results folder's reachability.csv)")
    rows = []
    for raw in df.to_dict("records"):
        row = {c: _reachable(raw[c], where) if c == "reachable" else _text(raw[c]) for c in columns}
        row["detail"] = _text(raw.get("detail"))
        row.update({c: _text(raw.get(c)) for c in _SHOWN})
        rows.append(row)
    return rows


def _by_key(rows: list[Row], key: tuple[str, ...], ambiguous: set[tuple[str, ...]],
            where: str) -> dict[tuple[str, ...], Row]:
    """Rows by key.  A key that several rows share (an endpoint with two addresses on one
    network) is told apart by the rank of the row's address among them, which neither a
    reordering of rows nor a renumbering that shifts addresses together changes; the same row
    twice is an error."""
    ranks: dict[int, int] = {}
    counts: dict[tuple[str, ...], int] = {}
    for i in sorted(range(len(rows)), key=lambda i: _address_order(rows[i].get("addr", ""))):
        k = tuple(str(rows[i][c]) for c in key)
        if k in ambiguous:
            ranks[i] = counts.get(k, 0)
            counts[k] = ranks[i] + 1
    out: dict[tuple[str, ...], Row] = {}
    seen: set[tuple[str, ...]] = set()
    for i, row in enumerate(rows):  # in table order, which is the order changes are listed in
        k = tuple(str(row[c]) for c in key)
        whole = k + (row.get("addr", ""),)
        if whole in seen:
            names = key + ("addr",)
            raise NetsimError(f"{where} has two rows for {', '.join(f'{c}={v}' for c, v in zip(names, whole))}")
        seen.add(whole)
        out[k + (str(ranks[i]),) if i in ranks else k] = row
    return out


def _address_order(text: str) -> tuple[int, str]:
    try:
        return int(IPv4Address(text)), ""
    except ValueError:
        return -1, text


def _shared_keys(rows: list[Row], key: tuple[str, ...]) -> set[tuple[str, ...]]:
    seen: set[tuple[str, ...]] = set()
    shared: set[tuple[str, ...]] = set()
    for row in rows:
        k = tuple(str(row[c]) for c in key)
        (shared if k in seen else seen).add(k)
    return shared


def _label(row: Row) -> str:
    """``web -> db 172.18.0.3 (front)``, or ``web -> backend = api 172.18.0.3 (front)`` by name."""
    addr = f" {row['addr']}" if row.get("addr") else ""
    if "name" in row:
        target = f" = {row['dst']}{addr} ({row['network']})" if row["dst"] else ""
        return f"{row['src']} -> {row['name']}{target}"
    return f"{row['src']} -> {row['dst']}{addr} ({row['network']})"


def _state(row: Row) -> str:
    """The disposition, plus the reachable flag where the disposition alone would not say it."""
    if row["reachable"] != (row["disposition"] == ACCEPTED):
        return f"{row['disposition']} ({'reachable' if row['reachable'] else 'unreachable'})"
    return str(row["disposition"])


def _detail(row: Row) -> str:
    return f"  [{row['detail']}]" if row["detail"] else ""


@dataclass(frozen=True)
class Change:
    """One cell that differs: ``golden`` is None for an extra row, ``actual`` None for a missing one."""

    golden: Optional[Row]
    actual: Optional[Row]

    def __str__(self) -> str:
        if self.actual is None:
            assert self.golden is not None
            return f"missing: {_label(self.golden)}: was {_state(self.golden)}"
        if self.golden is None:
            return f"extra: {_label(self.actual)}: now {_state(self.actual)}{_detail(self.actual)}"
        parts = []
        if _state(self.golden) != _state(self.actual):
            parts.append(f"was {_state(self.golden)}, now {_state(self.actual)}")
        for column in ("name", "dst", "network"):
            if column in self.actual and self.golden[column] != self.actual[column]:
                parts.append(f"{column} was {self.golden[column] or '-'}, now {self.actual[column] or '-'}")
        return f"{_label(self.actual)}: {'; '.join(parts)}{_detail(self.actual)}"


@dataclass(frozen=True)
class GoldenDiff:
    """Every change between a golden table and an actual one: missing rows, extra rows, changed cells.

    ``added`` and ``removed`` are endpoints only one of the two tables has; their rows are among
    the extra and missing ones but are summarised, one line per endpoint.
    """

    golden_name: str
    golden_rows: int
    changes: tuple[Change, ...]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.changes

    @property
    def missing(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.actual is None)

    @property
    def extra(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.golden is None)

    @property
    def changed(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.golden is not None and c.actual is not None)

    def __str__(self) -> str:
        if self.ok:
            return f"matches {self.golden_name}"
        head = (f"differs from {self.golden_name} ({self.golden_rows} rows): {len(self.changed)} changed, "
                f"{len(self.missing)} missing, {len(self.extra)} extra")
        lines = [head]
        for word, names, kind in (("added", self.added, "extra"), ("removed", self.removed, "missing")):
            for name in names:
                count = sum(1 for c in getattr(self, kind) if _involves(c, name))
                lines.append(f"  {word} endpoint {name}: {count} {kind} rows")
        lines += [f"  {c}" for c in self.changes
                  if not any(_involves(c, n) for n in self.added + self.removed)]
        return "\n".join(lines)


def compare(actual: pd.DataFrame, golden: Golden) -> GoldenDiff:
    """Compare the contract columns of ``actual`` with ``golden`` (a DataFrame or a CSV path).

    Changes are listed changed and extra rows first, in the actual table's order, then the
    rows the golden table has and the actual one lacks, in the golden's order.
    """
    if isinstance(golden, pd.DataFrame):
        name, golden_df = "golden table", golden
    else:
        name, golden_df = os.fspath(golden), read_golden(golden)
    columns, key = _contract(actual)
    if _contract(golden_df) != (columns, key) and "src" in golden_df.columns:
        (_, wanted, call, flag), (_, got, _, _) = _kind(golden_df), _kind(actual)
        raise NetsimError(f"{name} is a {wanted} table (by its columns) and the table compared with it is {got} "
                          f"(fix: compare it with the {wanted} table: {call}, or netsim reach {flag})")
    now_rows, was_rows = _records(actual, columns, "actual table"), _records(golden_df, columns, name)
    ambiguous = _shared_keys(now_rows, key) | _shared_keys(was_rows, key)
    now = _by_key(now_rows, key, ambiguous, "actual table")
    was = _by_key(was_rows, key, ambiguous, name)
    changes = [Change(was.get(k), row) for k, row in now.items()
               if k not in was or any(was[k][c] != row[c] for c in columns)]
    changes += [Change(row, None) for k, row in was.items() if k not in now]
    before, after = _endpoints(was.values()), _endpoints(now.values())
    return GoldenDiff(name, len(was), tuple(changes), tuple(e for e in after if e not in before),
                      tuple(e for e in before if e not in after))


def _endpoints(rows: Any) -> dict[str, None]:
    """The endpoints a table speaks of (sources and answering destinations), in order."""
    names: dict[str, None] = {}
    for row in rows:
        names.setdefault(row["src"])
        if row["dst"]:
            names.setdefault(row["dst"])
    return names


def _involves(change: Change, endpoint: str) -> bool:
    row = change.actual if change.actual is not None else change.golden
    return row is not None and endpoint in (row["src"], row["dst"])


class ReachabilityMismatch(AssertionError):
    """Raised by :func:`assert_reachability_matches`; ``diff`` holds the changes."""

    def __init__(self, diff: GoldenDiff) -> None:
        super().__init__(str(diff))
        self.diff = diff


class ReachabilityMismatchWarning(UserWarning):
    """Issued instead of :class:`ReachabilityMismatch` when the assertion is soft."""


def assert_reachability_matches(actual: pd.DataFrame, golden_path_or_df: Golden, soft: bool = False) -> bool:
    """Fail (or, with ``soft=True``, warn) listing only the cells that differ from the golden table.

    Returns True when the tables match and False after a soft failure, so a notebook can
    branch on it.
    """
    __tracebackhide__ = True
    diff = compare(actual, golden_path_or_df)
    if diff.ok:
        return True
    if soft:
        warnings.warn(str(diff), ReachabilityMismatchWarning, stacklevel=2)
        return False
    raise ReachabilityMismatch(diff)

