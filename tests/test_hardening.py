"""Hostile input, faults and signals: netsim answers with one ``error:`` line and exit 2, never a
traceback or a hang, and never destroys or half-writes a user's files.

One test (or one parametrized family) per defect class of the hardening issue; the bad files
of the foundation go through the same CLI checks at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Optional

import pytest
from click.testing import CliRunner, Result

import netsim
from netsim.analysis.golden import compare
from netsim.cli import main
from netsim.errors import DockerError, NetsimError, TopologyError, UnderlayError

from .test_topology_loader import BAD, BAD_CASES

TOPOLOGIES = Path(__file__).resolve().parent.parent / "topologies"
BASIC = TOPOLOGIES / "basic.yaml"
GOLDEN = Path(__file__).resolve().parent / "golden"
MINIMAL = "hosts: {node1: {}}\n"


def netsim_cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="netsim")


def assert_one_error_line(result: Result, path: Path, culprit: str) -> str:
    """Exit 2, and stderr is exactly one ``error:`` line naming the file and the culprit, with a fix."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith(f"error: {path}: "), line
    assert culprit in line, line
    assert "(fix: " in line, line
    assert "Traceback" not in result.output
    return line


# ---- data loss ---------------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_out_never_replaces_a_folder_netsim_did_not_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("two years of work")
    before = _tree(thesis)
    result = netsim_cli("run", BASIC, "--out", thesis)
    assert result.exit_code == 2
    assert f"refusing to replace {thesis}" in result.stderr and "--force" in result.stderr
    assert _tree(thesis) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no staging folder either


def test_out_refuses_a_netsim_folder_holding_a_users_file(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    assert netsim_cli("run", BASIC, "--out", folder).exit_code == 0
    (folder / "notes.md").write_text("my analysis")
    result = netsim_cli("run", BASIC, "--out", folder)
    assert result.exit_code == 2
    assert "'notes.md', which netsim did not write" in result.stderr
    assert (folder / "notes.md").read_text() == "my analysis"


def test_out_replaces_a_netsim_folder_and_force_replaces_any(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    assert netsim_cli("run", BASIC, "--out", folder).exit_code == 0
    assert netsim_cli("run", BASIC, "--out", folder).exit_code == 0  # netsim's own: replaced
    (folder / "notes.md").write_text("x")
    assert netsim_cli("run", BASIC, "--out", folder, "--force").exit_code == 0
    assert not (folder / "notes.md").exists()
    assert json.loads((folder / "manifest.json").read_text())["name"] == "basic"


def test_out_never_replaces_the_current_folder_or_the_topologys(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    topology = project / "basic.yaml"
    shutil.copy(BASIC, topology)
    monkeypatch.chdir(project)
    for out in (".", str(project), ".."):
        result = netsim_cli("run", topology, "--out", out, "--force")
        assert result.exit_code == 2, (out, result.output)
        assert "which --force does not delete either" in result.stderr
    assert topology.read_bytes() == BASIC.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_out_under_a_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    result = netsim_cli("run", BASIC, "--out", tmp_path / "afile" / "sub")
    assert result.exit_code == 2
    assert f"{tmp_path / 'afile'} is a file, not a folder" in result.stderr
    assert "File exists" not in result.stderr


def _run_killed_while_writing(tmp_path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``netsim run`` in a child that receives SIGTERM half-way through writing its results."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        import netsim.analysis.results as results
        real = results.save_png
        def save_then_die(*args):
            real(*args)
            os.kill(os.getpid(), signal.SIGTERM)
        results.save_png = save_then_die
        from netsim.cli import main
        sys.argv = ["netsim", "run", {str(BASIC)!r}, "--out", {str(out)!r}]
        main()
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)


def test_sigterm_while_writing_keeps_old_results_and_leaves_no_staging(tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert netsim_cli("run", TOPOLOGIES / "timeline.yaml", "--out", out).exit_code == 0
    before = _tree(out)
    proc = _run_killed_while_writing(tmp_path, out)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert "stopped by SIGTERM" in proc.stderr and "Traceback" not in proc.stderr
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # reaped: no process has it now (pids are not reused at once)


def test_a_run_removes_staging_folders_of_dead_runs_only(tmp_path: Path) -> None:
    out = tmp_path / "r"
    dead = tmp_path / f".r.tmp-{_dead_pid()}-0123abcd"
    dead_old = tmp_path / f".r.old-{_dead_pid()}-0123abcd"
    live = tmp_path / f".r.tmp-{os.getppid()}-0123abcd"  # our parent is alive
    for folder in (dead, dead_old, live):
        folder.mkdir()
        (folder / "reachability.csv").write_text("partial")
    other = tmp_path / ".other.tmp-1-0123abcd"  # another results folder's: not ours to judge
    other.mkdir()
    assert netsim_cli("run", BASIC, "--out", out).exit_code == 0
    assert not dead.exists() and not dead_old.exists()
    assert live.is_dir() and other.is_dir()


# ---- tracebacks --------------------------------------------------------------------------------

_CONNECT_AT_1S = """
hosts: {{node1: {{}}}}
networks:
  front: {{host: node1, subnet: {subnet}}}
containers:
  a: {{host: node1, networks: [front]}}
  b: {{host: node1}}
events:
  - {{at: 1s, connect: {{container: b, network: front{extra}}}}}
"""
TAKEN_ADDRESS = _CONNECT_AT_1S.format(subnet="10.9.0.0/24", extra=", ipv4_address: 10.9.0.2")
FULL_SUBNET = _CONNECT_AT_1S.format(subnet="10.9.0.0/30", extra="")


@pytest.mark.parametrize(("text", "where", "message"), [
    (TAKEN_ADDRESS, "events[0].connect.ipv4_address", "Address already in use: 10.9.0.2"),
    (FULL_SUBNET, "events[0].connect.network", "no available IPv4 addresses")], ids=["address-taken", "subnet-full"])
@pytest.mark.parametrize("command", [["reach"], ["reach", "--at", "2s"], ["run"], ["ping", "a", "b"]])
def test_a_timeline_docker_error_is_one_line_found_at_load(tmp_path: Path, text: str, where: str, message: str,
                                                           command: list[str]) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    args = [command[0], path, *command[1:]] + (["--out", tmp_path / "out"] if command[0] == "run" else [])
    line = assert_one_error_line(netsim_cli(*args), path, f"{where}: at 1s: ")
    assert message in line
    assert not (tmp_path / "out").exists()
    with pytest.raises(TopologyError, match=message):
        netsim.load(path)  # at load, before anyone asks about t = 1s


@pytest.mark.parametrize("err", [
    TopologyError("t.yaml", "events[0].connect", "at 1s: Address already in use", "pick another"),
    DockerError("Address already in use: 10.9.0.2", "pick a free ipv4_address"),
    UnderlayError("no pool", "a smaller underlay"),
    NetsimError("plain"),
], ids=lambda e: type(e).__name__)
def test_errors_survive_reraising_and_pickling(err: NetsimError) -> None:
    for copy in (type(err)(*err.args), pickle.loads(pickle.dumps(err))):
        assert type(copy) is type(err)
        assert str(copy) == str(err)
        assert vars(copy) == vars(err)


def test_the_smallest_valid_file_gives_a_complete_results_folder(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(MINIMAL)
    out = tmp_path / "r"
    result = netsim_cli("run", path, "--out", out)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f["name"] for f in manifest["files"]}
    assert listed == {p.name for p in out.iterdir()} - {"manifest.json"}
    assert {"reachability.csv", "isolation.png", "grid.txt"} <= listed
    assert (out / "isolation.png").read_bytes().startswith(b"\x89PNG")
    assert "0 probes" in result.stdout


# ---- hostile files: exit 2, one line, the culprit ------------------------------------------------

MACVLAN = "hosts: {node1: {}}\nnetworks:\n  lan: {driver: macvlan, hosts: [node1], parent: %s}\n"
HOSTILE: dict[str, tuple[bytes, str, str]] = {
    # name: (file bytes, key path, part of the message)
    "superscript-port": ('hosts: {node1: {}}\ncontainers:\n  a: {ports: ["8080:²"]}\n'.encode(),
                         "containers.a.ports[0]", "invalid port number '²'"),
    "fullwidth-port": ('hosts: {node1: {}}\ncontainers:\n  a: {ports: ["８０８０:80"]}\n'.encode(),
                       "containers.a.ports[0]", "invalid port number '８０８０'"),
    "superscript-mtu": ('hosts: {node1: {}}\nnetworks:\n  front: {driver_opts: {com.docker.network.driver.mtu: '
                        '"¹⁵⁰⁰"}}\n'.encode(), "networks.front.driver_opts.com.docker.network.driver.mtu",
                        "expected a whole number"),
    "fullwidth-duration": ('hosts: {node1: {}}\nevents:\n  - {at: "５s", link_down: node1}\n'.encode(),
                           "events[0].at", "expected a duration"),
    "arabic-indic-vlan": (MACVLAN.replace("%s", "eth0.١٠").encode(), "networks.lan.parent", "eth0.١٠"),
    "deep-nesting": (("hosts: {node1: {}}\nseed: " + "[" * 600 + "]" * 600 + "\n").encode(), "",
                     "line 2, column 70: nesting deeper than 64 levels"),
    "huge-integer": (("hosts: {node1: {}}\nseed: " + "9" * 5000 + "\n").encode(), "",
                     "line 2, column 7: a 5000-digit integer"),
    "latin1-bytes": (b"hosts:\n  node1: {}\nname: caf\xe9\n", "", "line 3, column 10: byte 0xe9 is not UTF-8"),
    "control-character": (b'hosts:\n  node1: {}\nname: "a\x07b"\n', "", "line 3, column 9: character U+0007"),
    "newline-in-name": (b'hosts:\n  "no\\nerror: forged": {}\n', "hosts.no\\nerror: forged",
                        "invalid host name 'no\\nerror: forged'"),
    "escape-in-reference": (b'hosts: {node1: {}}\ncontainers:\n  a: {networks: ["x\\e[2Jy"]}\n',
                            "containers.a.networks[0]", "unknown network 'x\\x1b[2Jy'"),
    "underlay-covers-all-pools": (b"underlay: {subnet: 0.0.0.0/0}\nhosts: {node1: {}}\n", "underlay.subnet",
                                  "every default address pool overlaps the underlay 0.0.0.0/0"),
    "host-named-gateway": (b"underlay: {subnet: 10.0.0.0/24, gateway: 10.0.0.1}\nhosts: {gateway: {}}\n",
                           "hosts.gateway", "belongs to the underlay's router"),
    "container-named-gateway": (b"underlay: {subnet: 10.0.0.0/24, gateway: 10.0.0.1}\nhosts: {node1: {}}\n"
                                b"containers: {gateway: {}}\n", "containers.gateway",
                                "container gateway has the same name as the underlay's router"),
    "long-value": (('hosts: {node1: {swarm: "' + "m" * 100_000 + '"}}\n').encode(), "hosts.node1.swarm",
                   "(100000 characters)"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE), ids=sorted(HOSTILE))
def test_hostile_file_gives_one_error_line(tmp_path: Path, case: str) -> None:
    content, key_path, message = HOSTILE[case]
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    line = assert_one_error_line(netsim_cli("reach", path), path, message)
    assert line.startswith(f"error: {path}: {key_path}: " if key_path else f"error: {path}: invalid YAML"), line
    assert len(line) < 600, line  # quotes the culprit, never the whole file


def _bomb(levels: int = 9, width: int = 9, tag: str = "b") -> str:
    """A billion-laughs value in flow style: width**levels strings from a few hundred bytes."""
    inner = "[" + ", ".join(['"lol"'] * width) + "]"
    for level in range(levels):
        inner = f"[&{tag}{level} {inner}" + f", *{tag}{level}" * (width - 1) + "]"
    return inner


BOMBS = {
    "swarm": f"hosts:\n  node1: {{swarm: {_bomb()}}}\n",
    "engine": f"engine: {_bomb()}\nhosts: {{node1: {{}}}}\n",
    "driver": f"hosts: {{node1: {{}}}}\nnetworks:\n  n: {{driver: {_bomb()}}}\n",
    "mode": f"hosts: {{node1: {{}}}}\nnetworks:\n  n: {{driver: macvlan, mode: {_bomb()}}}\n",
    "role": f"hosts: {{node1: {{}}}}\nevents:\n  - {{at: 1s, swarm_join: {{host: node1, role: {_bomb()}}}}}\n",
    "bomb-vs-bomb": (f"hosts: {{node1: {{}}}}\nnetworks:\n  n: {{subnet: {_bomb(tag='x')}, "
                     f"ipam: {{config: [{{subnet: {_bomb(tag='y')}}}]}}}}\n"),
}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))


@pytest.mark.parametrize("case", sorted(BOMBS), ids=sorted(BOMBS))
def test_alias_bomb_is_refused_without_expanding_it(tmp_path: Path, case: str) -> None:
    # 9**10 strings expanded would need hundreds of GB: a clean refusal under a 2 GiB cap shows
    # that nothing stringified or compared the value.
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMBS[case])
    proc = subprocess.run([sys.executable, "-m", "netsim", "reach", str(path)], capture_output=True, text=True,
                          timeout=120, preexec_fn=_limit_memory)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"error: {path}: "), proc.stderr[-2000:]
    assert "a list" in proc.stderr or "expected text" in proc.stderr


def test_forged_error_line_through_the_real_command(tmp_path: Path) -> None:
    path = tmp_path / "forge.yaml"
    path.write_bytes(HOSTILE["newline-in-name"][0])
    proc = subprocess.run([sys.executable, "-m", "netsim", "reach", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr  # no forged second line
    assert "hosts.no\\nerror: forged" in proc.stderr


# ---- messages that point at the right thing -------------------------------------------------------


def test_a_by_name_golden_is_recognised_by_its_columns() -> None:
    golden = GOLDEN / "basic" / "seed=7.by_name.csv"
    result = netsim_cli("reach", BASIC, "--expect", golden)
    assert result.exit_code == 0, result.output
    assert f"matches {golden}" in result.stdout
    sim = netsim.load(BASIC)
    with pytest.raises(NetsimError, match="is a by-name table .* compare it with the by-name table"):
        compare(sim.reachability(), golden)
    with pytest.raises(NetsimError, match="is a by-address table .* neither --by-name nor --ports"):
        compare(sim.reachability_by_name(), GOLDEN / "basic" / "seed=7.reachability.csv")


# ---- the foundation's bad files keep the same promise through the command -------------------------


@pytest.mark.parametrize("fixture", sorted(BAD_CASES), ids=sorted(BAD_CASES))
def test_bad_fixture_through_the_cli_is_one_line_with_its_key_path(fixture: str) -> None:
    key_path: Optional[str] = BAD_CASES[fixture][0]
    path = BAD / fixture
    assert_one_error_line(netsim_cli("reach", path), path, f"{path}: {key_path}: " if key_path else f"{path}: ")



@pytest.mark.parametrize(("args", "culprit"), [
    (["reach", BASIC, "--at", "5x"], "netsim reach: Invalid value for '--at'"),
    (["ping", BASIC, "web", "db", "-c", "0"], "netsim ping: Invalid value for '--count'"),
    (["reach"], "netsim reach: Missing argument 'TOPOLOGY'"),
    (["ping", BASIC, "web", "db", "-c", "３"], "'３' is not a whole number in ASCII digits"),
    (["trace", BASIC, "web\nerror: forged", "db"], "'web\\nerror: forged'"),
], ids=["bad-duration", "bad-count", "missing-argument", "fullwidth-count", "newline-argument"])
def test_argument_errors_are_one_line_naming_the_argument(args: list[object], culprit: str) -> None:
    result = netsim_cli(*args)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: "), result.stderr
    assert culprit in result.stderr and "Usage:" not in result.output


@pytest.mark.parametrize(("content", "message"), [
    (b"\xff\xfe\x00\x81garbage\n", "it is not a reachability CSV"),
    (b"a,b\n1,2\n", "lacks column(s) src, dst, network"),
], ids=["not-text", "wrong-columns"])
def test_a_golden_that_is_not_a_table_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    golden = tmp_path / "golden.csv"
    golden.write_bytes(content)
    result = netsim_cli("reach", BASIC, "--expect", golden)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert str(golden) in result.stderr and message in result.stderr and "(fix: " in result.stderr


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to see the worker processes")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_forked_sweep_at_once(tmp_path: Path, sig: signal.Signals) -> None:
    # 700 containers: a sweep of ~490,000 probes, half a minute even on two workers.
    path = tmp_path / "many.yaml"
    path.write_text("hosts: {node1: {}}\ncontainers:\n" + "".join(f"  c{i}: {{}}\n" for i in range(700)))
    proc = subprocess.Popen([sys.executable, "-m", "netsim", "reach", str(path), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _children(proc.pid)
    try:
        assert len(workers) == 2, "the sweep did not fork its workers"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=10)  # waiting for the workers' chunks would take far longer
    finally:
        if proc.poll() is None:
            proc.kill()
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 128 + sig
    assert stderr == f"netsim: stopped by {sig.name}; nothing half-written was left behind\n"
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_a_worker_that_dies_or_fails_is_reported_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import netsim.analysis.reachability as reachability

    sim = netsim.load(BASIC)
    monkeypatch.setattr(reachability, "_probe_rows", lambda *_: os._exit(3))  # runs only in the children
    with pytest.raises(NetsimError, match="died with exit code 3"):
        sim.reachability(workers=2)

    def fail(*_: object) -> None:
        raise DockerError("no such thing", "a fix")

    monkeypatch.setattr(reachability, "_probe_rows", fail)
    with pytest.raises(DockerError, match="no such thing"):
        sim.reachability(workers=2)


@pytest.mark.parametrize(("network", "message"), [
    ("host", "cannot be disconnected from host network or connected to host network"),
    ("none", "one of the networks in private (none) mode"),
])
def test_connecting_a_running_container_to_host_or_none_is_dockers_refusal(network: str, message: str) -> None:
    sim = netsim.Simulation("api")
    node = sim.add_host("node1")
    web = node.containers.run("web")
    with pytest.raises(DockerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        node.networks.get(network).connect(web)
    assert list(web.endpoints) == ["bridge"]


@pytest.mark.parametrize(("args", "culprit"), [
    (["trace", BASIC, "wbe", "db"], "SRC 'wbe' is no host or container of the topology (fix: did you mean 'web'?)"),
    (["ping", BASIC, "web", "dbb"], "DST 'dbb' is no host, container, alias or address of the topology (fix: did "
                                    "you mean 'db'?"),
])
def test_an_unknown_endpoint_names_the_argument_and_a_fix(args: list[object], culprit: str) -> None:
    result = netsim_cli(*args)
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert f"error: {BASIC}: {culprit}" in result.stderr


def test_names_are_per_daemon_and_exposed_ports_ascii() -> None:
    # As in Docker, two daemons may each run a "web"; tables name them HOST/NAME, and so does
    # a container named like a machine, so no row is ambiguous.
    sim = netsim.Simulation("api")
    node1, node2 = sim.add_host("node1"), sim.add_host("node2")
    node1.containers.run("web")
    node2.containers.run("web")
    node2.containers.run("node1")
    assert [v.name for v in sim.endpoints()] == ["node1", "node2", "node1/web", "node2/web", "node2/node1"]
    table = sim.reachability()
    assert set(table.src) == {"node1", "node2", "node1/web", "node2/web", "node2/node1"}
    assert sim.ping("node1/web", "node1").reachable and sim.container("node2/web").host == "node2"
    with pytest.raises(NetsimError, match="2 hosts run a container named 'web'; say which: node1/web, node2/web"):
        sim.container("web")
    for port in ("８０", "80/icmp", "0"):
        with pytest.raises(DockerError, match="invalid port"):
            node2.containers.run("db", expose=[port])
    assert not any(ns.name == "db" for ns in sim.world.namespaces.values())  # refused before anything was made
    assert node2.containers.run("db", expose=[5432, "53/udp"]).exposed == {(5432, "tcp"), (53, "udp")}
