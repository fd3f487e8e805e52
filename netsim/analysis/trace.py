"""One probe, told hop by hop (``trace``), or sent in simulated time (``ping``).

A trace answers "why is this pair (un)reachable": every namespace, device, route, rule and
translation the echo and its reply met, ending in a disposition.  ``ping`` sends the same
kind of probe through the same forwarding core, but as simpy events, so its RTT is the sum
of the underlay's link latencies and serialisation on the way there and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any, Generator, Optional, cast

from ..datapath.addr import ip
from ..datapath.drop import DropReason
from ..datapath.frames import to_scapy
from ..datapath.packet import TCP, UDP, VXLAN
from ..datapath.probe import Probe
from ..datapath.scheduler import SimpyScheduler
from ..datapath.skb import Skb, Step
from ..engine.dns import resolve
from ..errors import NetsimError
from .disposition import NAME_UNRESOLVED, NO_REPLY, classify
from .reachability import PING_TIMEOUT, Prober, _resolver_of, answer_owner, unresolved

if TYPE_CHECKING:
    import pandas as pd
    from scapy.packet import Packet as ScapyPacket

    from ..datapath.netns import Namespace
    from ..simulation import Simulation


@dataclass(frozen=True)
class Target:
    """What a source aims at: an address, and (if known) the endpoint that should answer."""

    addr: Optional[IPv4Address]
    owner: Optional[str]
    ns: Optional["Namespace"]
    how: str  # "address", "dns", "hosts", "link-alias", or why resolution failed


def aim(sim: "Simulation", src: str, dst: str) -> Target:
    """Resolve ``dst`` (an IPv4 address or a name) the way ``src`` would."""
    view = sim.endpoint(src)
    try:
        addr = IPv4Address(dst)
    except ValueError:
        if dst in sim.hosts:
            # The LAN's own DNS knows its machines; Docker's resolver forwards such names there.
            addr = sim.hosts[dst].address
        else:
            return _by_name(sim, view.kind, src, dst)
    owners = [v for v in sim.endpoints() if any(a == addr for a, _ in v.addresses)]
    # With overlapping subnets (B32) the owner that matters is the one on the source's host.
    owners.sort(key=lambda v: v.host != view.host)
    if not owners:
        return Target(addr, None, None, "address")
    return Target(addr, owners[0].name, owners[0].ns, "address")


def landing(sim: "Simulation", src: str, target: Target, proto: str, port: int) -> tuple[Optional["Namespace"], int]:
    """Where a flow's packets to ``target``'s address and ``port`` are handed to a socket, and on
    which port: through a published port's DNAT, the container behind it.  Asked of the
    datapath with one probe at the flow's start; the address's owner when nothing answers."""
    if target.addr is None:
        return target.ns, port
    probe = trace(sim, src, str(target.addr), proto, port)
    kind = TCP if proto == "tcp" else UDP
    for step in probe.steps:
        seg = getattr(getattr(step.frame, "payload", None), "payload", None)
        # the first delivery of the probe itself: not a tunnel's datagram on the way
        if step.action == "DELIVERED" and type(seg) is kind and type(getattr(seg, "data", None)) is not VXLAN \
                and probe.responder is not None:
            try:
                return sim.endpoint(probe.responder).ns, seg.dport
            except NetsimError:
                break
    return target.ns, port


def _by_name(sim: "Simulation", kind: str, src: str, name: str) -> Target:
    if kind != "container":
        return Target(None, None, None, NAME_UNRESOLVED)  # a machine's resolver knows no containers
    resolver = _resolver_of(sim, sim.container(src))
    answer = resolve(resolver, name) if resolver is not None else None
    if resolver is None or answer is None:
        return Target(None, None, None, unresolved(resolver)[0])
    owner = answer_owner(sim, resolver, answer)
    if owner is None:  # a VIP: whichever task IPVS picks answers
        return Target(answer.addresses[0], answer.owners[0], None, answer.source)
    return Target(answer.addresses[0], sim.display_name(owner), owner.ns, answer.source)


RESOLVE_COLUMNS = ["src", "name", "address", "owner", "network", "source", "detail"]


def resolve_table(sim: "Simulation", src: str, name: str) -> "pd.DataFrame":
    """What ``src``'s resolver answers for ``name`` now, one row per address in the order it
    answers (``dig +short``); no row when it answers NXDOMAIN (``detail`` of ``sim.resolve``'s
    caller says why).  A host or a ``network_mode: host`` container has no embedded DNS."""
    import pandas as pd

    kind = sim.endpoint(src).kind
    resolver = _resolver_of(sim, sim.container(src)) if kind == "container" else None
    answer = resolve(resolver, name) if resolver is not None else None
    if answer is None:
        return pd.DataFrame(columns=RESOLVE_COLUMNS)
    rows = [{"src": src, "name": name, "address": str(addr), "owner": owner, "network": answer.network,
             "source": answer.source, "detail": ""} for addr, owner in zip(answer.addresses, answer.owners)]
    return pd.DataFrame(rows, columns=RESOLVE_COLUMNS)


def nxdomain(sim: "Simulation", src: str) -> str:
    """Why ``src``'s resolver found no answer."""
    if sim.endpoint(src).kind != "container":
        return "NXDOMAIN: a host's resolver knows no container names"
    resolver = _resolver_of(sim, sim.container(src))
    if resolver is None:
        return "NXDOMAIN: network_mode host uses the host's resolver, which knows no container names"
    reason, detail = unresolved(resolver)
    return detail if reason == NAME_UNRESOLVED else f"{detail} ({reason})"


@dataclass(frozen=True)
class Trace:
    src: str
    dst: str
    addr: Optional[str]
    proto: str
    reachable: bool
    disposition: str
    detail: str
    responder: Optional[str]
    steps: tuple[Step, ...]

    def frames(self) -> list[tuple[Step, "ScapyPacket"]]:
        """Each transmission of the trace as a real scapy frame (Ether/IP/ICMP... with every field set)."""
        return [(step, to_scapy(step.frame)) for step in self.steps
                if step.action == "TRANSMITTED" and step.frame is not None]

    def render(self, frames: bool = False) -> str:
        """The hop-by-hop text; with ``frames``, each transmission is followed by its scapy summary."""
        head = f"trace {self.src} -> {self.dst}"
        if self.addr and self.addr != self.dst:
            head += f" ({self.addr})"
        lines = [head + f" [{self.proto}]"]
        for step in self.steps:
            lines.append(f"  {step}")
            if frames and step.action == "TRANSMITTED" and step.frame is not None:
                lines.append(f"{'':33}| {to_scapy(step.frame).summary()}")
        verdict = f"{self.disposition}" + (f": {self.detail}" if self.detail else "")
        if self.responder:
            verdict += f" (reply from {self.responder})"
        lines.append(f"=> {verdict}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{escape(s.node)}</td><td>{escape(s.where)}</td><td>{escape(s.action)}</td>"
                       f"<td>{escape(s.text)}</td></tr>" for s in self.steps)
        return (f"<b>{escape(self.src)} &rarr; {escape(self.dst)}</b>: {escape(self.disposition)} "
                f"{escape(self.detail)}<table><tr><th>node</th><th>where</th><th>action</th><th>detail</th></tr>"
                f"{rows}</table>")


def trace(sim: "Simulation", src: str, dst: str, proto: str = "icmp", port: int = 0, size: int = 56,
          df: bool = True) -> Trace:
    """One probe, hop by hop; an echo carries ``size`` payload bytes (``ping -s``) with DF if ``df``."""
    target = aim(sim, src, dst)
    if target.addr is None:
        return Trace(src, dst, None, proto, False, target.how, f"{dst}: NXDOMAIN", None, ())
    with Prober(sim) as prober:
        probe = prober.send(sim.endpoint(src).ns, target.addr, proto, port, size, df)
    # A service behind a published port answers for the host's address (DNAT), and an address
    # no endpoint owns (the underlay router) is reached by whoever owns it: either way, any
    # answer counts.  An ICMP echo to an endpoint must be answered by that endpoint (B32).
    expected = target.ns if target.ns is not None and proto == "icmp" else probe.responder
    reachable, disposition, detail, steps = classify(probe, expected, PING_TIMEOUT)
    responder = probe.responder.name if probe.responder is not None else None
    return Trace(src, dst, str(target.addr), proto + (f"/{port}" if port else ""), reachable, disposition,
                 detail, responder, tuple(Step._make(s) for s in steps))


@dataclass(frozen=True)
class PingResult:
    src: str
    dst: str
    addr: Optional[str]
    sent_at: float
    rtt: Optional[float]  # seconds; None when no reply from dst
    reachable: bool
    disposition: str
    detail: str
    responder: Optional[str] = None  # the endpoint whose stack sent the reply that came back

    def __str__(self) -> str:
        head = f"{self.src} -> {self.dst}" + (f" ({self.addr})" if self.addr and self.addr != self.dst else "")
        if self.reachable and self.rtt is not None:
            return f"{head}: reply in {self.rtt * 1e6:.1f} us"
        if self.disposition == "MESSAGE_TOO_LONG":
            return f"{head}: local error: {self.detail}"  # what ping(8) prints for EMSGSIZE
        return f"{head}: {self.disposition} {self.detail}".rstrip()


class PingRun:
    """The socket of one ``ping`` run: one ICMP id, seq counting from 1, each answer handed to
    the probe of its seq (an echo reply, or an ICMP error quoting the echo)."""

    def __init__(self, ns: "Namespace") -> None:
        self.ns = ns
        self.ident = ns.new_ident()
        self.seq = 0
        self.waiting: dict[int, Probe] = {}  # seq -> the probe of that echo, until it is done
        ns.sockets[("icmp", self.ident)] = self._answer

    def register(self, probe: Probe) -> tuple[int, int]:
        """The (id, seq) of the next echo, which ``probe`` sends."""
        self.seq += 1
        self.waiting[self.seq] = probe
        return self.ident, self.seq

    def done(self, probe: Probe) -> None:
        self.waiting = {seq: p for seq, p in self.waiting.items() if p is not probe}

    def close(self) -> None:
        if self.ns.sockets.get(("icmp", self.ident)) == self._answer:
            del self.ns.sockets[("icmp", self.ident)]

    def _answer(self, ns: "Namespace", skb: Skb) -> None:
        # the run's socket is ICMP's: an echo reply, or an error quoting one of its echoes
        icmp: Any = skb.frame.payload.payload  # type: ignore[union-attr]
        number = icmp.quoted.payload.seq if icmp.quoted is not None else icmp.seq
        probe = self.waiting.get(number)
        if probe is not None:
            probe.received(ns, skb)


def ping(sim: "Simulation", src: str, dst: str, timeout: float = PING_TIMEOUT, size: int = 56,
         df: bool = False) -> PingResult:
    """Send one ICMP echo at the current simulated time and run the clock until reply or timeout.

    ``size`` is the payload (``ping -s``), ``df`` sets Don't Fragment (``ping -M do``): a packet
    that does not fit the sender's interface fails at once with ``message too long, mtu=M``.
    """
    if timeout <= 0:
        raise NetsimError("ping timeout must be positive")
    target = aim(sim, src, dst)
    env = sim.env
    with sim.world.clock(SimpyScheduler(env)):
        process = env.process(echo(sim, src, dst, target, timeout, size, df))
        env.run(until=process)
    return cast(PingResult, process.value)


def echo(sim: "Simulation", src: str, dst: str, target: Target, timeout: float, size: int = 56,
         df: bool = False, run: "Optional[PingRun]" = None) -> Generator[Any, Any, PingResult]:
    """One ICMP echo from ``src`` to the resolved ``target`` as a simpy process: sent now, it
    ends with the reply or the timeout (at once on ENETUNREACH or EMSGSIZE, as for ping).  With
    ``run`` it is the next echo of that ping run: the run's id, the next seq."""
    start = sim.now
    if target.addr is None:
        return PingResult(src, dst, None, start, None, False, target.how, f"{dst}: NXDOMAIN", None)
    env = sim.env
    replied = env.event()
    probe = Probe(sim.endpoint(src).ns, ip(target.addr), on_reply=replied.succeed, size=size, df=df)
    if run is not None:
        probe.echo = run.register(probe)
    probe.send()
    local_error = any(d.reason is DropReason.MESSAGE_TOO_LONG for d in probe.drops)
    if not probe.no_route and not local_error:
        yield env.any_of([replied, env.timeout(timeout)])
    if run is not None:
        run.done(probe)
    probe.close()
    expected = target.ns if target.ns is not None else probe.responder
    reachable, disposition, detail, _ = classify(probe, expected, timeout)
    if not reachable and disposition == NO_REPLY and not detail:
        detail = f"no reply within {timeout:g}s"
    responder = probe.responder.name if probe.responder is not None and probe.rtt is not None else None
    return PingResult(src, dst, str(target.addr), start, probe.rtt if reachable else None, reachable,
                      disposition, detail, responder)
