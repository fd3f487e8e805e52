"""A results folder: one topology run through its timeline, written all at once or not at all.

``simulate`` loads a topology and gathers the answers: both reachability tables for the
topology as written (t = 0, the same instant ``netsim reach`` answers for), then a timeline
of the address table after each event instant, walking the same simulation forward, and what
its traffic flows saw (``pings.csv``: every echo, sent when, answered how).
``write_results`` renders them into a folder: CSV and JSON tables, the text grid, the
heatmap, and ``manifest.json`` (inputs, versions, and the sha256 of every other file).

Everything but the manifest's ``wall_time_s`` and ``created`` is a function of the topology
file and the seed, byte for byte, so two runs can be compared with ``diff -r``.  The folder
is assembled under a temporary sibling name and renamed into place only when complete; an
existing folder is replaced only then, so a failed run leaves the previous results intact
and no half-written folder behind.  Only a folder netsim wrote (or an empty one) is ever
replaced, unless the caller forces it; staging folders of runs that died (SIGKILL, power
loss) carry their pid and are removed by the next run into the same place.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import secrets
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Optional, Sequence

import pandas as pd

from .. import __version__
from ..errors import NetsimError
from ..simulation import Simulation, build
from ..topology import load_spec
from ..topology.spec import TopologySpec
from .render import grid_report, heatmap, save_png, title, to_csv, to_json

__all__ = ["RunOutput", "simulate", "timeline", "write_results", "default_topology", "default_folder", "atomic_folder",
           "check_target", "netsim_wrote", "remove_stale", "MANIFEST"]

MANIFEST = "manifest.json"
BUNDLED_TOPOLOGY = "topologies/basic.yaml"


@dataclass(frozen=True)
class RunOutput:
    """What one run found: the tables at t = 0, the timeline, and the simulation at its last instant."""

    topology: str  # the path as given, recorded in the manifest
    spec: TopologySpec
    sim: Simulation
    reachability: pd.DataFrame
    by_name: pd.DataFrame
    ports: pd.DataFrame
    timeline: Optional[pd.DataFrame]  # None when the topology has no events
    changes: Optional[pd.DataFrame]  # every cell that changes over the timeline; None without events
    pings: Optional[pd.DataFrame]  # every echo of the file's ping flows; None without any
    flows: Optional[pd.DataFrame]  # one row per traffic flow; None without traffic
    pcaps: dict[str, bytes]  # pcap/<node>-<iface>.pcap -> its bytes
    started: float  # time.perf_counter() when the run began; wall_time_s counts from here

    @property
    def title(self) -> str:
        return title(self.sim, at=0.0)  # the main tables answer for t = 0


def simulate(topology: "str | os.PathLike[str]", seed: Optional[int] = None, workers: int = 1,
             pcap: Sequence[str] = (), mode: Optional[str] = None) -> RunOutput:
    """Load ``topology``, answer the reachability, by-name and ports tables at t = 0, then walk its
    timeline and its traffic, capturing packets on the file's ``capture:`` and on ``pcap``;
    ``mode`` (``event``, ``vectorized``) overrides the file's."""
    started = time.perf_counter()
    spec = load_spec(topology)
    times = sorted({event.at for event in spec.events})
    if mode is not None:
        spec = replace(spec, mode=mode)
    sim = build(spec, seed)
    for where in pcap:
        sim.capture(where)
    table, by_name, ports = sim.reachability(workers=workers), sim.reachability_by_name(), sim.ports()
    changes = None
    if times:
        # A second run of the same file, walked in slices: what changes between the event instants
        # too (gossip detecting a failure), not only at them.  A swarm gets time to notice the last event.
        watch = WATCH_AFTER_LAST_EVENT if any(h.swarm for h in spec.hosts) else 0.0
        changes = build(spec, seed).reachability_changes(times[-1] + watch)
    walked = timeline(sim, times, workers) if times else None
    pings = flows = None
    if sim.traffic_flows:
        sim.run(max(sim.now, sim.traffic_end()))
        flows = sim.flows()
        if any(f.KIND == "ping" for f in sim.traffic_flows):
            pings = sim.pings()
    pcaps = {f"pcap/{c.filename}": c.pcap() for c in sim.captures.values()}
    return RunOutput(os.fspath(topology), spec, sim, table, by_name, ports, walked, changes, pings, flows, pcaps,
                     started)


#: How long a run with a swarm keeps watching after its last event: B56's longest detection
#: window (about 31 s for 20 nodes) with room to spare, so a failure's effects are all listed.
WATCH_AFTER_LAST_EVENT = 35.0


def timeline(sim: Simulation, times: list[float], workers: int = 1) -> pd.DataFrame:
    """The address table after the events of each instant in ``times``, with a leading ``time`` column.

    Answers never depend on earlier questions (each query flushes learned state), so walking
    one simulation forward gives the same tables as a fresh one per instant.
    """
    frames = []
    for t in times:
        frames.append(sim.reachability(at=t, workers=workers).assign(time=t))
    table = pd.concat(frames, ignore_index=True)
    return table[["time"] + [c for c in table.columns if c != "time"]]


# ---- where things go ---------------------------------------------------------------------------


@contextmanager
def default_topology() -> Iterator[Path]:
    """``topologies/basic.yaml`` under the current folder if it is there, else netsim's packaged copy."""
    local = Path(BUNDLED_TOPOLOGY)
    if local.is_file():
        yield local
        return
    packaged = resources.files("netsim") / "data" / "basic.yaml"
    if not packaged.is_file():
        raise NetsimError(f"no topology given, and neither {BUNDLED_TOPOLOGY} nor the packaged copy exists")
    with resources.as_file(packaged) as path:
        yield path


def default_folder(name: str) -> Path:
    """``results/<topology name>`` under the current folder; a name that is not a plain folder name is refused."""
    if name in ("", ".", "..") or any(sep in name for sep in ("/", "\\", "\0")):
        raise NetsimError(f"topology name {name!r} cannot name a results folder; choose one with --out")
    return Path("results") / name


def _staging_prefixes(target: Path) -> tuple[str, str]:
    return f".{target.name}.tmp-", f".{target.name}.old-"


def _sibling(target: Path, prefix: str) -> Path:
    # The writer's pid is in the name, so a later run can tell a dead run's leftovers from a live one's.
    return target.parent / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process
    return True


def remove_stale(target: Path) -> list[Path]:
    """Delete staging and set-aside siblings of ``target`` left by runs whose process is gone."""
    removed: list[Path] = []
    prefixes = _staging_prefixes(target)
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return removed
    for path in siblings:
        prefix = next((p for p in prefixes if path.name.startswith(p)), None)
        if prefix is None:
            continue
        pid = path.name[len(prefix):].partition("-")[0]
        if pid.isascii() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def netsim_wrote(folder: Path) -> Optional[str]:
    """None if ``folder`` is empty or a results folder netsim wrote, else why it may not be replaced.

    A folder counts as netsim's when its manifest names netsim and lists every other file in it,
    so a user's own file put beside the results is never deleted with them.
    """
    # Every file and folder inside, as the manifest names them (pcap/node1-eth0.pcap).
    entries = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    if not entries:
        return None
    if MANIFEST not in entries:
        return f"it holds {_some(entries)} and no netsim {MANIFEST}"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        listed = {entry["name"] for entry in manifest["files"]} if "netsim_version" in manifest else None
    except (OSError, ValueError, KeyError, TypeError):
        listed = None
    if listed is None:
        return f"its {MANIFEST} was not written by netsim"
    folders = {parent.as_posix() for name in listed for parent in PurePosixPath(name).parents} - {"."}
    foreign = [name for name in entries if name != MANIFEST and name not in listed and name not in folders]
    if foreign:
        return f"it holds {_some(foreign)}, which netsim did not write"
    return None


def _some(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _check_parents(target: Path) -> None:
    for parent in reversed(target.parents):
        if parent.exists() and not parent.is_dir():
            raise NetsimError(f"cannot create {target}: {parent} is a file, not a folder "
                              "(fix: choose an --out whose parents are folders)")


def check_target(target: Path, force: bool = False, keep: Sequence[Path] = ()) -> Path:
    """``target`` as an absolute path, if results may be written there; else a NetsimError saying why not.

    Asked before a long run as well as when writing, so a refusal comes before the work.  Not
    even ``force`` replaces a folder that holds one of ``keep`` (the topology, the current folder).
    """
    target = Path(os.path.abspath(target))  # "." and "dir/.." get a real name and parent
    _check_parents(target)
    real = Path(os.path.realpath(target))
    for path in keep:
        inside = Path(os.path.realpath(path))
        if inside == real or real in inside.parents:
            raise NetsimError(f"refusing to replace {target}: it holds {path}, which --force does not "
                              "delete either (fix: choose a results folder outside it with --out)")
    if target.exists() and not target.is_dir():
        raise NetsimError(f"cannot write results to {target}: it is a file (fix: choose a folder with --out)")
    if target.is_dir() and not force:
        try:
            why = netsim_wrote(target)
        except OSError as err:
            raise NetsimError(f"cannot read {target}: {err.strerror}") from None
        if why is not None:
            raise NetsimError(f"refusing to replace {target}: {why} (fix: choose a new or empty folder "
                              "with --out, or add --force to replace it)")
    return target


@contextmanager
def atomic_folder(target: Path, force: bool = False, keep: Sequence[Path] = ()) -> Iterator[Path]:
    """Yield an empty temporary sibling of ``target``; on success it replaces ``target``, else vanishes.

    An existing ``target`` is replaced only if it is empty or netsim wrote it (see
    :func:`netsim_wrote`), unless ``force``; a folder of the user's is never deleted by default.
    """
    target = check_target(target, force, keep)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target)
        # A sibling, so the final rename stays on one filesystem (and so is atomic); os.mkdir, not
        # mkdtemp, so the folder gets the user's umask rather than mode 0700.
        staging = _sibling(target, _staging_prefixes(target)[0])
        staging.mkdir()
    except OSError as err:
        raise NetsimError(f"cannot create {target}: {err.strerror}") from None
    try:
        yield staging
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an old ``target`` is moved aside first and deleted last."""
    old = None
    try:
        if target.exists():
            old = _sibling(target, _staging_prefixes(target)[1])
            target.rename(old)
        staging.rename(target)
    except OSError as err:
        if old is not None and not target.exists():
            old.rename(target)
        raise NetsimError(f"cannot replace {target}: {err.strerror}") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---- writing -------------------------------------------------------------------------------------


def _bytes(content: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return write


def _text(content: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(content.encode("utf-8"))  # bytes: no platform newline translation
    return write


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_results(out: RunOutput, folder: Path, force: bool = False, packets: bool = False) -> list[Path]:
    """Render ``out`` into ``folder`` atomically; return the paths written there, manifest last.

    ``force`` replaces a folder netsim did not write, but never one holding the topology or
    the current folder (see :func:`atomic_folder`).
    """
    endpoints = [view.name for view in out.sim.endpoints()]
    writers: dict[str, Callable[[Path], None]] = {
        "reachability.csv": _text(to_csv(out.reachability)),
        "reachability.json": _text(to_json(out.reachability)),
        "reachability_by_name.csv": _text(to_csv(out.by_name)),
        "reachability_by_name.json": _text(to_json(out.by_name)),
        "ports.csv": _text(to_csv(out.ports)),
        "ports.json": _text(to_json(out.ports)),
        "grid.txt": _text(grid_report(out.reachability, endpoints, out.title)),
        "isolation.png": lambda path: save_png(heatmap(out.reachability, out.title), path),
    }
    if out.timeline is not None:
        writers["timeline.csv"] = _text(to_csv(out.timeline))
    if out.changes is not None:
        writers["changes.csv"] = _text(to_csv(out.changes))
    if out.pings is not None:
        writers["pings.csv"] = _text(to_csv(out.pings))
    if out.flows is not None:
        from .flows import latency_cdf, packet_table
        writers["flows.csv"] = _text(to_csv(out.flows))
        writers["latency.png"] = lambda path: save_png(latency_cdf(out.sim, out.flows), path)  # type: ignore[arg-type]
        if packets:
            writers["packets.csv"] = _text(to_csv(packet_table(out.sim)))
    for name, data in out.pcaps.items():
        writers[name] = _bytes(data)
    with atomic_folder(folder, force, keep=(Path(out.topology), Path.cwd())) as staging:
        try:
            for name, write in writers.items():
                write(staging / name)
            files = [{"name": name, "sha256": _sha256(staging / name)} for name in sorted(writers)]
            (staging / MANIFEST).write_bytes(_manifest(out, files).encode("utf-8"))
        except OSError as err:
            raise NetsimError(f"cannot write {folder}: {err.strerror or err}") from None
    return [folder / name for name in writers] + [folder / MANIFEST]


def _manifest(out: RunOutput, files: list[dict[str, str]]) -> str:
    sim = out.sim
    manifest = {
        "topology": out.topology,
        "topology_sha256": out.spec.sha256,
        "name": sim.name,
        "seed": sim.seed,
        "engine": sim.profile.version,
        "mode": sim.mode,
        "netsim_version": __version__,
        "sim_time": sim.now,
        "events": [[at, text] for at, text in sim.events_log],
        "warnings": sim.warnings,
        "files": files,
        # The two fields that differ between otherwise identical runs:
        "wall_time_s": round(time.perf_counter() - out.started, 3),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }
    return json.dumps(manifest, sort_keys=True, indent=2) + "\n"
