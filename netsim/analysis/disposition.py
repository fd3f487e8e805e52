"""From what befell a probe to one upper-case word a user can read in a table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..datapath.drop import DropReason
from ..datapath.probe import Probe
from ..datapath.skb import Step

if TYPE_CHECKING:
    from ..datapath.netns import Namespace

ACCEPTED = "ACCEPTED"
REFUSED = "REFUSED"  # the destination turned it down: TCP RST, ICMP port unreachable
OTHER_RESPONDER = "OTHER_RESPONDER"  # someone else owns the same address (B32)
NO_REPLY = "NO_REPLY"
NAME_UNRESOLVED = "NAME_UNRESOLVED"
NO_DNS_ON_DEFAULT_BRIDGE = "NO_DNS_ON_DEFAULT_BRIDGE"
NO_NETWORK = "NO_NETWORK"  # the container has no network left (network_mode none, or all disconnected)
DENIED = "DENIED"  # a netfilter rule without a Docker-specific label
LINK_DOWN = "LINK_DOWN"


def outcome(probe: Probe, timeout: float) -> tuple[Optional["Namespace"], str, str, tuple[Step, ...]]:
    """What a finished probe says whoever it was aimed at.

    (responder, disposition, detail, steps): ``responder`` is the namespace whose reply came
    back in time (None if none did); disposition and detail explain the failure otherwise.
    """
    rtt = probe.rtt
    if rtt is not None and rtt > timeout:
        return None, NO_REPLY, f"reply after {rtt:.3f}s, past the {timeout:g}s timeout", probe.reply_steps
    if rtt is not None and probe.responder is not None:
        if probe.refused:
            return None, probe.refused_as, probe.refused, probe.reply_steps
        return probe.responder, ACCEPTED, "", probe.reply_steps
    drop = probe.main_drop()
    if drop is None:
        return None, NO_REPLY, "", ()
    return None, _from_drop(drop.reason, drop.detail), drop.detail, drop.steps


def classify(probe: Probe, target_ns: object, timeout: float) -> tuple[bool, str, str, tuple[Step, ...]]:
    """(reachable, disposition, detail, steps) of a finished probe aimed at ``target_ns``."""
    responder, disposition, detail, steps = outcome(probe, timeout)
    if responder is None:
        return False, disposition, detail, steps
    if responder is target_ns:
        return True, ACCEPTED, "", steps
    return False, OTHER_RESPONDER, f"answered by {responder.name}", steps


def _from_drop(reason: DropReason, detail: str) -> str:
    if reason is DropReason.NETFILTER_DROP:
        if detail.startswith("["):
            return detail[1:detail.index("]")]
        return DENIED
    if reason is DropReason.DEV_DOWN:
        return LINK_DOWN
    return str(reason.value)


def path_of(steps: tuple[Step, ...]) -> str:
    """The nodes a packet crossed, e.g. ``a > node1 > underlay > x > underlay > node1 > a``."""
    nodes: list[str] = []
    for step in steps:
        if not nodes or nodes[-1] != step[0]:
            nodes.append(step[0])
    return " > ".join(nodes)
