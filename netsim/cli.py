"""The ``netsim`` command: a thin shell over :mod:`netsim.analysis`.

Each command loads a topology, asks the library one question and prints the answer the
library rendered.  This is the only module that prints or picks exit codes.  The analysis modules (pandas,
matplotlib) are imported inside the commands that use them, so ``netsim --help`` and a
mistyped flag answer at once:

* 0: the answer is yes (reachable, matches the golden table, a ping came back, run written);
* 1: the answer is no (unreachable, a changed cell, no reply);
* 2: the question could not be asked: bad input (any :class:`~netsim.errors.NetsimError`,
  printed as one ``error:`` line without a traceback) or a usage error (click's own code).
"""

from __future__ import annotations

import difflib
import signal
import threading
from contextlib import ExitStack, contextmanager
from ipaddress import IPv4Address
from pathlib import Path
from types import FrameType
from typing import Any, Iterator, Optional

import click

from . import __version__, load
from .engine.dns import candidate_names
from .datapath.vectorized import MODES
from .errors import NetsimError, one_line
from .simulation import Simulation
from .topology.loader import parse_duration

__all__ = ["main"]


class _Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so a half-written results folder is removed on the way out."""


def _terminate(signum: int, frame: Optional[FrameType]) -> None:
    raise _Terminated(signum)


@contextmanager
def _terminable() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception for the length of one command (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Netsim(click.Group):
    """Turns a NetsimError from any command into ``error: ...`` on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _terminable():
                return super().invoke(ctx)
        except NetsimError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(2)
        except click.UsageError as err:
            # click's own three-line usage block, folded into the one line every other error gets.
            where = err.ctx.command_path if err.ctx is not None else ctx.command_path
            click.echo(f"error: {one_line(where)}: {one_line(err.format_message())} "
                       f"(fix: see '{one_line(where)} --help')", err=True)
            ctx.exit(2)
        except (_Terminated, KeyboardInterrupt) as stop:
            signum = stop.args[0] if isinstance(stop, _Terminated) else signal.SIGINT
            click.echo(f"netsim: stopped by {signal.Signals(signum).name}; nothing half-written was left behind",
                       err=True)
            ctx.exit(128 + signum)


def _duration(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx, param) from None


class _Count(click.IntRange):
    """An integer range written in ASCII digits: Python's int() would also take "３" or "٣"."""

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if isinstance(value, str) and not (value.isascii() and value.lstrip("+-").isdigit()):
            self.fail(f"{value!r} is not a whole number in ASCII digits", param, ctx)
        return super().convert(value, param, ctx)


_topology = click.argument("topology", type=click.Path(dir_okay=False))
_seed = click.option("--seed", type=_Count(0, 2**63 - 1), help="Override the topology's seed.")
_at = click.option("--at", callback=_duration, metavar="DURATION",
                   help="Simulated time to answer for, e.g. 2s, 500ms, 1.5.")


def _load(topology: str, seed: Optional[int], at: Optional[float]) -> Simulation:
    sim = load(topology, seed)
    _warn(sim)
    if at is not None:
        if not sim.timeline and not sim.traffic_flows:  # nothing in the file happens in time
            click.echo(f"note: {one_line(topology)} has no events, so --at answers as at t=0", err=True)
        sim.run(at)
    return sim


def _warn(sim: Simulation) -> None:
    for text in sim.warnings:
        click.echo(f"warning: {one_line(text)}", err=True)


def _check_names(sim: Simulation, src: str, dst: str) -> None:
    """Refuse a source that is no endpoint, and a destination no one in the topology could mean.

    A destination may be an address or any name some container answers to; whether the source
    can resolve it is the trace's answer, not a usage error.
    """
    endpoints = list(sim.hosts) + [ctr.name for ctr in sim.containers()]
    if src not in endpoints:
        raise NetsimError(f"{sim.source}: SRC {src!r} is no host or container of the topology "
                          f"(fix: {_closest(src, endpoints)})")
    try:
        IPv4Address(dst)
        return
    except ValueError:
        pass
    names = set(sim.hosts) | set(candidate_names(sim.containers()))
    if dst not in names:
        raise NetsimError(f"{sim.source}: DST {dst!r} is no host, container, alias or address of the topology "
                          f"(fix: {_closest(dst, sorted(names))} An IPv4 address works too.)")


def _closest(word: str, names: list[str]) -> str:
    close = difflib.get_close_matches(word, names, n=1) if len(word) <= 100 else []
    if close:
        return f"did you mean {close[0]!r}?"
    return f"use one of {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}."


_workers = click.option("--workers", type=_Count(1, 64), default=1, show_default=True,
                        help="Processes to send probes from (the table is the same for any number).")


@click.group(cls=_Netsim, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netsim")
def main() -> None:
    """Simulate multi-host Docker networking: who reaches whom, and why not."""


@main.command()
@click.argument("topology", required=False, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Results folder (default: results/<topology name>).")
@click.option("--force", is_flag=True, help="Replace the results folder even if netsim did not write it.")
@click.option("--pcap", "pcap", multiple=True, metavar="NODE:IFACE",
              help="Capture packets there (repeatable): pcap/<node>-<iface>.pcap, as tcpdump -i would.")
@click.option("--packets", is_flag=True, help="Also write packets.csv: every packet the traffic flows sent.")
@click.option("--mode", type=click.Choice(MODES), help="How traffic moves (overrides the file's mode:): every "
              "packet through the event core, or steady UDP flows vectorized a window at a time.")
@_seed
@_workers
def run(topology: Optional[str], out: Optional[Path], force: bool, pcap: tuple[str, ...], packets: bool,
        mode: Optional[str], seed: Optional[int], workers: int) -> None:
    """Answer TOPOLOGY's reachability at t=0, walk its timeline, and write a results folder.

    TOPOLOGY defaults to topologies/basic.yaml, or the copy packaged with netsim.  An existing
    folder is replaced only if it is empty or netsim wrote it, unless --force is given.

    \b
    Example:
      netsim run topologies/basic.yaml --out results/basic
      netsim run topologies/overlay.yaml --pcap node1:eth0 --pcap web:eth0
    """
    from .analysis.render import flow_summary, summary
    from .analysis.results import check_target, default_folder, default_topology, simulate, write_results

    with ExitStack() as stack:
        path = topology if topology is not None else stack.enter_context(default_topology())
        if out is not None:
            check_target(out, force, keep=(Path(path), Path.cwd()))  # refuse before the work, not after
        output = simulate(path, seed, workers, pcap, mode)
    _warn(output.sim)
    folder = out if out is not None else default_folder(output.sim.name)
    written = write_results(output, folder, force, packets)
    click.echo(f"{output.title}: wrote {len(written)} files to {folder}")
    click.echo(f"table: {folder / 'reachability.csv'}")
    click.echo(summary(output.reachability))
    if output.flows is not None:
        click.echo(f"flows: {folder / 'flows.csv'}")
        click.echo(flow_summary(output.flows))


@main.command()
@_topology
@_at
@click.option("--json", "as_json", is_flag=True, help="Print the table as a JSON array of rows.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the table as CSV.")
@click.option("--by-name", is_flag=True, help="Resolve names the way each container would, then ping.")
@click.option("--ports", "by_port", is_flag=True,
              help="Probe every listening TCP/UDP port (published, exposed, the daemon's) and say who answers.")
@click.option("--expect", type=click.Path(dir_okay=False),
              help="Compare with a golden CSV; exit 1 listing the changed cells.")
@click.option("--update-golden", is_flag=True, help="With --expect: show the changes, then store the table there.")
@click.option("--write-golden", type=click.Path(dir_okay=False), metavar="FILE",
              help="Store the table as a golden CSV for later --expect.")
@_seed
@_workers
def reach(topology: str, at: Optional[float], as_json: bool, as_csv: bool, by_name: bool, by_port: bool,
          expect: Optional[str], update_golden: bool, write_golden: Optional[str], seed: Optional[int],
          workers: int) -> None:
    """Print who reaches whom in TOPOLOGY: a grid (sources down, destinations across), JSON or CSV.

    Regression in CI: `netsim reach T --write-golden golden.csv` once, then
    `netsim reach T --expect golden.csv` (exit 1 on a change); after an intended change,
    `--expect golden.csv --update-golden` and review the diff.

    \b
    Examples:
      netsim reach topologies/basic.yaml
      netsim reach topologies/timeline.yaml --at 2s --csv
      netsim reach topologies/basic.yaml --ports
    """
    from .analysis.golden import compare, golden_kind
    from .analysis.golden import write_golden as store_golden
    from .analysis.render import grid_report, ports_report, title, to_csv, to_json

    if sum((as_json, as_csv, expect is not None, write_golden is not None)) > 1:
        raise click.UsageError("choose one of --json, --csv, --expect and --write-golden")
    if update_golden and expect is None:
        raise click.UsageError("--update-golden needs --expect FILE")
    if by_name and by_port:
        raise click.UsageError("choose one of --by-name and --ports")
    sim = _load(topology, seed, at)
    # A golden's columns say which table it holds, so a by-name or ports golden needs no flag to match.
    kind = golden_kind(expect) if expect is not None and not update_golden else \
        "by-name" if by_name else "ports" if by_port else "by-address"
    table = sim.reachability_by_name() if kind == "by-name" else sim.ports() if kind == "ports" else \
        sim.reachability(workers=workers)
    if write_golden is not None:
        click.echo(f"wrote golden {write_golden} ({store_golden(table, write_golden)} rows)")
        return
    if expect is not None:
        if update_golden:
            if Path(expect).exists():
                click.echo(str(compare(table, expect)))
            click.echo(f"updated golden {expect} ({store_golden(table, expect)} rows)")
            return
        diff = compare(table, expect)
        click.echo(str(diff))
        raise click.exceptions.Exit(0 if diff.ok else 1)
    if as_json:
        click.echo(to_json(table), nl=False)
    elif as_csv:
        click.echo(to_csv(table), nl=False)
    elif kind == "ports":
        click.echo(ports_report(table, title(sim)), nl=False)
    else:
        click.echo(grid_report(table, [view.name for view in sim.endpoints()], title(sim)), nl=False)


@main.command()
@_topology
@click.argument("src")
@click.argument("dst")
@click.option("--tcp", "port", type=_Count(1, 65535), help="Send a TCP SYN to PORT instead of an echo.")
@click.option("--udp", "udp_port", type=_Count(1, 65535),
              help="Send a UDP datagram to PORT instead of an echo (a listener there echoes it back).")
@_at
@click.option("--frames", is_flag=True, help="Show each transmitted frame as scapy sees it.")
@_seed
def trace(topology: str, src: str, dst: str, port: Optional[int], udp_port: Optional[int], at: Optional[float],
          seed: Optional[int], frames: bool) -> None:
    """Follow one probe from SRC to DST hop by hop; exit 0 if it was answered by DST, else 1.

    DST is a name (resolved the way SRC would) or an address.

    \b
    Examples:
      netsim trace topologies/basic.yaml web api
      netsim trace topologies/basic.yaml ext 192.168.100.11 --tcp 8080 --frames
    """
    if port is not None and udp_port is not None:
        raise click.UsageError("choose one of --tcp and --udp")
    sim = _load(topology, seed, at)
    _check_names(sim, src, dst)
    proto = "tcp" if port else "udp" if udp_port else "icmp"
    result = sim.trace(src, dst, proto, port or udp_port or 0)
    click.echo(result.render(frames=frames))
    raise click.exceptions.Exit(0 if result.reachable else 1)


@main.command()
@_topology
@click.argument("src")
@click.argument("name")
@_at
@_seed
def resolve(topology: str, src: str, name: str, at: Optional[float], seed: Optional[int]) -> None:
    """What SRC's resolver answers for NAME: one address per line, as dig +short; exit 0 with
    an answer, 1 on NXDOMAIN (the reason on stderr).

    \b
    Examples:
      netsim resolve topologies/basic.yaml web api
      netsim resolve topologies/node-failure.yaml web api --at 20s
    """
    from .analysis.trace import nxdomain

    sim = _load(topology, seed, at)
    _check_names(sim, src, "0.0.0.0")
    answer = sim.resolve(src, name)
    for address in answer.address:
        click.echo(address)
    if answer.empty:
        click.echo(f"{src}: {name}: {nxdomain(sim, src)}", err=True)
        raise click.exceptions.Exit(1)


@main.command("connect")
@_topology
@click.argument("src")
@click.argument("target", metavar="ADDR:PORT")
@click.option("--udp", is_flag=True, help="A UDP exchange (the datagram echoed back) instead of a TCP handshake.")
@click.option("--count", "-c", type=_Count(min=1), default=1, show_default=True, help="Connections to open.")
@_at
@_seed
def connect_command(topology: str, src: str, target: str, udp: bool, count: int, at: Optional[float],
                    seed: Optional[int]) -> None:
    """Open COUNT connections from SRC to ADDR:PORT (ADDR a name or an address); one line each:
    connected or why not, the endpoint that answered and the source address it saw. Exit 0 when
    every attempt connected, else 1.

    \b
    Examples:
      netsim connect topologies/services.yaml client web:80 --count 4   # IPVS's round robin over the tasks
      netsim connect topologies/basic.yaml ext 192.168.100.11:8080
    """
    dst, colon, port_text = target.rpartition(":")
    if not colon or not dst or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise click.BadParameter(f"{target!r}: write ADDR:PORT, e.g. web:80 or 10.0.1.4:80", param_hint="ADDR:PORT")
    sim = _load(topology, seed, at)
    _check_names(sim, src, "0.0.0.0")
    table = sim.connect(src, dst, int(port_text), "udp" if udp else "tcp", count)
    for row in table.to_dict("records"):
        where = f"{row['src']} -> {row['addr'] or row['dst']}:{row['port']}/{row['proto']}"
        if row["connected"]:
            click.echo(f"{row['attempt']}: {where} connected, answered by {row['answered_by']} "
                       f"(which saw {row['source_seen']})")
        else:
            why = row["disposition"] + (f": {row['detail']}" if row["detail"] else "")
            click.echo(f"{row['attempt']}: {where} failed, {why}")
    if not table.connected.all():
        raise click.exceptions.Exit(1)


@main.command()
@_topology
@click.argument("src")
@click.argument("dst")
@click.option("--count", "-c", type=_Count(min=1), default=3, show_default=True, help="Echoes to send.")
@click.option("--interval", "-i", callback=_duration, metavar="DURATION", default="1s", show_default=True,
              help="Simulated time between echoes, e.g. 1s or 200ms.")
@click.option("--size", "-s", type=click.IntRange(0, 65507), default=56, show_default=True,
              help="ICMP payload bytes, as ping -s.")
@click.option("--df", is_flag=True, help="Set Don't Fragment, as ping -M do: too big fails with the MTU.")
@_at
@_seed
def ping(topology: str, src: str, dst: str, count: int, interval: float, size: int, df: bool,
         at: Optional[float], seed: Optional[int]) -> None:
    """Ping DST from SRC in simulated time; exit 0 if any reply came back, else 1.

    \b
    Examples:
      netsim ping topologies/basic.yaml web api --count 3 --interval 200ms
      netsim ping topologies/overlay.yaml web api --size 1423 --df   # message too long, mtu=1450
    """
    from .analysis.render import ping_statistics

    sim = _load(topology, seed, at)
    _check_names(sim, src, dst)
    start = sim.now
    results = []
    for seq in range(1, count + 1):
        sim.run(start + (seq - 1) * interval)
        result = sim.ping(src, dst, size=size, df=df)
        results.append(result)
        click.echo(f"seq={seq} t={result.sent_at:.6g}s {result}")
    click.echo(ping_statistics(dst, results))
    raise click.exceptions.Exit(0 if any(r.reachable for r in results) else 1)

