"""Timeline events: one handler per kind, found through a registry.

``Simulation.apply`` looks the event's kind up here, so swarm, service, fault and traffic events
arrive as new handlers (``@handles("node_fail")``) without touching a central if/elif.  A
handler carries the event out on the live simulation and returns the line for the event log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
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
