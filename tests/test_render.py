"""Renderings of reachability tables (grid, JSON/CSV, heatmap, ping statistics) and golden comparison.

Small hand-made tables pin exact output; the bundled ``basic`` topology checks the same
functions on a real simulator answer.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path

import pandas as pd
import pytest

import netsim
from netsim.topology.loader import parse_duration
from netsim.analysis.golden import (
    ReachabilityMismatch,
    ReachabilityMismatchWarning,
    assert_reachability_matches,
    compare,
    read_golden,
)
from netsim.analysis.reachability import NAME_COLUMNS
from netsim.analysis.render import (
    LEGEND,
    disposition_colours,
    grid,
    grid_report,
    heatmap,
    ping_statistics,
    records,
    save_png,
    summary,
    to_csv,
    to_json,
)
from netsim.analysis.trace import PingResult
from netsim.errors import NetsimError

BASIC = Path(__file__).resolve().parent.parent / "topologies" / "basic.yaml"
# The shape of an address table, with an RTT column so that NaN handling is exercised too.
SMALL_COLUMNS = ["src", "dst", "addr", "network", "reachable", "disposition", "detail", "rtt_us", "path"]


def _row(src: str, dst: str, addr: str, disposition: str = "ACCEPTED", network: str = "lan",
         detail: str = "", rtt_us: float = 1.5) -> tuple[object, ...]:
    reachable = disposition == "ACCEPTED"
    return (src, dst, addr, network, reachable, disposition, detail, rtt_us if reachable else math.nan,
            f"{src} > {dst}")


@pytest.fixture
def small() -> pd.DataFrame:
    """a reaches one of b's two addresses and all of c's; b and c reach no one; d has no address."""
    rows = [
        _row("a", "b", "10.0.0.2"), _row("a", "b", "10.0.1.2", "NO_ROUTE", detail="no route"),
        _row("a", "c", "10.0.0.3"),
        _row("b", "a", "10.0.0.1", "ISOLATED", detail="[ISOLATED] rule"), _row("b", "c", "10.0.0.3", "NO_ROUTE"),
        _row("c", "a", "10.0.0.1", "NO_ROUTE"), _row("c", "b", "10.0.0.2", "NO_ROUTE"),
        _row("c", "b", "10.0.1.2", "NO_ROUTE"),
        _row("d", "a", "10.0.0.1", "NO_ROUTE"),
    ]
    return pd.DataFrame(rows, columns=SMALL_COLUMNS)


@pytest.fixture(scope="module")
def basic() -> netsim.Simulation:
    return netsim.load(BASIC)


# ---- grid ------------------------------------------------------------------------------------


def test_grid_marks_all_some_none_and_self(small: pd.DataFrame) -> None:
    assert grid(small, ["a", "b", "c", "d"]) == (
        "   a b c\n"
        "a  - ~ .\n"
        "b  X - X\n"
        "c  X X -\n"
        "d  X"
    )


def test_grid_follows_endpoint_order_not_table_order(small: pd.DataFrame) -> None:
    lines = grid(small, ["d", "c", "b", "a"]).splitlines()
    assert lines[0].split() == ["c", "b", "a"]
    assert [line.split()[0] for line in lines[1:]] == ["d", "c", "b", "a"]


def test_grid_of_a_by_name_table_has_one_column_per_name(basic: netsim.Simulation) -> None:
    table = basic.reachability_by_name()
    header = grid(table, [v.name for v in basic.endpoints()]).splitlines()[0].split()
    assert header == list(dict.fromkeys(table["name"]))


def test_grid_report_has_title_grid_legend_and_counts(basic: netsim.Simulation) -> None:
    table = basic.reachability()
    report = grid_report(table, [v.name for v in basic.endpoints()], "basic at 0s")
    assert report.startswith("basic at 0s\n\n")
    assert LEGEND in report
    assert summary(table) in report
    assert report.splitlines()[2].split() == [v.name for v in basic.endpoints()]


def test_summary_counts_reachable_and_each_disposition(small: pd.DataFrame) -> None:
    assert summary(small) == "9 probes: 2 reachable, 7 unreachable\nNO_ROUTE 6, ACCEPTED 2, ISOLATED 1"


# ---- JSON and CSV ----------------------------------------------------------------------------


def test_json_is_an_array_of_row_objects_with_null_for_missing_rtt(small: pd.DataFrame) -> None:
    rows = json.loads(to_json(small))
    assert isinstance(rows, list) and len(rows) == len(small)
    assert all(set(row) == set(SMALL_COLUMNS) for row in rows)
    assert rows[0] == {"src": "a", "dst": "b", "addr": "10.0.0.2", "network": "lan", "reachable": True,
                       "disposition": "ACCEPTED", "detail": "", "rtt_us": 1.5, "path": "a > b"}
    assert rows[1]["rtt_us"] is None and rows[1]["reachable"] is False
    assert records(small) == rows


def test_json_keys_come_in_column_order(small: pd.DataFrame) -> None:
    # Read like the CSV and the table: src, dst, addr, ... (the tables' columns are fixed, so the
    # bytes stay the same run after run).
    assert list(json.loads(to_json(small))[0]) == SMALL_COLUMNS
    assert to_json(small) == to_json(small.copy())


def test_csv_round_trips(basic: netsim.Simulation) -> None:
    table = basic.reachability()
    back = pd.read_csv(io.StringIO(to_csv(table)), dtype=str, keep_default_na=False)
    assert list(back.columns) == list(table.columns)
    assert back.values.tolist() == table.astype(object).where(table.notna(), "").astype(str).values.tolist()


def test_categorical_columns_render_like_plain_text(small: pd.DataFrame) -> None:
    """Unused categories (an endpoint with no rows, a disposition not seen) must not show up."""
    categorical = small.astype({"src": pd.CategoricalDtype(["a", "b", "c", "d", "e"]),
                                "dst": pd.CategoricalDtype(["a", "b", "c", "d", "e"]),
                                "disposition": pd.CategoricalDtype(["ACCEPTED", "ISOLATED", "NO_ROUTE", "LOOP"])})
    order = ["a", "b", "c", "d", "e"]
    assert grid(categorical, order) == grid(small, order)
    assert summary(categorical) == summary(small)
    assert to_json(categorical) == to_json(small)


# ---- heatmap ---------------------------------------------------------------------------------


def test_colours_are_green_for_accepted_and_fixed_by_disposition() -> None:
    one = disposition_colours(["NO_ROUTE", "ACCEPTED", "ISOLATED"])
    two = disposition_colours(["ISOLATED", "NO_ROUTE", "ACCEPTED", "ISOLATED"])
    alone = disposition_colours(["ISOLATED"])  # another topology, where ISOLATED is the only failure
    assert one == two
    assert one["ACCEPTED"] == "#2ca02c"
    assert len(set(one.values())) == 3
    assert alone["ISOLATED"] == one["ISOLATED"]
    assert disposition_colours(["SOMETHING_NEW"])["SOMETHING_NEW"] == \
        disposition_colours(["NO_ROUTE", "SOMETHING_NEW"])["SOMETHING_NEW"]


def test_heatmap_has_a_column_per_destination_address_and_a_legend(basic: netsim.Simulation) -> None:
    table = basic.reachability()
    fig = heatmap(table, "basic: engine 29, t=0s")
    ax = fig.axes[0]
    assert ax.get_title() == "basic: engine 29, t=0s"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(labels) == len(set(zip(table["dst"], table["addr"])))
    assert labels[0] == "node1\n192.168.100.11"
    assert [t.get_text() for t in ax.get_yticklabels()] == [v.name for v in basic.endpoints()]
    box = ax.get_legend()
    assert box is not None
    legend = [t.get_text() for t in box.get_texts()]
    assert legend[0] == "ACCEPTED" and sorted(legend) == sorted(set(table["disposition"]))


def test_heatmap_of_a_big_table_labels_every_kth_cell() -> None:
    rows = [_row(f"s{i}", f"d{j}", f"10.0.{j}.1") for i in range(450) for j in range(70)]
    ax = heatmap(pd.DataFrame(rows, columns=SMALL_COLUMNS), "big").axes[0]
    ys = [t.get_text() for t in ax.get_yticklabels()]
    xs = [t.get_text() for t in ax.get_xticklabels()]
    assert 20 <= len(ys) <= 40 and ys[:2] == ["s0", "s12"]  # every 12th of 450 sources
    assert 30 <= len(xs) <= 60 and xs[0] == "d0 10.0.0.1"


def test_png_bytes_are_reproducible_and_carry_no_version(small: pd.DataFrame, tmp_path: Path) -> None:
    save_png(heatmap(small, "small"), tmp_path / "one.png")
    save_png(heatmap(small, "small"), tmp_path / "two.png")
    data = (tmp_path / "one.png").read_bytes()
    assert data.startswith(b"\x89PNG") and data == (tmp_path / "two.png").read_bytes()
    assert b"Software" not in data and b"Matplotlib" not in data


# ---- values and ping ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [("2s", 2.0), ("500ms", 0.5), ("1.5", 1.5), ("50us", 5e-05),
                                           ("100ns", 1e-07), ("2m", 120.0), (" 3 s ", 3.0)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "2 days", "-1s", "two", "inf"])
def test_parse_duration_refuses(text: str) -> None:
    """The CLI's --at / --interval use the topology loader's parser: one grammar for durations."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_ping_statistics_read_like_ping() -> None:
    results = [PingResult("a", "b", "10.0.0.2", 0.0, 200e-6, True, "ACCEPTED", ""),
               PingResult("a", "b", "10.0.0.2", 1.0, None, False, "NO_REPLY", "no reply within 1s"),
               PingResult("a", "b", "10.0.0.2", 2.0, 400e-6, True, "ACCEPTED", "")]
    assert ping_statistics("b", results) == (
        "--- b ping statistics ---\n"
        "3 packets transmitted, 2 received, 33.3333% packet loss\n"
        "rtt min/avg/max = 200.000/300.000/400.000 us"
    )


def test_ping_statistics_without_replies_have_no_rtt_line() -> None:
    lost = [PingResult("a", "b", None, 0.0, None, False, "NAME_UNRESOLVED", "b: NXDOMAIN")]
    assert ping_statistics("b", lost).splitlines()[-1] == "1 packets transmitted, 0 received, 100% packet loss"


# ---- golden comparison -------------------------------------------------------------------------


def _golden_csv(df: pd.DataFrame, path: Path) -> Path:
    path.write_text(to_csv(df))
    return path


def test_identical_tables_match(small: pd.DataFrame, tmp_path: Path) -> None:
    diff = compare(small, _golden_csv(small, tmp_path / "g.csv"))
    assert diff.ok and str(diff) == f"matches {tmp_path / 'g.csv'}"


def test_rtt_path_detail_and_row_order_are_not_contract(small: pd.DataFrame) -> None:
    golden = small.assign(rtt_us=99.0, path="elsewhere", detail="other words").iloc[::-1]
    assert compare(small, golden).ok
    assert compare(small, small[["src", "dst", "addr", "network", "reachable", "disposition"]]).ok


def test_diff_lists_changed_missing_and_extra_rows(small: pd.DataFrame) -> None:
    golden = small.copy()
    golden.loc[3, ["reachable", "disposition"]] = [True, "ACCEPTED"]  # b -> a was reachable
    golden = golden.drop(index=8)  # d -> a is new
    golden.loc[len(small)] = _row("a", "e", "10.0.0.9")  # a -> e is gone
    diff = compare(small, golden)
    assert not diff.ok
    assert [str(c) for c in diff.changes] == [
        "b -> a 10.0.0.1 (lan): was ACCEPTED, now ISOLATED  [[ISOLATED] rule]",
        "extra: d -> a 10.0.0.1 (lan): now NO_ROUTE",
        "missing: a -> e 10.0.0.9 (lan): was ACCEPTED",
    ]
    assert (len(diff.changed), len(diff.extra), len(diff.missing)) == (1, 1, 1)
    assert str(diff).splitlines()[0] == "differs from golden table (9 rows): 1 changed, 1 missing, 1 extra"


def test_diff_says_when_only_the_flag_changed_and_a_network_is_a_different_row(small: pd.DataFrame) -> None:
    golden = small.copy()
    golden.loc[0, "reachable"] = False
    golden.loc[2, "network"] = "back"
    assert [str(c) for c in compare(small, golden).changes] == [
        "a -> b 10.0.0.2 (lan): was ACCEPTED (unreachable), now ACCEPTED",
        "extra: a -> c 10.0.0.3 (lan): now ACCEPTED",
        "missing: a -> c 10.0.0.3 (back): was ACCEPTED",
    ]


def test_shifted_addresses_are_not_a_change(small: pd.DataFrame) -> None:
    # Adding a container renumbers first-fit addresses; no pair changed, so the golden holds.
    shifted = small.assign(addr=small.addr.str.replace("10.0.", "10.1.", regex=False))
    assert compare(shifted, small).ok


def test_an_added_endpoint_is_reported_once(small: pd.DataFrame) -> None:
    grown = pd.concat([small, pd.DataFrame([_row("a", "e", "10.0.0.9"), _row("e", "a", "10.0.0.1")],
                                           columns=SMALL_COLUMNS)], ignore_index=True)
    diff = compare(grown, small)
    assert diff.added == ("e",) and diff.removed == ()
    assert str(diff).splitlines()[1:] == ["  added endpoint e: 2 extra rows"]
    assert compare(small, grown).removed == ("e",)


def test_by_name_tables_are_keyed_by_source_and_name(basic: netsim.Simulation, tmp_path: Path) -> None:
    table = basic.reachability_by_name()
    assert list(table.columns) == NAME_COLUMNS
    golden = read_golden(_golden_csv(table, tmp_path / "names.csv"))
    assert compare(table, golden).ok
    golden.loc[0, "disposition"] = "NAME_UNRESOLVED"
    golden.loc[0, "reachable"] = "False"
    first = table.iloc[0]
    assert str(compare(table, golden).changes[0]).startswith(
        f"{first['src']} -> {first['name']} = {first['dst']} {first['addr']} ({first['network']}): "
        f"was NAME_UNRESOLVED, now ACCEPTED")


def test_golden_problems_are_netsim_errors(small: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(NetsimError, match="golden table .*absent.csv does not exist"):
        compare(small, tmp_path / "absent.csv")
    with pytest.raises(NetsimError, match="lacks column"):
        compare(small, small.drop(columns="disposition"))
    with pytest.raises(NetsimError, match="two rows for src=a, dst=b, network=lan, addr=10.0.0.2"):
        compare(small, pd.concat([small, small.iloc[:1]]))
    with pytest.raises(NetsimError, match="reachable must be True or False"):
        compare(small, small.assign(reachable="maybe"))


def test_assertion_names_the_changed_cell_and_hides_its_frame(small: pd.DataFrame) -> None:
    assert "__tracebackhide__" in assert_reachability_matches.__code__.co_varnames
    assert assert_reachability_matches(small, small.copy()) is True
    golden = small.copy()
    golden.loc[2, ["reachable", "disposition"]] = [False, "ISOLATED"]
    with pytest.raises(ReachabilityMismatch, match=r"a -> c 10.0.0.3 \(lan\): was ISOLATED, now ACCEPTED") as info:
        assert_reachability_matches(small, golden)
    assert len(info.value.diff.changes) == 1


def test_soft_assertion_warns_and_returns_false(small: pd.DataFrame) -> None:
    golden = small.copy()
    golden.loc[0, "disposition"] = "NO_ROUTE"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert assert_reachability_matches(small, golden, soft=True) is False
    assert [w.category for w in caught] == [ReachabilityMismatchWarning]
    assert "a -> b 10.0.0.2 (lan)" in str(caught[0].message)
