"""swarmkit's scheduler: which node a service's task goes to (manager/scheduler).

A task is placed on a node that passes every filter of the pipeline, in swarmkit's order
(pipeline.go ``defaultFilters``): the node is Ready and Active (``ReadyFilter``), it meets
the placement constraints (``ConstraintFilter``), a host-mode published port is free on it
(``HostPortFilter``), and it runs fewer than ``max_replicas_per_node`` tasks of the service
(``MaxReplicasFilter``).  Resources, plugins, platforms and volumes are not modelled: every
node has room for every task.

Among the nodes that pass, tasks are spread as ``scheduleNTasksOnNodes`` does: the nodes are
ordered by ``nodeLess`` (fewer tasks of this service first, then fewer tasks in all), the
first node takes tasks until the next one is less loaded, and once every node has been
visited tasks go one at a time to each node that still passes.  Go orders nodes that tie in
``nodeLess`` arbitrarily (a heap over a map); netsim breaks such ties by hostname, so a run
is reproducible.  Placement preferences (spread over a label) are not modelled.

Constraints follow manager/constraint/constraint.go: ``key==value`` or ``key!=value`` with
keys ``node.id``, ``node.hostname``, ``node.role``, ``node.ip`` (an address or a CIDR),
``node.platform.os``, ``node.platform.arch``, ``node.labels.NAME`` and ``engine.labels.NAME``,
values compared case-insensitively, a missing label matching the empty string.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from typing import Callable, Sequence

__all__ = ["Constraint", "NodeInfo", "Placement", "parse_constraints", "schedule", "ConstraintError"]

_KEY = re.compile(r"(?i)^[a-z_][a-z0-9\-_.]+$")
_VALUE = re.compile(r"(?i)^[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+$")
_OPERATORS = ("==", "!=")
_KNOWN = ("node.id", "node.hostname", "node.role", "node.ip", "node.platform.os", "node.platform.arch")
_PREFIXES = ("node.labels.", "engine.labels.")


class ConstraintError(ValueError):
    """A constraint swarmkit's controlapi refuses, with its message."""


@dataclass(frozen=True)
class Constraint:
    key: str
    equal: bool
    value: str

    def matches(self, *whats: str) -> bool:
        hit = any(self.value.lower() == what.lower() for what in whats)
        return hit if self.equal else not hit

    def __str__(self) -> str:
        return f"{self.key}{'==' if self.equal else '!='}{self.value}"


def parse_constraints(texts: Sequence[str]) -> tuple[Constraint, ...]:
    """constraint.Parse, and the key check controlapi adds (an unknown key would match no node)."""
    out = []
    for text in texts:
        op = next((o for o in _OPERATORS if o in text), None)
        if op is None:
            raise ConstraintError(f"constraint expected one operator from {', '.join(_OPERATORS)}")
        key, value = (part.strip() for part in text.split(op, 1))
        if not _KEY.match(key):
            raise ConstraintError(f"key '{key}' is invalid")
        if not _VALUE.match(value):
            raise ConstraintError(f"value '{value}' is invalid")
        lowered = key.lower()
        if lowered not in _KNOWN and not any(lowered.startswith(p) and len(key) > len(p) for p in _PREFIXES):
            raise ConstraintError(f"constraint key '{key}' is not one of {', '.join(_KNOWN)}, node.labels.NAME "
                                  "or engine.labels.NAME")
        out.append(Constraint(key, op == "==", value))
    return tuple(out)


@dataclass
class NodeInfo:
    """What the scheduler knows of a node: its description, its state and the tasks it runs."""

    id: str
    hostname: str
    role: str
    addr: IPv4Address
    labels: dict[str, str] = field(default_factory=dict)
    engine_labels: dict[str, str] = field(default_factory=dict)
    ready: bool = True
    availability: str = "active"
    by_service: Counter[str] = field(default_factory=Counter)  # ActiveTasksCountByService
    active: int = 0  # ActiveTasksCount
    host_ports: set[tuple[str, int]] = field(default_factory=set)  # (protocol, port) published in host mode

    def add_task(self, service: str, host_ports: Sequence[tuple[str, int]]) -> None:
        self.by_service[service] += 1
        self.active += 1
        self.host_ports.update(host_ports)

    def meets(self, constraints: Sequence[Constraint]) -> bool:
        """constraint.NodeMatches."""
        for c in constraints:
            key = c.key.lower()
            if key == "node.id":
                ok = c.matches(self.id)
            elif key == "node.hostname":
                ok = c.matches(self.hostname)
            elif key == "node.role":
                ok = c.matches(self.role)
            elif key == "node.ip":
                ok = _ip_matches(c, self.addr)
            elif key == "node.platform.os":
                ok = c.matches("linux")
            elif key == "node.platform.arch":
                ok = c.matches("x86_64")
            elif key.startswith("node.labels."):
                ok = c.matches(self.labels.get(c.key[len("node.labels."):], ""))  # the label's name is case-sensitive
            elif key.startswith("engine.labels."):
                ok = c.matches(self.engine_labels.get(c.key[len("engine.labels."):], ""))
            else:
                ok = False
            if not ok:
                return False
        return True


def _ip_matches(c: Constraint, addr: IPv4Address) -> bool:
    try:
        within = addr == ip_address(c.value)
    except ValueError:
        try:
            net = ip_network(c.value, strict=False)
        except ValueError:
            return False  # a malformed address never matches
        within = isinstance(net, IPv4Network) and addr in net
    return within == c.equal


@dataclass(frozen=True)
class Placement:
    """What the filters look at of a service's tasks."""

    service: str
    constraints: tuple[Constraint, ...] = ()
    max_replicas: int = 0  # 0: no limit
    host_ports: tuple[tuple[str, int], ...] = ()  # (protocol, published port) in host mode


class _Filter:
    failures = 0

    def enabled(self, p: Placement) -> bool:
        return True

    def check(self, p: Placement, n: NodeInfo) -> bool:
        raise NotImplementedError

    def explain(self, nodes: int) -> str:
        raise NotImplementedError


class _Ready(_Filter):
    def check(self, p: Placement, n: NodeInfo) -> bool:
        return n.ready and n.availability == "active"

    def explain(self, nodes: int) -> str:
        return "1 node not available for new tasks" if nodes == 1 else f"{nodes} nodes not available for new tasks"


class _Constraints(_Filter):
    def enabled(self, p: Placement) -> bool:
        return bool(p.constraints)

    def check(self, p: Placement, n: NodeInfo) -> bool:
        return n.meets(p.constraints)

    def explain(self, nodes: int) -> str:
        return f"scheduling constraints not satisfied on {nodes} node{'' if nodes == 1 else 's'}"


class _HostPorts(_Filter):
    def enabled(self, p: Placement) -> bool:
        return bool(p.host_ports)

    def check(self, p: Placement, n: NodeInfo) -> bool:
        return not any(port in n.host_ports for port in p.host_ports)

    def explain(self, nodes: int) -> str:
        return f"host-mode port already in use on {nodes} node{'' if nodes == 1 else 's'}"


class _MaxReplicas(_Filter):
    def enabled(self, p: Placement) -> bool:
        return p.max_replicas > 0

    def check(self, p: Placement, n: NodeInfo) -> bool:
        return n.by_service[p.service] < p.max_replicas

    def explain(self, nodes: int) -> str:
        return "max replicas per node limit exceed"


class Pipeline:
    """pipeline.go: the filters in order; a node stops at its first failure, which is counted."""

    def __init__(self, placement: Placement) -> None:
        self.placement = placement
        self.filters = [f for f in (_Ready(), _Constraints(), _HostPorts(), _MaxReplicas()) if f.enabled(placement)]

    def process(self, n: NodeInfo) -> bool:
        for f in self.filters:
            if not f.check(self.placement, n):
                f.failures += 1
                return False
        for f in self.filters:
            f.failures = 0
        return True

    def explain(self) -> str:
        """Most failures first, as ``Pipeline.Explain``; Go's sort is not stable, ours keeps filter order."""
        ranked = sorted((f for f in self.filters if f.failures), key=lambda f: -f.failures)
        return "; ".join(f.explain(f.failures) for f in ranked)


def schedule(placement: Placement, count: int, nodes: Sequence[NodeInfo]) -> tuple[list[NodeInfo], str]:
    """Place ``count`` tasks of one service: the node of each, in order, and why the rest (if
    any) found no node ("no suitable node (...)", as the task's error says).  The NodeInfos are
    updated as tasks land, as the scheduler's node set is."""
    pipeline = Pipeline(placement)
    less = _node_less(placement.service)
    eligible = sorted((n for n in nodes if pipeline.process(n)), key=lambda n: (n.by_service[placement.service],
                                                                                n.active, n.hostname))
    chosen: list[NodeInfo] = []
    if eligible:
        chosen = _on_nodes(placement, count, eligible, pipeline, less)
    if len(chosen) == count:
        return chosen, ""
    why = pipeline.explain()
    return chosen, f"no suitable node ({why})" if why else "no suitable node"


def _node_less(service: str) -> Callable[[NodeInfo, NodeInfo], bool]:
    def less(a: NodeInfo, b: NodeInfo) -> bool:
        if a.by_service[service] != b.by_service[service]:
            return a.by_service[service] < b.by_service[service]
        return a.active < b.active
    return less


def _on_nodes(p: Placement, n: int, nodes: list[NodeInfo], pipeline: Pipeline,
              less: Callable[[NodeInfo, NodeInfo], bool]) -> list[NodeInfo]:
    """scheduleNTasksOnNodes, step for step."""
    chosen: list[NodeInfo] = []
    failed: set[int] = set()
    at = 0
    count = len(nodes)
    while len(chosen) < n:
        node = nodes[at % count]
        node.add_task(p.service, p.host_ports)
        chosen.append(node)
        if len(chosen) == n:
            break
        if at + 1 < count:
            # First pass fills the nodes until they have the same number of tasks from this service.
            if less(nodes[(at + 1) % count], node):
                at += 1
        else:
            at += 1  # later passes: one task at a time to each node that still meets the constraints
        start = at
        while at % count in failed or not pipeline.process(nodes[at % count]):
            failed.add(at % count)
            at += 1
            if at - start == count:
                return chosen  # none of the nodes meet the constraints any more
    return chosen

