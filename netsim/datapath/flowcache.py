"""The flow cache: a traffic flow's path walked once through the real code, then replayed.

A packet of a steady flow meets the same routes, rules, conntrack entry, FDB entries and costs
as the one before it.  So the first packet of a flow (a UDP datagram, or a TCP segment of one
size and flags) is sent through the datapath (the slow path) with a ``Recorder`` on it, which notes what the path did in time: each delay it was
scheduled after (the call and the packet's state at that point), each cable it entered, each
capture that heard it, each learned entry it refreshed, and how it ended (delivered to a
socket, or dropped with a reason).  The following packets of the flow replay that record.

A replay is the slow path's skeleton, not a shortcut through time: it has an event at every
instant the slow path has one, scheduled from the same event with the same float arithmetic,
so ties between packets fall the same way and results are byte-identical with the cache on or
off.  What it skips is the work between events: iptables chains, route and FDB lookups,
conntrack, frame rebuilding.  At every event it checks the forwarding state's version
(``datapath.state``): if anything changed since the record was made, or a learned entry the
path relied on has aged out, the packet leaves the replay there and continues on the slow
path, from the call the slow path would make at that instant, with the packet as it would be.
Cables are never replayed: a replay hands the frame to the real ``Link``, whose queue, loss
and carrier decide as they do for any frame.

A record is kept only when nothing changed while it was made (the recorded packet taught the
datapath nothing: its ARP, conntrack entry and FDB entries were already there); it is not made
at all for a packet that is copied (flooded), waits for ARP, or is encrypted (each ESP packet
carries a sequence number of its own).  Frames a replay shows (to a socket, a capture, a drop)
are the recorded frames with the packet's own payload put in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, cast

from .packet import TCP, UDP, IPv4
from .skb import Skb
from .state import STATE

if TYPE_CHECKING:
    from .device import NetDevice
    from .link import Link, LinkEnd
    from .netns import Namespace
    from .packet import Ether
    from .world import World

__all__ = ["FlowCache", "Recorder", "note_call", "note_call_at"]

# Kinds of step in a record.  A boundary is an event of the slow path.
DELAY, ARRIVE, TAP, TOUCH, DELIVER, DROP = range(6)

_SKB_FIELDS = ("ct", "ct_reply", "ct_new", "hops", "mark", "secpath", "gso_size", "csum_bad", "debt")


def _locate(node: Any, target: Any, path: tuple[int, ...] = ()) -> Optional[tuple[int, ...]]:
    """Where ``target`` (by identity) sits in a frame: the field indices down to it."""
    if node is target:
        return path
    if isinstance(node, tuple):
        for i, child in enumerate(node):
            if child is target or isinstance(child, tuple):
                found = _locate(child, target, path + (i,))
                if found is not None:
                    return found
    return None


def _locate_segment(node: Any, pkt: IPv4, path: tuple[int, ...] = ()) -> Optional[tuple[int, ...]]:
    """Where a rewritten copy of the TCP packet ``pkt`` sits in a frame: an IPv4 packet whose
    segment carries the same bytes (by identity) at the same sequence and acknowledgement
    numbers.  Routing (the TTL) and NAT (addresses, ports) rebuild the headers, never those."""
    seg = pkt.payload
    if type(node) is IPv4:
        inner = node.payload
        if type(inner) is TCP and inner.data is seg.data and inner.seq == seg.seq and inner.ack == seg.ack:  # type: ignore[union-attr]
            return path
    if isinstance(node, tuple):
        for i, child in enumerate(node):
            if isinstance(child, tuple):
                found = _locate_segment(child, pkt, path + (i,))
                if found is not None:
                    return found
    return None


class _Frame:
    """A recorded frame, ready to take another payload where the recorded one sits: each level
    from the payload up is its type and the fields either side of the one that holds it.  With
    ``rewritten``, the recorded one is a TCP packet the path rebuilt (routed, NATed): the
    recorded packet there keeps its rewritten headers and takes the new packet's own fields
    (IP id; sequence, acknowledgement, window, bytes)."""

    __slots__ = ("frame", "levels", "rewritten")

    def __init__(self, frame: "Ether", path: tuple[int, ...], rewritten: bool = False) -> None:
        self.frame = frame
        levels = []
        node: Any = frame
        for i in path:
            levels.append((type(node), tuple(node[:i]), tuple(node[i + 1:])))
            node = node[i]
        self.levels = tuple(reversed(levels))
        self.rewritten: Optional[IPv4] = node if rewritten else None

    def of(self, payload: Any) -> "Ether":
        value: Any = payload
        here = self.rewritten
        if here is not None:
            seg, old = payload.payload, cast(TCP, here.payload)  # _locate_segment found a TCP one
            value = here._replace(ident=payload.ident, payload=old._replace(
                seq=seg.seq, ack=seg.ack, window=seg.window, data=seg.data))
        new = tuple.__new__
        for kind, before, after in self.levels:
            value = new(kind, before + (value,) + after)
        return value  # type: ignore[no-any-return]


class Recorder:
    """What the slow path does with one packet, noted as it happens (see the module)."""

    __slots__ = ("cache", "key", "skb", "payload", "version", "steps", "until", "failed", "done", "arriving")

    def __init__(self, cache: "FlowCache", key: tuple[Any, ...], skb: Skb, payload: Any) -> None:
        self.cache, self.key, self.skb, self.payload = cache, key, skb, payload
        self.version = STATE.version
        self.steps: list[tuple[Any, ...]] = []
        self.until = float("inf")  # when a learned entry the path relies on ages out
        self.failed = False
        self.done = False
        self.arriving = False  # a cable is about to schedule the frame's arrival
        skb.recorder = self
        STATE.recording += 1

    def _frame(self, frame: "Ether") -> Optional[_Frame]:
        path = _locate(frame, self.payload)
        if path is not None:
            return _Frame(frame, path)
        if type(self.payload) is IPv4:
            path = _locate_segment(frame, self.payload)
            if path is not None:
                return _Frame(frame, path, rewritten=True)
        self.fail()
        return None

    def _state(self) -> Optional[tuple[Any, ...]]:
        frame = self._frame(self.skb.frame)
        return None if frame is None else (frame, *(getattr(self.skb, f) for f in _SKB_FIELDS))

    def fail(self) -> None:
        """This packet's path cannot be replayed: copied, waiting for ARP, encrypted, lost."""
        if not self.failed:
            self.failed = True
            self._stop()

    def _stop(self) -> None:
        self.skb.recorder = None
        STATE.recording -= 1

    def scheduled(self, delay: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """The slow path waits ``delay`` before calling ``fn(*args)``: a boundary."""
        state = self._state()
        if state is not None:
            self.steps.append((DELAY, delay, fn, _template(args, self.skb), state))

    def link(self, link: "Link", sender: "LinkEnd", node: str, peer: "LinkEnd") -> None:
        """The frame went onto a cable; it arrives at ``peer`` when the cable says."""
        state = self._state()
        if state is not None:
            self.steps.append((ARRIVE, link, sender, node, peer, state))
            self.arriving = True

    def scheduled_at(self) -> None:
        """A call at a given time: only a cable's arrival is one a replay can make."""
        if self.arriving:
            self.arriving = False
        else:
            self.fail()

    def tap(self, dev: "NetDevice") -> None:
        frame = self._frame(self.skb.frame)
        if frame is not None:
            self.steps.append((TAP, dev, frame))

    def touch(self, fn: Callable[..., Any], *args: Any) -> None:
        """A learned entry refreshed: a replay calls ``fn(*args, now)`` at the same instant."""
        self.steps.append((TOUCH, fn, args))

    def relies_until(self, when: float) -> None:
        self.until = min(self.until, when)

    def delivered(self, sock: Callable[..., Any], ns: "Namespace", delay: float) -> None:
        frame = self._frame(self.skb.frame)
        if frame is not None:
            self.steps.append((DELIVER, sock, ns, delay, frame))
            self._finish()

    def dropped(self, node: str, where: str, reason: Any, detail: str) -> None:
        frame = self._frame(self.skb.frame)
        if frame is not None:
            self.steps.append((DROP, node, where, reason, detail, frame))
            self._finish()

    def _finish(self) -> None:
        self.done = True
        self._stop()
        if STATE.version == self.version:  # the recorded packet changed nothing: its path is everyone's
            self.cache.paths[self.key] = Path(self.steps, self.version, self.until)


def _template(args: tuple[Any, ...], skb: Skb) -> tuple[Any, ...]:
    """The call's arguments with the packet marked, to be the replayed packet's."""
    return tuple(_SKB if a is skb else a for a in args)


_SKB = object()  # where the packet goes in a recorded call's arguments


class Path:
    __slots__ = ("steps", "version", "until", "code", "tried")

    def __init__(self, steps: list[tuple[Any, ...]], version: int, until: float) -> None:
        self.steps, self.version, self.until = steps, version, until
        self.code: Any = None  # the record as datapath.vectorized runs it, made when first asked
        self.tried = False


class FlowCache:
    """The cache of one world's traffic flows (``World.flowcache``)."""

    def __init__(self, world: "World") -> None:
        self.world = world
        self.paths: dict[tuple[Any, ...], Path] = {}
        self.enabled = True
        self.replayed = 0  # packets that ended their path in a replay, for benchmarks and tests
        self.recorded = 0

    def key(self, ns: "Namespace", skb: Skb) -> Optional[tuple[tuple[Any, ...], Any]]:
        """What a packet's path is cached under, and the part of it a replay substitutes; None
        for a packet the cache does not take (see ``output``)."""
        pkt = skb.frame.payload
        seg = pkt.payload if type(pkt) is IPv4 else None
        frame = skb.frame
        if type(seg) is UDP and type(seg.data) is bytes:
            return ((ns.key, frame.dst, frame.src, pkt.src, pkt.dst, pkt.ttl, pkt.ident,  # type: ignore[union-attr]
                     pkt.tos, pkt.flags, 17, seg.sport, seg.dport, len(seg.data), skb.mark,  # type: ignore[union-attr]
                     skb.observer), seg.data)
        if type(seg) is TCP:
            return ((ns.key, frame.dst, frame.src, pkt.src, pkt.dst, pkt.ttl, pkt.tos, pkt.flags, 6,  # type: ignore[union-attr]
                     seg.sport, seg.dport, seg.flags, seg.mss, len(seg.data), skb.mark, skb.observer), pkt)
        return None

    def valid(self, key: tuple[Any, ...]) -> "Optional[Path]":
        """The path recorded under ``key``, if it still holds now."""
        path = self.paths.get(key)
        if path is not None and path.version == STATE.version and self.world.sched.now < path.until:
            return path
        return None

    def output(self, ns: "Namespace", skb: Skb) -> None:
        """``ns.ip_local_out(skb)``, through the cache for a UDP datagram or a TCP segment.

        What a replay puts in its frames: a datagram's payload (whatever rewrote the headers on
        the way, NAT or routing, did so for the recorded one too), or a segment's whole IP
        packet (its id, sequence and acknowledgement numbers and window are its own; where the
        path rebuilt the packet, routing or NAT, the rebuilt headers with those fields)."""
        sched = self.world.sched
        if not self.enabled or not sched.timed:
            ns.ip_local_out(skb)
            return
        flow = self.key(ns, skb)
        if flow is None:
            ns.ip_local_out(skb)
            return
        key, payload = flow
        path = self.valid(key)
        if path is not None:
            Replay(self, path, skb, payload).run(0)
            return
        self.paths.pop(key, None)  # a record that no longer holds
        Recorder(self, key, skb, payload)
        self.recorded += 1
        ns.ip_local_out(skb)


class Replay:
    """One packet walking a record (see the module)."""

    __slots__ = ("cache", "path", "skb", "payload", "env")

    def __init__(self, cache: FlowCache, path: Path, skb: Skb, payload: Any) -> None:
        self.cache, self.path, self.skb, self.payload = cache, path, skb, payload
        self.env = cache.world.sched.env  # type: ignore[attr-defined]  # timed: a SimpyScheduler's

    def run(self, i: int, cut: bool = False) -> None:
        """Walk the steps from ``i`` at the current instant, up to the next boundary; with
        ``cut`` (the replay is the whole of the current event), on through every boundary that
        no other event comes before (cut-through: the heap would give this packet's next event
        first anyway, so it runs now, with the clock set to its instant).  Never inside another
        event's work: its caller goes on at the instant it called."""
        steps, env, path = self.path.steps, self.env, self.path
        calls, events = env._calls, env._queue
        while i < len(steps):
            step = steps[i]
            kind = step[0]
            if kind == DELAY or kind == ARRIVE:
                if kind == DELAY:
                    # the slow path's call_later: now + delay, the same float
                    at = env._now + step[1]
                else:
                    skb = self.skb
                    skb.frame = step[5][0].of(self.payload)  # the cable times and checks the frame as it is here
                    at = step[1].carry(step[2], skb, step[3])
                    if at is None:
                        return
                if not cut or (calls and calls[0][0] <= at) or (events and events[0][0] <= at):
                    env.call_at(at, self.boundary, i)
                    return
                env._now = at
                if path.version != STATE.version or at >= path.until:
                    self._leave(i)
                    return
            elif kind == TAP:
                dev: "NetDevice" = step[1]
                if dev.taps:
                    frame, now = step[2].of(self.payload), env._now
                    for tap in dev.taps:
                        tap(now, frame)
            elif kind == TOUCH:
                step[1](*step[2], env._now)
            elif kind == DELIVER:
                skb = self.skb
                skb.frame = step[4].of(self.payload)
                self.cache.replayed += 1
                if step[3]:
                    env.call_at(env._now + step[3], self.deliver, i)
                else:
                    step[1](step[2], skb)
                return
            else:  # DROP
                skb = self.skb
                skb.frame = step[5].of(self.payload)
                self.cache.replayed += 1
                skb.drop(step[1], step[2], step[3], step[4])
                return
            i += 1

    def deliver(self, i: int) -> None:
        """The socket's turn, once the stack's cost is paid."""
        step = self.path.steps[i]
        step[1](step[2], self.skb)

    def boundary(self, i: int) -> None:
        """An event of the slow path: go on replaying if nothing changed, else leave for it."""
        path = self.path
        if path.version == STATE.version and self.env._now < path.until:
            self.run(i + 1, cut=True)
        else:
            self._leave(i)

    def _leave(self, i: int) -> None:
        """Something changed: the packet goes on through the slow path from boundary ``i``, as
        it would be there."""
        step, skb = self.path.steps[i], self.skb
        state = step[4] if step[0] == DELAY else step[5]
        skb.frame = state[0].of(self.payload)
        for name, value in zip(_SKB_FIELDS, state[1:]):
            setattr(skb, name, value)
        if step[0] == DELAY:
            step[2](*(skb if a is _SKB else a for a in step[3]))
        else:
            step[4].rx(skb)

def note_call(delay: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """The scheduler's hook while packets are recorded: a delay on a recorded packet's path."""
    for a in args:
        if type(a) is Skb and a.recorder is not None:
            a.recorder.scheduled(delay, fn, args)
            return
    owner = getattr(fn, "__self__", None)
    if type(owner) is Skb and owner.recorder is not None:
        owner.recorder.fail()


def note_call_at(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """The same for a call at a given time: only a cable's arrival may be one."""
    for a in (*args, getattr(fn, "__self__", None)):
        if type(a) is Skb and a.recorder is not None:
            a.recorder.scheduled_at()
            return
