"""Timeline events: one handler per kind, found through a registry.

``Simulation.apply`` looks the event's kind up here, so swarm, service, fault and traffic events
arrive as new handlers (``@handles("node_fail")``) without touching a central if/elif.  A
handler carries the event out on the live simulation and returns the line for the event log.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .datapath.netfilter import Rule
    from .simulation import Simulation
    from .topology.spec import EventSpec

__all__ = ["HANDLERS", "handles"]

Handler = Callable[["Simulation", "EventSpec"], str]
HANDLERS: dict[str, Handler] = {}


def handles(*kinds: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``kinds``."""
    def register(handler: Handler) -> Handler:
        for kind in kinds:
            HANDLERS[kind] = handler
        return handler
    return register


@handles("connect", "disconnect")
def _attachment(sim: "Simulation", event: "EventSpec") -> str:
    """``docker network connect/disconnect`` on a running container (B13, B14)."""
    ctr = sim.container(event.container or "")
    if event.kind == "connect":
        # A swarm network the node has no copy of yet is instantiated for it, if the swarm agrees.
        net = ctr.engine.networks._for_attach(event.network or "", ctr.name)
        net.connect(ctr, aliases=event.aliases, ipv4_address=event.ipv4_address)
    else:
        ctr.engine.networks.get(event.network or "").disconnect(ctr)
    return f"{event.kind} {event.container} {event.network}"


@handles("link_down", "link_up")
def _link(sim: "Simulation", event: "EventSpec") -> str:
    """A host's cable pulled or plugged back: nothing crosses it either way (no carrier)."""
    link = sim.host(event.host or "").eth0.link
    if link is not None:
        link.up = event.kind == "link_up"
    return f"{event.kind} {event.host}"


@handles("node_fail", "node_recover")
def _node(sim: "Simulation", event: "EventSpec") -> str:
    """The machine freezes (sends, answers and decides nothing) or resumes as it was."""
    host = event.host or ""
    frozen = event.kind == "node_fail"
    if frozen:
        sim.world.frozen.add(host)
    else:
        sim.world.frozen.discard(host)
    if sim.swarm.members:
        sim.swarm.freeze(host, frozen)
    return f"{event.kind} {host}"


@handles("partition", "heal")
def _partition(sim: "Simulation", event: "EventSpec") -> str:
    """The underlay splits into sides that hear nothing of each other, or becomes whole again."""
    if event.kind == "heal":
        sim.switch.partition(None)
        return "heal"
    sim.switch.partition([list(group) for group in event.groups])
    return "partition " + " | ".join(", ".join(group) for group in event.groups)


@handles("block", "unblock")
def _block(sim: "Simulation", event: "EventSpec") -> str:
    """A firewall between the listed hosts: each drops what the others send it on that port (B44)."""
    number, _, proto = event.port.partition("/")
    match = f"-p {proto} -m {proto} --dport {number}" if proto else f"-p {number}"
    for host in event.hosts:
        nf = sim.host(host).ns.nf
        for other in event.hosts:
            if other == host:
                continue
            rule = f"-A INPUT -s {sim.host(other).address}/32 {match} -j DROP"
            if event.kind == "block":
                nf.insert("filter", rule)
            else:
                nf.delete("filter", partial(_is_rule, rule))
    return f"{event.kind} {event.port} between {', '.join(event.hosts)}"


def _is_rule(text: str, rule: "Rule") -> bool:
    return rule.text == text


@handles("swarm_join")
def _swarm_join(sim: "Simulation", event: "EventSpec") -> str:
    """``docker swarm join`` (or ``init``, for the first member) at that instant."""
    host = event.host or ""
    if sim.swarm.managers():
        sim.swarm.join(host, event.role or "worker")
    else:
        sim.swarm.init(host)
    return f"swarm_join {host} as {event.role or 'worker'}"


@handles("swarm_leave")
def _swarm_leave(sim: "Simulation", event: "EventSpec") -> str:
    """``docker swarm leave --force``: the file says it happens, so a manager's warning does not stop it."""
    sim.swarm.leave(event.host or "", force=True)
    return f"swarm_leave {event.host}"


@handles("scale")
def _scale(sim: "Simulation", event: "EventSpec") -> str:
    """``docker service scale SERVICE=REPLICAS``."""
    sim.swarm.scale(event.service or "", event.replicas)
    return f"scale {event.service} to {event.replicas}"


@handles("drain", "activate")
def _availability(sim: "Simulation", event: "EventSpec") -> str:
    """``docker node update --availability drain|active HOST`` (B57d): a drain moves its tasks."""
    sim.swarm.update_node(event.host or "", availability="drain" if event.kind == "drain" else "active")
    return f"{event.kind} {event.host}"
