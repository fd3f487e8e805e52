"""The vectorized mode: steady flows solved a window at a time, between everything else.

A flow whose path the flow cache holds (``datapath.flowcache``) does the same thing to every
packet: fixed delays (device costs), cables (FIFO transmitters, ``Link``), captures, learned
entries refreshed, a socket at the end.  Between two events of anything else (a gossip timer,
a ping, a timeline event, a packet on another path, the end of the run) nothing but such flows
moves, so their packets over that window need no event each: each cable's departures come from
Lindley's recursion over all the frames that enter it (``lindley.serve_exact``), the
cables taken in an order where each comes after those that feed it, the flows merged at shared
cables in time order.

A window runs from the instant a flow's send is due to the next event of anything else (``T``).
Everything its packets do before ``T`` depends only on its packets (nothing else happens then),
so it is applied as the event core would: the rows, the captures' frames, the refreshed
entries, the deliveries to the sockets, each at its instant and in time order.  A packet still
under way at ``T`` goes back to the event core as a flow-cache replay at its next boundary (the
cable it is on, or the delay it is in), and the next window takes such packets back along with
the sends.  A cable's state after the window is what its frames left: when its transmitter is
free, and the frames still queued on a cable with a queue limit.

What a window leaves to the event core: a flow with no valid record yet (its first packet, or
after any change of forwarding state: the version moved), cables with loss or a byte limit
(each frame's fate would be drawn or decided one at a time), a queue that would overflow (the
window is not taken), and a path that loops.

Results are the event mode's, byte for byte: a cable's departures are computed with the event
core's float operations in its order (a loop of two operations a frame: the closed form of
``trains`` differs by an ulp now and then, enough to move a capture's timestamp across half a
nanosecond), delays are added as the event core adds them, and frames tied at one instant go
in the event core's order, that of the events that scheduled them (``_history``).  The one
approximation is there: two flows whose sends tie at two instants running are taken to have
tied all the way back to the window's start.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any, Optional, Protocol

import numpy as np

from ..errors import NetsimError
from .flowcache import ARRIVE, DELAY, DELIVER, TAP, TOUCH, Path, Replay
from .link import MIN_FRAME, WIRE_OVERHEAD
from .lindley import feed_order, serve_exact
from .skb import Skb
from .state import STATE

if TYPE_CHECKING:
    from .netns import Namespace
    from .world import World

__all__ = ["MODES", "Source", "Vectorizer"]

MODES = ("event", "vectorized")
MIN_PACKETS = 8  # a window for fewer is not worth its set-up: the event core sends them


class Source(Protocol):
    """A steady flow the vectorized mode may take over (``traffic.udp``)."""

    def probe(self) -> Optional[tuple["Namespace", Skb]]:
        """A packet as the flow sends them now (for its path's key), or None."""

    def upcoming(self, seq: int, at: float, until: float) -> list[tuple[int, float]]:
        """Its sends from ``seq`` (due at ``at``) on, before ``until``, without taking them."""

    def following(self, seq: int, at: float) -> Optional[tuple[int, float]]:
        """The send after ``seq`` (due at ``at``), None after the last, without taking it."""

    def commit(self, seq: int) -> None:
        """Its sends up to ``seq`` are made: what was drawn for them may go."""

    def emit(self, seq: int, at: float) -> Any:
        """Send ``seq`` as at ``at``: note its row, and give the payload its packet carries."""

    def fire(self, seq: int, at: float) -> None:
        """Its send event: what it puts on the packets' heap."""


class _Compiled:
    """A record as operations on times: ``ops`` (kind, step, ...), and where each step's
    boundary resumes (the operation after it)."""

    __slots__ = ("ops", "after_step", "deliver_op", "observer")

    def __init__(self, ops: list[tuple[Any, ...]], observer: Any) -> None:
        self.ops = ops
        self.after_step = {op[1]: n + 1 for n, op in enumerate(ops) if op[0] in "DL"}
        self.deliver_op = {op[1]: n for n, op in enumerate(ops) if op[0] == "V"}
        self.observer = observer


def _compile(path: Path, observer: Any) -> Optional[_Compiled]:
    ops: list[tuple[Any, ...]] = []
    for i, step in enumerate(path.steps):
        kind = step[0]
        if kind == DELAY:
            ops.append(("D", i, step[1]))
        elif kind == ARRIVE:
            link, sender = step[1], step[2]
            if link.loss or link.queue_bytes is not None:
                return None
            way = link._to_b if sender is link.a else link._to_a
            length = step[5][0].frame.length
            wire = ((length if length > MIN_FRAME else MIN_FRAME) + WIRE_OVERHEAD) * 8 / link.bandwidth
            ops.append(("L", i, link, way, wire, length))
        elif kind == TAP:
            ops.append(("T", i, step[1], step[2]))
        elif kind == TOUCH:
            ops.append(("U", i, step[1], step[2]))
        elif kind == DELIVER:
            if not hasattr(getattr(step[1], "__self__", None), "received_many"):
                return None  # a socket that may answer: what it sends is the event core's to order
            if step[3]:
                ops.append(("W", i, step[3]))
            ops.append(("V", i, step[1], step[2], step[4]))
        else:
            ops.append(("X", i, step[1], step[2], step[3], step[4], step[5]))
    return _Compiled(ops, observer)


class _Group:
    """Packets of one path that start at one operation: new sends, or packets under way."""

    __slots__ = ("path", "code", "start", "seqs", "t", "origin", "payloads", "skbs", "source", "ns", "times",
                 "after", "hist")

    def __init__(self, path: Path, code: _Compiled, start: int, source: Any, ns: Any) -> None:
        self.path, self.code, self.start, self.source, self.ns = path, code, start, source, ns
        self.seqs: list[int] = []
        self.t: list[float] = []
        # The heap entry (its event id) each packet's events descend from: its own for a packet
        # under way, the first send's for a flow's sends (see _history)
        self.origin: list[float] = []
        self.payloads: list[Any] = []
        self.skbs: list[Optional[Skb]] = []
        self.times: dict[int, Any] = {}  # op -> when each packet does it
        self.after: dict[int, Any] = {}  # op -> when each packet is done with it (delays, cables)
        # op -> the history (_history) of the event each packet does it in (-1: its send)
        self.hist: dict[int, tuple[Any, ...]] = {}

    def add(self, seq: int, at: float, origin: float, payload: Any, skb: Optional[Skb]) -> None:
        self.seqs.append(seq)
        self.t.append(at)
        self.origin.append(origin)
        self.payloads.append(payload)
        self.skbs.append(skb)


class Vectorizer:
    """The vectorized mode of one world (``World.vectorizer``); off unless ``enabled``."""

    def __init__(self, world: "World") -> None:
        self.world = world
        self.enabled = False
        self.sources: list[Source] = []
        self.quiet_until = -np.inf  # no window is worth trying before then (the last try's next event)
        self.windows = 0  # windows taken
        self.packets = 0  # packets that ended their path in a window

    def offer(self, current: Source, seq: int, at: float) -> bool:
        """``current``'s send ``seq`` is due now: take it, and every send and packet of the
        steady flows before the next other event, as a window; False leaves it to the event core."""
        if not (self.enabled and self.world.flowcache.enabled and self.world.sched.timed):
            return False
        env = self.world.sched.env  # type: ignore[attr-defined]
        if env._now < self.quiet_until:
            return False
        paths: dict[int, tuple[Source, Path, _Compiled, Any]] = {}
        for source in [current, *(s for s in self.sources if s is not current)]:
            found = self._path(source)
            if found is not None:
                paths[id(source)] = (source, *found)
            elif source is current:
                return False
        events, calls = env._queue, env._calls
        horizon = min(p[1].until for p in paths.values())
        if events:
            horizon = min(horizon, events[0][0])
        candidates: list[tuple[int, Any, Any, float, Any, int]] = []  # heap index, who, what, when, args, id
        # In the heap's order, so packets tied at a cable go in the order the event core gives them.
        for n, (when, _, eid, fn, args) in sorted(enumerate(calls), key=lambda e: e[1][:3]):
            owner = getattr(fn, "__self__", None)
            func = getattr(fn, "__func__", None)
            if owner is not None and id(owner) in paths and func is type(owner).fire:
                candidates.append((n, owner, None, when, args, eid))
            elif type(owner) is Replay and (func is Replay.boundary or func is Replay.deliver) and \
                    id(owner.skb.observer) in paths and owner.path.version == STATE.version and \
                    _code(owner.path, owner.skb.observer) is not None:  # a packet of a steady flow, under way
                candidates.append((n, owner, func, when, args, eid))
                horizon = min(horizon, owner.path.until)
            elif when < horizon:
                horizon = when
        end = float(horizon)
        groups: dict[tuple[int, int], _Group] = {}
        count = 0
        resume: list[tuple[float, _Group, Source, int, float]] = []
        commits: list[tuple[Source, int]] = []
        taken: set[int] = set()

        def take(source: Source, first: int, due: float, eid: float) -> int:
            _, path, code, ns = paths[id(source)]
            sends = source.upcoming(first, due, end)
            if not sends:
                return 0
            group = groups.setdefault((id(path), 0), _Group(path, code, 0, source, ns))
            for s, t in sends:
                group.add(s, t, eid, None, None)
            nxt = source.following(*sends[-1])
            if nxt is not None:
                resume.append((sends[-1][1], group, source, *nxt))
            commits.append((source, sends[-1][0]))
            return len(sends)

        count = take(current, seq, at, -1)  # its entry left the heap first: the least id of its instant
        for n, owner, func, when, args, eid in candidates:
            if when >= end:
                continue
            taken.add(n)
            if func is None:
                count += take(owner, args[0], args[1], eid)
                continue
            code = owner.path.code
            start = code.deliver_op[args[0]] if func is Replay.deliver else code.after_step[args[0]]
            group = groups.setdefault((id(owner.path), start), _Group(owner.path, code, start, None, None))
            group.add(-1, when, eid, owner.payload, owner.skb)
            count += 1
        ordered = list(groups.values())
        lanes = _solve(ordered, end) if count >= MIN_PACKETS else None
        if lanes is None:  # not worth it, or not exact: not before that next event
            self.quiet_until = end
            return False
        # The window is taken: its sends and packets leave the heap, the rest stays.
        calls[:] = [entry for n, entry in enumerate(calls) if n not in taken]
        heapq.heapify(calls)
        self.windows += 1
        scheduled = self._apply(env, ordered, end)
        for way, link, deps, lengths in lanes:
            way.busy = max(way.busy, float(deps[-1]))
            if link.queue is not None:
                for d, length in zip(deps.tolist(), lengths.tolist()):
                    way.finishing.append((d, length))
                    way.backlog += length
        for source, last in commits:
            source.commit(last)
        index = {id(group): g for g, group in enumerate(ordered)}
        scheduled += [(last, index[id(group)], -1, t, source.fire, (s, t)) for last, group, source, s, t in resume]
        # What the window hands back goes on the heap in the order the event core would have put
        # it there: that of the events that schedule each (a flow's last send, a packet's last event).
        for _, _, _, when, fn, args in sorted(scheduled, key=lambda c: c[:3]):
            env.call_at(when, fn, *args)
        return True

    def _apply(self, env: Any, groups: list[_Group], end: float) -> list[tuple[float, int, int, float, Any, Any]]:
        """What the window's packets do before ``end``, in time order; gives what goes back to
        the event core (see the module): for each packet under way at ``end``, the time of the
        event it was in, its group and index, and its next event."""
        blocks: list[tuple[int, int, Any]] = []  # group, op (-1: the sends), the packets that do it
        later: list[tuple[float, float, int, int, int]] = []
        # A flow's rows are touched by its own sends, drops and deliveries, each packet's in that
        # order; only a socket shared by two flows (both sending to one address and port) lets
        # one flow's deliveries reach the other's rows, and then every send and delivery is
        # taken in time order with the rest.  Otherwise they go by flow, at once.
        shared = any(op[0] == "V" and op[2].__self__ is not group.code.observer
                     for group in groups for op in group.code.ops)
        for g, group in enumerate(groups):
            n = len(group.t)
            alive = np.ones(n, dtype=bool)
            if group.source is not None:
                if shared:
                    blocks.append((g, -1, np.arange(n)))
                else:
                    emit, seqs = group.source.emit, group.seqs
                    group.payloads = [emit(seqs[k], t) for k, t in enumerate(group.t)]
            for j in range(group.start, len(group.code.ops)):
                op = group.code.ops[j]
                kind = op[0]
                if kind in "DLW":
                    late = alive & (group.after[j] >= end)
                    if late.any():
                        done = group.after[j]
                        began = group.times[j]
                        later.extend((float(done[k]), float(began[k]), g, k, j) for k in np.flatnonzero(late).tolist())
                        alive &= ~late
                elif kind == "U":
                    if alive.any():  # one refresh, at the last instant: last among that instant's effects
                        blocks.append((g, j, np.flatnonzero(alive)[np.argmax(group.times[j][alive])][None]))
                elif kind == "V" and not shared:
                    when = group.times[j].tolist()
                    got = np.flatnonzero(alive).tolist()
                    op[2].__self__.received_many([group.payloads[k] for k in got], [when[k] for k in got])
                    self.packets += len(got)
                elif kind != "T" or op[2].taps:
                    blocks.append((g, j, np.flatnonzero(alive)))
                if not alive.any():
                    break
        effects = _in_event_order(blocks, groups)
        # Deliveries go to their sockets in runs (a socket that only notes what arrives takes
        # them at once), each run before the next effect of any other kind: a flow's row may be
        # sent, dropped or delivered to by another flow sharing its socket, in that order.
        run: list[Any] = [None, [], []]  # the socket's owner, payloads, times

        def flush() -> None:
            if run[1]:
                run[0].received_many(run[1], run[2])
                self.packets += len(run[1])
                run[1], run[2] = [], []

        for when, g, k, j in effects:
            group = groups[g]
            if j < 0:
                flush()
                group.payloads[k] = group.source.emit(group.seqs[k], when)
                continue
            op = group.code.ops[j]
            kind = op[0]
            if kind == "V":
                owner = op[2].__self__
                if owner is not run[0]:
                    flush()
                    run[0] = owner
                run[1].append(group.payloads[k])
                run[2].append(when)
                continue
            flush()
            env._now = when
            if kind == "U":
                op[2](*op[3], when)  # a refresh stamps its entry
            elif kind == "T":
                frame = op[3].of(group.payloads[k])
                for tap in op[2].taps:
                    tap(when, frame)
            else:  # "X": the path ends in a drop
                skb = self._skb(group, k, op[6])
                self.packets += 1
                skb.drop(op[2], op[3], op[4], op[5])
        flush()
        cache = self.world.flowcache
        back: list[tuple[float, int, int, float, Any, Any]] = []
        for when, began, g, k, j in later:
            group = groups[g]
            op = group.code.ops[j]
            state = group.path.steps[op[1]]
            template = state[4][0] if state[0] == DELAY else state[5][0] if state[0] == ARRIVE else state[4]
            skb = self._skb(group, k, template)
            replay = Replay(cache, group.path, skb, group.payloads[k])
            back.append((began, g, k, when, replay.deliver if op[0] == "W" else replay.boundary, (op[1],)))
        return back

    def _path(self, source: Source) -> Optional[tuple[Path, _Compiled, "Namespace"]]:
        """The source's path as the flow cache holds it now, ready for a window; None if none."""
        probe = source.probe()
        if probe is None:
            return None
        ns, skb = probe
        cache = self.world.flowcache
        flow = cache.key(ns, skb)
        path = cache.valid(flow[0]) if flow is not None else None
        code = _code(path, skb.observer) if path is not None else None
        return None if path is None or code is None else (path, code, ns)

    @staticmethod
    def _skb(group: _Group, k: int, template: Any) -> Skb:
        skb = group.skbs[k]
        frame = template.of(group.payloads[k])
        if skb is None:
            skb = group.skbs[k] = Skb(frame, group.code.observer, origin=group.ns)
        else:
            skb.frame = frame
        return skb


def _in_event_order(blocks: list[tuple[int, int, Any]], groups: list[_Group]) -> list[tuple[float, int, int, int]]:
    """The effects (when, group, packet, op) in the event core's order: by time, and those of one
    instant by the histories of the events they happen in (``_history``), one lexsort; a refresh
    goes last in its instant."""
    if not blocks:
        return []
    depth = max(len(groups[g].hist[j]) for g, j, _ in blocks)
    columns: list[list[Any]] = [[] for _ in range(3 + 2 * depth + 1)]  # op, packet, group, levels, when
    for g, j, ks in blocks:
        group, n = groups[g], len(ks)
        refresh = j >= 0 and group.code.ops[j][0] == "U"
        times = group.times[j] if j >= 0 else np.asarray(group.t, dtype=np.float64)
        columns[0].append(np.full(n, j))
        columns[1].append(ks)
        columns[2].append(np.full(n, g))
        levels = group.hist[j]
        for level in range(depth):
            for part in (0, 1):
                if refresh:
                    value = np.full(n, np.inf)
                elif level < len(levels):
                    value = np.broadcast_to(levels[level][part], len(group.t))[ks]
                else:
                    value = np.full(n, -np.inf)
                columns[3 + 2 * (depth - 1 - level) + part].append(value)
        columns[-1].append(times[ks])
    keys = [np.concatenate(column) for column in columns]
    # lexsort's last key is its first: when, then level 0's time and id, level 1's, ...
    order = np.lexsort([keys[0], keys[1], keys[2], *[keys[3 + 2 * i + p] for i in range(depth) for p in (1, 0)],
                        keys[-1]])
    return list(zip(keys[-1][order].tolist(), keys[2][order].tolist(), keys[1][order].tolist(),
                    keys[0][order].tolist()))


def _code(path: Path, observer: Any) -> Optional[_Compiled]:
    if path.code is None and not path.tried:
        path.tried = True
        path.code = _compile(path, observer)
    code: Optional[_Compiled] = path.code
    return code


_WINDOW = np.inf  # an event of the window: its id was drawn after every one on the heap at its start


def _history(group: _Group) -> list[tuple[Any, Any]]:
    """Each packet's events, the latest first, as (time, id): frames that reach a cable at one
    instant go in the event core's order, that of the events that scheduled them (of two at one
    instant, the one scheduled first runs first), and of theirs in turn, back to an entry of the
    heap at the window's start (its event id).  A flow's sends descend from one another: the
    k-th from the (k-1)-th, and beyond that straight from the first (two flows whose sends tie
    two instants running are taken to have tied all the way back)."""
    t = np.asarray(group.t, dtype=np.float64)
    origin = np.asarray(group.origin, dtype=np.float64)
    if group.source is None:  # packets under way: each its own heap entry
        return [(t, origin)]
    k = np.arange(len(t))
    none = np.full(len(t), -np.inf)
    before = np.concatenate(([-np.inf], t[:-1]))
    return [(t, np.where(k == 0, origin, _WINDOW)),
            (before, np.where(k == 1, origin, np.where(k >= 2, _WINDOW, -np.inf))),
            (np.where(k >= 2, t[0], none), np.where(k >= 2, origin, -np.inf))]


def _solve(groups: list[_Group], end: float) -> Optional[list[tuple[Any, Any, Any, Any]]]:
    """Every group's times, operation by operation, the cables in feed order; None when a queue
    would overflow before ``end`` or the paths loop.  Gives each cable's carried frames (those
    that enter before ``end``): their departures in order, and their lengths."""
    lane_of: dict[int, int] = {}
    ways: list[tuple[Any, Any]] = []
    uses: list[list[int]] = []
    for group in groups:
        mine = []
        for j in range(group.start, len(group.code.ops)):
            op = group.code.ops[j]
            if op[0] == "L":
                lane = lane_of.setdefault(id(op[3]), len(ways))
                if lane == len(ways):
                    ways.append((op[3], op[2]))
                if lane in mine:
                    return None
                mine.append(lane)
        uses.append(mine)
    try:
        order = feed_order(len(ways), uses)
    except NetsimError:  # the paths feed each other in a loop
        return None
    cur = [np.asarray(group.t, dtype=np.float64) for group in groups]
    pos = [group.start for group in groups]
    history = [_history(group) for group in groups]
    for group, levels in zip(groups, history):
        group.hist[-1] = tuple(levels)

    def advance(g: int) -> None:
        """On through the group's operations up to its next cable."""
        group, ops = groups[g], groups[g].code.ops
        t = cur[g]
        while pos[g] < len(ops) and ops[pos[g]][0] != "L":
            op = ops[pos[g]]
            group.times[pos[g]] = t
            group.hist[pos[g]] = tuple(history[g])
            if op[0] in "DW":
                t = t + op[2]
                group.after[pos[g]] = t
                history[g].insert(0, (t, _WINDOW))
            pos[g] += 1
        cur[g] = t

    carried: list[tuple[Any, Any, Any, Any]] = []
    for lane in order:
        way, link = ways[lane]
        users = [g for g, mine in enumerate(uses) if lane in mine]
        for g in users:
            advance(g)
        entry = np.concatenate([cur[g] for g in users])
        wire = np.concatenate([np.full(len(cur[g]), groups[g].code.ops[pos[g]][4]) for g in users])
        who = np.concatenate([np.full(len(cur[g]), g) for g in users])
        seq = np.concatenate([np.arange(len(cur[g])) for g in users])
        depth = max(len(history[g]) for g in users)
        keys = []
        for level in range(depth):
            for part in (0, 1):
                keys.append(np.concatenate([np.broadcast_to(history[g][level][part], len(cur[g]))
                                            if level < len(history[g]) else np.full(len(cur[g]), -np.inf)
                                            for g in users]))
        order_in = np.lexsort((seq, who, *reversed(keys)))
        a, s = entry[order_in], wire[order_in]
        deps_sorted = serve_exact(a, s, way.busy)
        inside = a < end
        if link.queue is not None and inside.any():
            previous = np.array([done for done, _ in way.finishing], dtype=np.float64)
            rank = np.arange(len(a))
            waiting = rank - np.searchsorted(deps_sorted, a, side="right") + \
                (len(previous) - np.searchsorted(previous, a, side="right"))
            if int(waiting[inside].max()) > link.queue:
                return None
        deps = np.empty_like(entry)
        deps[order_in] = deps_sorted
        start = 0
        for g in users:
            stop = start + len(cur[g])
            group = groups[g]
            group.times[pos[g]] = entry[start:stop]
            group.hist[pos[g]] = tuple(history[g])
            cur[g] = deps[start:stop] + link.latency
            history[g].insert(0, (cur[g], _WINDOW))
            group.after[pos[g]] = cur[g]
            pos[g] += 1
            start = stop
        if inside.any():
            lengths = np.concatenate([np.full(len(cur[g]), groups[g].code.ops[pos[g] - 1][5]) for g in users])
            carried.append((way, link, deps_sorted[inside], lengths[order_in][inside]))
    for g in range(len(groups)):
        advance(g)
    return carried
