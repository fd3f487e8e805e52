"""The ``netsim`` command: results folders (complete, reproducible, atomic), reach, trace, ping, exit codes.

Commands run in-process through click's CliRunner; one test runs ``python -m netsim`` for real,
to see what a user sees when a topology is wrong: one ``error:`` line and no traceback.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import netsim
import netsim.analysis.results as results
from netsim.analysis.reachability import COLUMNS, NAME_COLUMNS
from netsim.analysis.render import to_csv, to_json
from netsim.cli import main
from netsim.errors import NetsimError

TOPOLOGIES = Path(__file__).resolve().parent.parent / "topologies"
BASIC = TOPOLOGIES / "basic.yaml"
TIMELINE = TOPOLOGIES / "timeline.yaml"
BASIC_FILES = {"reachability.csv", "reachability.json", "reachability_by_name.csv", "reachability_by_name.json",
               "ports.csv", "ports.json",
               "isolation.png", "grid.txt", "manifest.json"}
# Unknown key: the loader names the file and the key path containers.web.netwrks.
BROKEN = "name: broken\nhosts:\n  node1: {}\ncontainers:\n  web: {host: node1, netwrks: [front]}\n"


def netsim_cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    return path


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


# ---- run ---------------------------------------------------------------------------------------


def test_run_defaults_to_topologies_basic_and_results_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "topologies").mkdir()
    shutil.copy(BASIC, tmp_path / "topologies" / "basic.yaml")
    monkeypatch.chdir(tmp_path)
    result = netsim_cli("run")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "results" / "basic"
    assert {p.name for p in folder.iterdir()} == BASIC_FILES
    table = pd.read_csv(folder / "reachability.csv")
    reachable = int(table["reachable"].sum())
    assert f"table: {Path('results/basic/reachability.csv')}" in result.stdout
    assert f"{len(table)} probes: {reachable} reachable, {len(table) - reachable} unreachable" in result.stdout
    assert f"ACCEPTED {reachable}" in result.stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["topology"] == str(Path("topologies/basic.yaml"))


@pytest.mark.skipif(not (resources.files("netsim") / "data" / "basic.yaml").is_file(),
                    reason="netsim/data/basic.yaml is not packaged yet")
def test_run_without_local_topologies_uses_the_packaged_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = netsim_cli("run")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "basic" / "reachability.csv").is_file()


def test_run_tables_are_json_arrays_of_row_objects(tmp_path: Path) -> None:
    assert netsim_cli("run", BASIC, "--out", tmp_path / "r").exit_code == 0
    sim = netsim.load(BASIC)
    for name, columns, table in (("reachability", COLUMNS, sim.reachability()),
                                 ("reachability_by_name", NAME_COLUMNS, sim.reachability_by_name())):
        rows = json.loads((tmp_path / "r" / f"{name}.json").read_text())
        assert isinstance(rows, list) and len(rows) == len(table)
        assert all(isinstance(row, dict) and set(row) == set(columns) for row in rows)
        assert (tmp_path / "r" / f"{name}.json").read_text() == to_json(table)
        assert (tmp_path / "r" / f"{name}.csv").read_text() == to_csv(table)


def test_run_manifest_records_inputs_versions_and_file_hashes(tmp_path: Path) -> None:
    assert netsim_cli("run", TIMELINE, "--out", tmp_path / "r", "--seed", 5).exit_code == 0
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    spec = netsim.load_spec(TIMELINE)
    assert manifest["topology"] == str(TIMELINE)
    assert manifest["topology_sha256"] == spec.sha256
    assert (manifest["name"], manifest["seed"], manifest["engine"]) == ("timeline", 5, spec.engine)
    assert manifest["netsim_version"] == netsim.__version__
    assert manifest["sim_time"] == max(e.at for e in spec.events)
    assert [at for at, _ in manifest["events"]] == [e.at for e in spec.events]
    assert manifest["events"][0][1].startswith("connect roamer green")
    names = [f["name"] for f in manifest["files"]]
    assert names == sorted(BASIC_FILES - {"manifest.json"} | {"timeline.csv", "changes.csv"})
    for entry in manifest["files"]:
        assert hashlib.sha256((tmp_path / "r" / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    assert {"wall_time_s", "created", "python"} <= set(manifest)


def test_run_timeline_has_the_table_after_each_event_instant(tmp_path: Path) -> None:
    assert netsim_cli("run", TIMELINE, "--out", tmp_path / "r").exit_code == 0
    timeline = pd.read_csv(tmp_path / "r" / "timeline.csv", dtype=str, keep_default_na=False)
    assert list(timeline.columns) == ["time"] + COLUMNS
    times = sorted({e.at for e in netsim.load_spec(TIMELINE).events})
    assert [float(t) for t in dict.fromkeys(timeline["time"])] == times
    sim = netsim.load(TIMELINE)
    at_two = timeline[timeline["time"] == "2"].drop(columns="time")
    assert to_csv(at_two) == to_csv(sim.reachability(at=2.0))


def test_run_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    for folder in ("one", "two"):
        result = netsim_cli("run", TIMELINE, "--out", tmp_path / folder, "--seed", 3)
        assert result.exit_code == 0, result.output
    one, two = tmp_path / "one", tmp_path / "two"
    assert sorted(p.name for p in one.iterdir()) == sorted(p.name for p in two.iterdir())
    for path in one.iterdir():
        if path.name != "manifest.json":
            assert path.read_bytes() == (two / path.name).read_bytes(), path.name
    manifests = [json.loads((d / "manifest.json").read_text()) for d in (one, two)]
    for manifest in manifests:
        del manifest["wall_time_s"], manifest["created"]
    assert manifests[0] == manifests[1]


def test_run_replaces_a_results_folder_netsim_wrote(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    assert netsim_cli("run", TIMELINE, "--out", folder).exit_code == 0
    assert (folder / "timeline.csv").is_file()
    assert netsim_cli("run", BASIC, "--out", folder).exit_code == 0
    assert {p.name for p in folder.iterdir()} == BASIC_FILES
    assert _leftovers(tmp_path) == []


def test_run_replaces_its_own_pcap_folder_but_not_a_file_put_in_it(tmp_path: Path) -> None:
    # A capture writes pcap/<node>-<iface>.pcap: the folder is netsim's, a user's file in it is not.
    folder = tmp_path / "r"
    assert netsim_cli("run", BASIC, "--out", folder, "--pcap", "node1:eth0").exit_code == 0
    assert (folder / "pcap" / "node1-eth0.pcap").is_file()
    assert netsim_cli("run", BASIC, "--out", folder, "--pcap", "node1:eth0").exit_code == 0
    (folder / "pcap" / "notes.txt").write_text("mine")
    refused = netsim_cli("run", BASIC, "--out", folder)
    assert refused.exit_code == 2 and "it holds 'pcap/notes.txt', which netsim did not write" in refused.stderr
    assert (folder / "pcap" / "notes.txt").read_text() == "mine"


def test_run_with_a_bad_topology_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = netsim_cli("run", _broken(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert str(tmp_path / "broken.yaml") in result.stderr and "containers.web.netwrks" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "results").exists()
    assert _leftovers(tmp_path) == []


def test_run_failing_midway_keeps_the_old_folder_and_leaves_no_temp(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "r"
    assert netsim_cli("run", TIMELINE, "--out", folder).exit_code == 0
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def broken_png(*_: object) -> None:
        raise NetsimError("the heatmap could not be drawn")

    monkeypatch.setattr(results, "save_png", broken_png)
    result = netsim_cli("run", BASIC, "--out", folder)
    assert result.exit_code == 2
    assert "error: the heatmap could not be drawn" in result.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert _leftovers(tmp_path) == []


def test_run_refuses_a_topology_name_that_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    topology = tmp_path / "sneaky.yaml"
    topology.write_text(BASIC.read_text().replace("name: basic", "name: ../outside"))
    monkeypatch.chdir(tmp_path)
    result = netsim_cli("run", topology)
    assert result.exit_code == 2 and "choose one with --out" in result.stderr
    assert not (tmp_path / "outside").exists()


# ---- reach -----------------------------------------------------------------------------------


def test_reach_prints_a_grid_legend_and_counts() -> None:
    result = netsim_cli("reach", BASIC)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "basic: engine 29, t=0s"
    assert lines[2].split() == [v.name for v in netsim.load(BASIC).endpoints()]
    assert lines[3].split()[:2] == ["node1", "-"]
    assert any(line.startswith("legend: .") for line in lines)
    assert "probes:" in result.stdout and "ACCEPTED" in result.stdout


@pytest.mark.parametrize("by_name, columns", [(False, COLUMNS), (True, NAME_COLUMNS)])
def test_reach_json_parses_to_row_objects(by_name: bool, columns: list[str]) -> None:
    result = netsim_cli("reach", BASIC, "--json", *(["--by-name"] if by_name else []))
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert rows and all(set(row) == set(columns) for row in rows)


def test_reach_csv_is_the_table() -> None:
    result = netsim_cli("reach", BASIC, "--csv")
    assert result.exit_code == 0
    assert result.stdout == to_csv(netsim.load(BASIC).reachability())


def test_reach_at_answers_for_that_instant() -> None:
    result = netsim_cli("reach", TIMELINE, "--at", "2s", "--csv")
    assert result.exit_code == 0
    assert result.stdout == to_csv(netsim.load(TIMELINE).reachability(at=2.0))
    assert netsim_cli("reach", TIMELINE, "--at", "2000ms", "--csv").stdout == result.stdout


@pytest.mark.parametrize("args", [["--at", "soon"], ["--json", "--csv"], ["--json", "--expect", "g.csv"]])
def test_reach_usage_errors_exit_2(args: list[str]) -> None:
    assert netsim_cli("reach", BASIC, *args).exit_code == 2


def _golden(tmp_path: Path, *args: str) -> Path:
    path = tmp_path / "golden.csv"
    path.write_text(netsim_cli("reach", BASIC, "--csv", *args).stdout)
    return path


def test_reach_expect_an_identical_golden_exits_0(tmp_path: Path) -> None:
    golden = _golden(tmp_path)
    result = netsim_cli("reach", BASIC, "--expect", golden)
    assert result.exit_code == 0
    assert result.stdout == f"matches {golden}\n"


def test_reach_expect_a_changed_golden_exits_1_naming_the_row(tmp_path: Path) -> None:
    golden = _golden(tmp_path)
    table = pd.read_csv(golden, dtype=str, keep_default_na=False)
    row = table.index[(table["src"] == "web") & (table["dst"] == "api")][0]
    table.loc[row, ["reachable", "disposition"]] = ["False", "ISOLATED"]
    golden.write_text(table.to_csv(index=False))
    result = netsim_cli("reach", BASIC, "--expect", golden)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"differs from {golden} ({len(table)} rows): 1 changed, 0 missing, 0 extra"
    assert lines[1:] == [f"  web -> api {table.loc[row, 'addr']} ({table.loc[row, 'network']}): "
                         f"was ISOLATED, now ACCEPTED"]


def test_reach_expect_by_name_keys_on_source_and_name(tmp_path: Path) -> None:
    golden = _golden(tmp_path, "--by-name")
    table = pd.read_csv(golden, dtype=str, keep_default_na=False)
    golden.write_text(table.drop(index=0).to_csv(index=False))
    result = netsim_cli("reach", BASIC, "--by-name", "--expect", golden)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1].startswith(f"  extra: {table.loc[0, 'src']} -> {table.loc[0, 'name']}")


def test_reach_expect_a_missing_golden_exits_2(tmp_path: Path) -> None:
    result = netsim_cli("reach", BASIC, "--expect", tmp_path / "none.csv")
    assert result.exit_code == 2 and "does not exist (fix: write it with netsim reach" in result.stderr


# ---- trace and ping ----------------------------------------------------------------------------


@pytest.mark.parametrize("src, dst, extra, code", [
    ("web", "api", [], 0),  # same user-defined bridge
    ("web", "backend", [], 0),  # api's alias, through the embedded DNS
    ("web", "172.17.0.2", [], 1),  # legacy on docker0: another bridge, dropped
    ("legacy", "db", [], 1),  # the default bridge has no DNS
    ("ext", "192.168.100.11", ["--tcp", "8081"], 1),  # no published port there
])
def test_trace_exit_code_says_whether_dst_answered(src: str, dst: str, extra: list[str], code: int) -> None:
    result = netsim_cli("trace", BASIC, src, dst, *extra)
    assert result.exit_code == code, result.output
    assert result.stdout.startswith(f"trace {src} -> {dst}")
    assert result.stdout.splitlines()[-1].startswith("=> ")


@pytest.mark.parametrize("command", ["trace", "ping"])
@pytest.mark.parametrize("src, dst", [("nobody", "web"), ("web", "nobody")])
def test_unknown_endpoints_exit_2(command: str, src: str, dst: str) -> None:
    result = netsim_cli(command, BASIC, src, dst)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "nobody" in result.stderr
    assert "Traceback" not in result.output


def test_ping_sends_count_echoes_and_summarises() -> None:
    result = netsim_cli("ping", BASIC, "web", "node2", "--count", 3, "--interval", "200ms")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["seq=1", "t=0s"], ["seq=2", "t=0.2s"],
                                                        ["seq=3", "t=0.4s"]]
    assert all("reply in" in line for line in lines[:3])
    assert lines[3:5] == ["--- node2 ping statistics ---", "3 packets transmitted, 3 received, 0% packet loss"]
    assert lines[5].startswith("rtt min/avg/max = ") and lines[5].endswith(" us")


def test_ping_without_replies_exits_1() -> None:
    result = netsim_cli("ping", BASIC, "ext", "172.18.0.2", "-c", 2)
    assert result.exit_code == 1
    assert "2 packets transmitted, 0 received, 100% packet loss" in result.stdout


# ---- errors --------------------------------------------------------------------------------------


def test_missing_topology_file_exits_2_with_its_name(tmp_path: Path) -> None:
    result = netsim_cli("reach", tmp_path / "absent.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'absent.yaml'}: cannot read the file")


def test_python_m_netsim_reports_a_bad_topology_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "netsim", "reach", str(_broken(tmp_path))],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"error: {tmp_path / 'broken.yaml'}: containers.web.netwrks: unknown key")
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_version() -> None:
    result = netsim_cli("--version")
    assert result.exit_code == 0 and netsim.__version__ in result.stdout



def test_run_mode_vectorized_writes_the_event_cores_flows(tmp_path: Path) -> None:
    traffic = TOPOLOGIES / "traffic.yaml"
    event, vectorized = tmp_path / "event", tmp_path / "vectorized"
    assert netsim_cli("run", traffic, "--out", event).exit_code == 0
    result = netsim_cli("run", traffic, "--out", vectorized, "--mode", "vectorized")
    assert result.exit_code == 0, result.output
    assert (event / "flows.csv").read_bytes() == (vectorized / "flows.csv").read_bytes()
    assert json.loads((vectorized / "manifest.json").read_text())["mode"] == "vectorized"
    refused = netsim_cli("run", traffic, "--out", tmp_path / "x", "--mode", "fast")
    assert refused.exit_code == 2 and "'fast' is not one of 'event', 'vectorized'" in refused.output


# ---- resolve -----------------------------------------------------------------------------------


def test_resolve_prints_one_address_a_line_and_exits_1_on_nxdomain() -> None:
    answered = netsim_cli("resolve", BASIC, "web", "backend")  # api's alias on front (B10)
    assert answered.exit_code == 0 and answered.stdout == "172.18.0.3\n"
    missing = netsim_cli("resolve", BASIC, "web", "nope")
    assert missing.exit_code == 1 and missing.stdout == "" and "web: nope: NXDOMAIN" in missing.stderr
    legacy = netsim_cli("resolve", BASIC, "legacy", "web")  # the default bridge has no embedded DNS (B5)
    assert legacy.exit_code == 1 and "NO_DNS_ON_DEFAULT_BRIDGE" in legacy.stderr
    wrong = netsim_cli("resolve", BASIC, "wbe", "api")
    assert wrong.exit_code == 2 and "did you mean 'web'?" in wrong.stderr


def test_resolve_at_a_time_sees_what_gossip_has_withdrawn() -> None:
    # api runs on node2; once node2 is declared dead, web's resolver no longer answers its name (B57).
    topology = TOPOLOGIES / "node-failure.yaml"
    api = netsim.load(topology).container("api").endpoints["appnet"].address
    assert netsim_cli("resolve", topology, "web", "api").stdout == f"{api}\n"
    after = netsim_cli("resolve", topology, "web", "api", "--at", "20s")
    assert after.exit_code == 1 and after.stdout == ""
