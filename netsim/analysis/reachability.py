"""Who reaches whom: one ICMP echo per (source, destination address), as a DataFrame.

Every probe goes through the forwarding core on an instant clock at the simulation's current
time.  The outcome of a probe depends only on its source namespace and the address it is sent
to (never on which endpoint we *hope* owns it), so one probe answers every row that shares
that pair: with overlapping subnets on many hosts this is most rows.
"""

from __future__ import annotations

import multiprocessing
import signal
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import pandas as pd

from ..datapath.addr import ip
from ..datapath.probe import Probe
from ..datapath.scheduler import InstantScheduler
from ..engine.dns import Answer, candidate_names, names_of, resolve
from ..errors import NetsimError
from .disposition import (ACCEPTED, NAME_UNRESOLVED, NO_DNS_ON_DEFAULT_BRIDGE, NO_NETWORK, OTHER_RESPONDER, classify,
                          outcome, path_of)

if TYPE_CHECKING:
    from ..datapath.netns import Namespace
    from ..engine.daemon import Container
    from ..simulation import Simulation

COLUMNS = ["src", "dst", "addr", "network", "reachable", "disposition", "detail", "path"]
NAME_COLUMNS = ["src", "name", "dst", "addr", "network", "reachable", "disposition", "detail", "path"]

PING_TIMEOUT = 1.0  # seconds: "an echo reply ... within 1 s"


class Prober:
    """Runs probes on an instant clock, one per (source namespace, address), and remembers them.

    Used as a context manager: learned state (ARP, FDBs, conntrack) is flushed on entry, so a
    query does not depend on what ran before, and the timed world's own is put back on exit,
    so instant probes neither leave a trace in it nor wipe what its traffic had learned.
    """

    def __init__(self, sim: "Simulation") -> None:
        self.sim = sim
        self.sched = InstantScheduler(sim.now)
        self._cache: dict[tuple[int, IPv4Address, str, int], Probe] = {}

    def __enter__(self) -> "Prober":
        self._timed = self.sim.world.learned()
        self.sim.world.flush_learned()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sim.world.relearn(self._timed)

    def probe(self, src: "Namespace", addr: IPv4Address, proto: str = "icmp", port: int = 0) -> Probe:
        key = (id(src), addr, proto, port)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self.send(src, addr, proto, port)
        return found

    def send(self, src: "Namespace", addr: IPv4Address, proto: str = "icmp", port: int = 0, size: int = 56,
             df: bool = True) -> Probe:
        """One probe, run to completion on the instant clock, not remembered."""
        with self.sim.world.clock(self.sched):
            probe = Probe(src, ip(addr), proto, port, size=size, df=df)
            probe.send()
            self.sched.run()
            probe.close()
        return probe


def reachability(sim: "Simulation", workers: int = 1) -> pd.DataFrame:
    """One row per (source endpoint, destination endpoint, destination address).

    Probes are sent once per (source namespace, address); rows are then assembled with numpy
    from those outcomes, since with overlapping subnets a few hundred probes per source answer
    thousands of rows.  Text columns are pandas Categoricals.  ``workers > 1`` splits the
    probes over forked processes; the table is the same whatever the split, because every
    probe's outcome depends only on configuration (learned state is flushed per query).
    """
    views = sim.endpoints()
    ns_index: dict[tuple[str, str], int] = {}
    view_ns = np.array([ns_index.setdefault(v.ns.key, len(ns_index)) for v in views], dtype=np.int32)
    sources = list(ns_index)
    addr_index: dict[IPv4Address, int] = {}
    net_index: dict[str, int] = {}
    t_dst, t_addr, t_net = [], [], []
    for i, v in enumerate(views):
        for a, network in v.addresses:
            t_dst.append(i)
            t_addr.append(addr_index.setdefault(a, len(addr_index)))
            t_net.append(net_index.setdefault(network, len(net_index)))
    dst_arr = np.array(t_dst, dtype=np.int32)
    addr_arr = np.array(t_addr, dtype=np.int32)
    net_arr = np.array(t_net, dtype=np.int32)
    dst_ns = view_ns[dst_arr] if len(dst_arr) else dst_arr
    addrs = list(addr_index)

    labels = _Interner()
    accepted, other, empty = labels(ACCEPTED), labels(OTHER_RESPONDER), labels("")
    shape = (len(sources), len(addrs))
    responder = np.full(shape, -1, dtype=np.int32)
    fail_disposition = np.zeros(shape, dtype=np.int32)
    fail_detail = np.zeros(shape, dtype=np.int32)
    path = np.zeros(shape, dtype=np.int32)
    for k, row in enumerate(_outcomes(sim, sources, addrs, workers)):
        for j, (answer, disposition, detail, hops) in enumerate(row):
            if answer is not None:
                responder[k, j] = ns_index.setdefault(answer, len(ns_index))
            fail_disposition[k, j] = labels(disposition)
            fail_detail[k, j] = labels(detail)
            path[k, j] = labels(hops)
    shown: dict[tuple[str, str], str] = {}  # the namespace's first endpoint: a host before its host-mode containers
    for v in views:
        shown.setdefault(v.ns.key, v.name)  # HOST/NAME where a name alone is ambiguous
    # a namespace that is no endpoint (a load-balancer sandbox, ingress-sbox) is named with its host
    answered_by = np.array([labels(f"answered by {shown.get(key, '/'.join(key) if key[0] not in ('', key[1]) else key[1])}")
                            for key in ns_index], dtype=np.int32)

    parts: dict[str, list[np.ndarray]] = {c: [] for c in ("src", "dst", "addr", "net", "ok", "disp", "det", "path")}
    for i in range(len(views)):
        sel = dst_arr != i
        k = view_ns[i]
        a = addr_arr[sel]
        r = responder[k, a]
        ok = r == dst_ns[sel]
        by_other = (r >= 0) & ~ok
        parts["src"].append(np.full(int(sel.sum()), i, dtype=np.int32))
        parts["dst"].append(dst_arr[sel])
        parts["addr"].append(a)
        parts["net"].append(net_arr[sel])
        parts["ok"].append(ok)
        parts["disp"].append(np.where(ok, accepted, np.where(by_other, other, fail_disposition[k, a])))
        parts["det"].append(np.where(ok, empty, np.where(by_other, answered_by[np.maximum(r, 0)],
                                                         fail_detail[k, a])))
        parts["path"].append(path[k, a])
    col = {name: (np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int32))
           for name, arrays in parts.items()}
    names = [v.name for v in views]
    text = labels.categories()
    return pd.DataFrame({
        "src": pd.Categorical.from_codes(col["src"], categories=pd.Index(names)),
        "dst": pd.Categorical.from_codes(col["dst"], categories=pd.Index(names)),
        "addr": pd.Categorical.from_codes(col["addr"], categories=pd.Index([str(a) for a in addrs])),
        "network": pd.Categorical.from_codes(col["net"], categories=pd.Index(list(net_index))),
        "reachable": col["ok"].astype(bool),
        "disposition": _recode(col["disp"], text),
        "detail": _recode(col["det"], text),
        "path": _recode(col["path"], text),
    }, columns=COLUMNS)


Outcome = tuple[Optional[tuple[str, str]], str, str, str]  # responder namespace key, disposition, detail, path


def _outcomes(sim: "Simulation", sources: list[tuple[str, str]], addrs: list[IPv4Address],
              workers: int) -> list[list[Outcome]]:
    """The probe outcome of every (source namespace, address), in that order."""
    if workers <= 1 or len(sources) < 2 * workers:
        return _probe_rows(sim, sources, addrs)
    chunks = [sources[i::workers] for i in range(workers)]
    # fork: the children inherit the built simulation instead of rebuilding or pickling it.
    with _Forked(sim, addrs, chunks) as children:
        results = [_receive(proc, reader) for proc, reader in children]
    by_source = {src: row for chunk, rows in zip(chunks, results) for src, row in zip(chunk, rows)}
    return [by_source[src] for src in sources]


# Plain processes and pipes rather than a pool: a pool's shutdown waits for running chunks, and a
# signal during its start-up leaves workers that its exit handler then waits for.  These are
# killed on any way out, so Ctrl-C or SIGTERM stops a sweep at once.
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class _Forked:
    """One forked worker per chunk, each sending its rows back on a pipe; all killed on exit."""

    def __init__(self, sim: "Simulation", addrs: list[IPv4Address], chunks: list[list[tuple[str, str]]]) -> None:
        self.args = (sim, addrs, chunks)
        self.workers: list[tuple[Any, Any]] = []

    def __enter__(self) -> list[tuple[Any, Any]]:
        sim, addrs, chunks = self.args
        ctx = multiprocessing.get_context("fork")
        # Signals wait until every child is forked and has let go of the parent's handlers.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            for chunk in chunks:
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_probe_worker, args=(sim, addrs, chunk, writer), daemon=True)
                self.workers.append((proc, reader))
                proc.start()
                writer.close()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return self.workers

    def __exit__(self, *exc: object) -> None:
        for proc, reader in self.workers:
            if proc.pid is not None:
                proc.kill()  # a no-op for a worker that has sent its rows and exited
                proc.join()
            reader.close()


def _probe_worker(sim: "Simulation", addrs: list[IPv4Address], sources: list[tuple[str, str]], writer: Any) -> None:
    """A child: the parent handles signals and kills it, so it ignores Ctrl-C and dies on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    try:
        result: tuple[bool, Any] = (True, _probe_rows(sim, sources, addrs))
    except Exception as err:  # handed to the parent, which raises it as its own
        result = (False, err)
    writer.send(result)


def _receive(proc: Any, reader: Any) -> list[list[Outcome]]:
    try:
        ok, value = reader.recv()
    except EOFError:
        proc.join()
        raise NetsimError(f"a probe worker (pid {proc.pid}) died with exit code {proc.exitcode} "
                          "(fix: rerun with --workers 1, or give the machine more memory)") from None
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def _probe_rows(sim: "Simulation", sources: list[tuple[str, str]], addrs: list[IPv4Address]) -> list[list[Outcome]]:
    rows = []
    tracking = [ns for ns in sim.world.namespaces.values() if not ns.nf.empty]  # the only ones with conntrack
    with Prober(sim) as prober:
        for key in sources:
            ns = sim.world.namespaces[key]
            row = []
            for a in addrs:
                # Each pair is asked once here: send, keep the outcome, let the probe go.
                answer, disposition, detail, steps = outcome(prober.send(ns, a), PING_TIMEOUT)
                row.append((answer.key if answer is not None else None, disposition, detail, path_of(steps)))
            rows.append(row)
            # Finished echo flows are never looked up again (ids are unique per source), and
            # at fleet scale their conntrack entries would dominate memory.
            for ns in tracking:
                ns.ct.flush()
    return rows


class _Interner:
    """Strings to small ints, in first-seen order (deterministic category order)."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        return self._codes.setdefault(text, len(self._codes))

    def categories(self) -> list[str]:
        return list(self._codes)


def _recode(codes: "np.ndarray[Any, np.dtype[np.int32]]", text: list[str]) -> "pd.Categorical[str]":
    """A Categorical holding only the labels this column uses, in first-seen (= code) order."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(text)))  # linear, unlike np.unique's sort
    renumber = np.zeros(len(text), dtype=np.int32)
    renumber[used] = np.arange(len(used), dtype=np.int32)
    return pd.Categorical.from_codes(renumber[codes], categories=pd.Index([text[u] for u in used]))


def reachability_by_name(sim: "Simulation") -> pd.DataFrame:
    """Each container resolves every container name, alias and link alias, then pings the answer."""
    with Prober(sim) as prober:
        return _by_name_rows(sim, prober)


def _by_name_rows(sim: "Simulation", prober: Prober) -> pd.DataFrame:
    containers = list(sim.containers())
    names = candidate_names(containers)
    own_names = {ctr.id: set(names_of(ctr)) for ctr in containers}
    rows = []
    for src in containers:
        resolver = _resolver_of(sim, src)
        shown = sim.display_name(src)
        for name in names:
            answer: Optional[Answer] = resolve(resolver, name) if resolver is not None else None
            if resolver is None or answer is None:
                if name in own_names[src.id] and not any(name in own for c, own in own_names.items()
                                                          if c != src.id):
                    continue  # a container's own name, that no one else has: not a question
                disposition, detail = unresolved(resolver)
                rows.append((shown, name, "", "", "", False, disposition, detail, ""))
                continue
            owner = answer_owner(sim, resolver, answer)
            if owner is src or owner is None:
                continue
            addr = answer.addresses[0]
            reachable, disposition, detail, steps = classify(prober.probe(src.ns, addr), owner.ns, PING_TIMEOUT)
            rows.append((shown, name, sim.display_name(owner), str(addr), answer.network, reachable, disposition,
                         detail, path_of(steps)))
    return pd.DataFrame(rows, columns=NAME_COLUMNS)


def answer_owner(sim: "Simulation", resolver: "Container", answer: Answer) -> Optional["Container"]:
    """The container behind a DNS answer's first address: on the resolver's host, or for a swarm
    network on the node the record came from; None for a service's VIP, which no container has."""
    host = answer.hosts[0] if answer.hosts else resolver.host
    if not host:
        return None
    return sim.host(host).containers.get(answer.owners[0])


def unresolved(resolver: Optional["Container"]) -> tuple[str, str]:
    """Why a name found no answer, from where the asking container's resolver stands."""
    if resolver is not None and not resolver.endpoints:
        return NO_NETWORK, "NXDOMAIN: no network, only loopback"
    if resolver is not None and any(ep.network.user_defined for ep in resolver.endpoints.values()):
        return NAME_UNRESOLVED, "NXDOMAIN"
    return NO_DNS_ON_DEFAULT_BRIDGE, "NXDOMAIN"


def _resolver_of(sim: "Simulation", ctr):  # type: ignore[no-untyped-def]
    """Whose resolv.conf and /etc/hosts a container uses: its own, or its namespace donor's (B31)."""
    if ctr.network_mode == "host":
        return None  # the host's resolv.conf: no embedded DNS
    if ctr.network_mode.startswith("container:"):
        return _resolver_of(sim, ctr.engine.containers.get(ctr.network_mode.split(":", 1)[1]))
    return ctr


