"""Swarm services and their tasks: swarmkit's orchestrators, allocator and restart supervisor.

``Orchestrator`` keeps every service's tasks as swarmkit's managers do (the state raft would
hold; it acts while the swarm has a leader with quorum):

- **Replicated** services (manager/orchestrator/replicated) keep ``replicas`` slots filled. A
  scale up adds the lowest free slots; a scale down keeps running tasks first, then the
  tasks that are fewer on their node, then the lower slots (``slotsByRunningState``,
  ``slotsByIndex``), and removes the rest.
- **Global** services (orchestrator/global) run one task on every node that is Ready, Active and
  meets the constraints; a node that goes Down or is drained has its task shut down.
- **Allocation** (manager/allocator) happens before scheduling, on the leader: one VIP per
  network for a ``vip`` service, one address per network for every task, serial in the
  network's pool (B37), and one load-balancer address for every node with a task on the
  network (B50's budget).  A task whose address cannot be allocated stays ``new`` and the
  service stays unfinished; the leader logs the error (K7).
- **Scheduling** is ``scheduler.schedule`` (spread, filters, "no suitable node"); a task that
  finds no node stays ``pending`` and is tried again whenever a node becomes usable.
- **Restarts** (orchestrator/restart): when a node goes Down (the dispatcher, B55) or is
  drained, each of its replicated tasks is given desired state ``shutdown`` and a new task takes
  its slot, scheduled at once and started after the restart delay (5 s,
  api/defaults/service.go; no delay for a drain).  The replacement gets new addresses; the VIP
  stays.  A task on a Down node keeps its addresses until the node comes back and removes its
  container (moby#31694's leak while it stays away).

The node's side (the executor that creates the task's container on its engine) is reached
through ``Executor``: assignments reach a node at once (the dispatcher's session stream is not
simulated), and a node the leader cannot reach (Down, or frozen by ``node_fail``) starts and
stops nothing until it is back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Callable, Optional, Protocol, Sequence

from ..engine.cluster import INGRESS, IngressPort, ServiceBinding, SwarmNetwork, TaskAttachment
from ..errors import DockerError
from .scheduler import Constraint, NodeInfo, Pipeline, Placement, schedule

if TYPE_CHECKING:
    import simpy

__all__ = ["Orchestrator", "PortConfig", "Service", "ServiceSpec", "Task", "Executor", "RESTART_DELAY",
           "DYNAMIC_PORTS"]

RESTART_DELAY = 5.0  # api/defaults/service.go: Restart.Delay
DYNAMIC_PORTS = (30000, 32767)  # allocator/portallocator.go: a published port when none is given (B58)
_ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class PortConfig:
    """One of a service's ``ports``: ``published`` None until the allocator gives one."""

    target: int
    published: Optional[int] = None
    protocol: str = "tcp"
    mode: str = "ingress"  # or "host"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str = "nginx:latest"
    mode: str = "replicated"  # or "global"
    replicas: int = 1
    networks: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (network, its aliases), in order
    ports: tuple[PortConfig, ...] = ()
    endpoint_mode: str = "vip"  # or "dnsrr"
    constraints: tuple[Constraint, ...] = ()
    max_replicas_per_node: int = 0
    listens: tuple[str, ...] = ()  # "80/tcp", "53/udp": what a task's process listens on


@dataclass
class Task:
    id: str
    service: "Service"
    slot: int  # 0 for a global service's task
    node: Optional[str]  # hostname once scheduled (a global task's from its creation)
    created: float
    node_id: str = ""  # a global task's node, by the swarm's id for it
    desired: str = "running"  # or "shutdown", "remove"
    state: str = "new"  # new, pending, assigned, running, shutdown, orphaned...
    since: float = 0.0  # when it entered its state
    error: str = ""
    start_at: float = 0.0  # not before: the restart delay
    addresses: dict[str, IPv4Address] = field(default_factory=dict)  # network name -> address
    container: Optional[str] = None  # the container's name once its node runs it
    waiting: bool = False  # a timer for its delayed start is set

    @property
    def name(self) -> str:
        """``docker service ps``'s NAME: ``web.1``, or ``web.<node id>`` for a global task."""
        return f"{self.service.spec.name}.{self.slot or self.node_id}"

    @property
    def container_name(self) -> str:
        return f"{self.name}.{self.id}"

    @property
    def live(self) -> bool:
        """Counts for its slot: desired running, and not ended."""
        return self.desired == "running" and self.state in ("new", "pending", "assigned", "running")


@dataclass
class Service:
    id: str
    spec: ServiceSpec
    created: float
    vips: dict[str, IPv4Address] = field(default_factory=dict)  # network name -> VIP (vip mode)
    ports: tuple[PortConfig, ...] = ()  # with published ports filled in
    tasks: list[Task] = field(default_factory=list)

    def networks(self) -> list[str]:
        nets = [n for n, _ in self.spec.networks]
        if any(p.mode == "ingress" for p in self.ports):
            nets.append(INGRESS)  # the routing mesh (B58): every task is on ingress too
        return nets


class Executor(Protocol):
    """A node's agent: runs and removes task containers on its engine."""

    def start_task(self, host: str, name: str, attachments: Sequence[TaskAttachment],
                   host_ports: Sequence[tuple[int, int, str]], expose: Sequence[str]) -> None:
        """Run the task's container; ``host_ports`` are its (published, target, protocol) in host
        mode, ``expose`` what it listens on ("80/tcp")."""

    def remove_task(self, host: str, name: str) -> None: ...


@dataclass
class Orchestrator:
    env: "simpy.Environment"
    executor: Executor
    network: Callable[[str], Optional[SwarmNetwork]]  # by name
    nodes: Callable[[], list[NodeInfo]]  # every member as the leader sees it, tasks not counted
    new_id: Callable[[], str]
    log: Callable[[str, str], None]  # the leader's daemon log: (level, message)
    reachable: Callable[[str], bool]  # whether the leader's word reaches a node's agent (Ready, not frozen)
    services: dict[str, Service] = field(default_factory=dict)
    lb: dict[tuple[str, str], IPv4Address] = field(default_factory=dict)  # (network, node) -> LB address
    _last_port: int = DYNAMIC_PORTS[0] - 1

    # ---- the API ----------------------------------------------------------------------------

    def create(self, spec: ServiceSpec) -> Service:
        """``docker service create``: allocated and scheduled now; tasks start at once."""
        if spec.name in self.services:
            raise DockerError(f"rpc error: code = AlreadyExists desc = service {spec.name} already exists",
                              fix="pick another service name")
        for net_name, _ in spec.networks:
            net = self.network(net_name)
            if net is None:
                raise DockerError(f"network {net_name} not found", fix=f"create {net_name} as an overlay first")
        if spec.endpoint_mode == "dnsrr" and any(p.mode == "ingress" for p in spec.ports):
            raise DockerError("rpc error: code = InvalidArgument desc = EndpointSpec: port published with ingress "
                              "mode can't be used with dnsrr mode", fix="publish with mode: host, or use vip")
        service = Service(self.new_id(), spec, self.env.now)
        service.ports = self._allocate_ports(spec)
        self.services[spec.name] = service
        if spec.endpoint_mode == "vip":
            for net_name in service.networks():
                try:
                    service.vips[net_name] = self._pool(net_name).allocate()
                except DockerError as err:
                    self.log("error", f"Failed allocation for service {service.id}: could not find an available IP "
                                      f"while allocating VIP: {err.message}")
        self.reconcile(service)
        return service

    def scale(self, name: str, replicas: int) -> Service:
        """``docker service scale NAME=N``."""
        service = self.get(name)
        if service.spec.mode != "replicated":
            raise DockerError(f"scale can only be used with replicated or replicated-job mode: {name} is global",
                              fix="scale a replicated service")
        service.spec = ServiceSpec(**{**service.spec.__dict__, "replicas": replicas})
        self.reconcile(service)
        return service

    def get(self, name: str) -> Service:
        service = self.services.get(name)
        if service is None:
            raise DockerError(f"service {name} not found", fix="create it first, or check its name")
        return service

    # ---- reconciliation ---------------------------------------------------------------------

    def reconcile(self, service: Service) -> None:
        self._reconcile(service)
        self._schedule_pending()
        self._start_due()

    def reconcile_all(self) -> None:
        for service in self.services.values():
            self._reconcile(service)
        self._schedule_pending()
        self._start_due()

    def _reconcile(self, service: Service) -> None:
        if service.spec.mode == "global":
            self._reconcile_global(service)
        else:
            self._reconcile_replicated(service)

    def _reconcile_replicated(self, service: Service) -> None:
        live = [t for t in service.tasks if t.live]
        want = service.spec.replicas
        if want > len(live):
            used = {t.slot for t in live}
            slot = 1
            for _ in range(want - len(live)):
                while slot in used:
                    slot += 1
                used.add(slot)
                self._new_task(service, slot, None, self.env.now)
        elif want < len(live):
            per_node: dict[str, int] = {}
            ranked = []
            for t in sorted(live, key=lambda t: (t.state != "running", t.slot)):
                if t.node is not None:
                    per_node[t.node] = per_node.get(t.node, 0) + 1
                    ranked.append((per_node[t.node], t))
                else:
                    ranked.append((10 ** 9, t))
            ranked.sort(key=lambda pair: pair[0])
            for _, task in ranked[want:]:
                self._shut_down(task, "remove")

    def _reconcile_global(self, service: Service) -> None:
        pipeline_nodes = {n.hostname: n for n in self.nodes()}
        placement = self._placement(service)
        for t in service.tasks:
            if t.live and t.node is not None:
                node = pipeline_nodes.get(t.node)
                if node is None or not node.ready or node.availability == "drain" or not node.meets(placement.constraints):
                    self._shut_down(t, "shutdown")
        covered = {t.node for t in service.tasks if t.live}
        for name, node in sorted(pipeline_nodes.items()):
            if name not in covered and node.ready and node.availability == "active" and node.meets(placement.constraints):
                self._new_task(service, 0, name, self.env.now).node_id = node.id

    def _new_task(self, service: Service, slot: int, node: Optional[str], start_at: float) -> Task:
        task = Task(self.new_id(), service, slot, node, self.env.now, since=self.env.now, start_at=start_at)
        service.tasks.append(task)
        self._allocate_task(task)
        return task

    def _placement(self, service: Service) -> Placement:
        host_ports = tuple((p.protocol, p.published) for p in service.ports if p.mode == "host" and p.published)
        return Placement(service.id, service.spec.constraints, service.spec.max_replicas_per_node, host_ports)

    def _schedule_pending(self) -> None:
        """The scheduler's pass: every pending task, service by service, in creation order."""
        for service in self.services.values():
            waiting = [t for t in service.tasks if t.live and t.state == "pending"]
            if not waiting:
                continue
            nodes = self._node_infos()
            if service.spec.mode == "global":
                for task in waiting:
                    node = nodes.get(task.node or "")
                    if node is not None and Pipeline(self._placement(service)).process(node):
                        self._assign(task, node)
                continue
            chosen, why = schedule(self._placement(service), len(waiting), list(nodes.values()))
            for task, node in zip(waiting, chosen):
                self._assign(task, node)
            for task in waiting[len(chosen):]:
                task.error = why

    def _assign(self, task: Task, node: NodeInfo) -> None:
        task.node = node.hostname
        task.state, task.since, task.error = "assigned", self.env.now, ""
        for net in task.addresses:
            self.lb_address(net, node.hostname)

    def _node_infos(self) -> dict[str, NodeInfo]:
        """The nodes with the tasks they run counted (ActiveTasksCount: tasks not ended)."""
        infos = {n.hostname: n for n in self.nodes()}
        for service in self.services.values():
            placement = self._placement(service)
            for t in service.tasks:
                if t.node in infos and t.desired == "running" and t.state in ("assigned", "running"):
                    infos[t.node].add_task(service.id, placement.host_ports)
        return infos

    def _start_due(self) -> None:
        """Assigned tasks whose start is due go to their node's executor; the others wait their delay."""
        for service in self.services.values():
            for task in service.tasks:
                if task.live and task.state == "assigned":
                    if task.start_at <= self.env.now:
                        self._start(task)
                    elif not task.waiting:
                        task.waiting = True
                        self.env.timeout(task.start_at - self.env.now).callbacks.append(
                            partial(self._start_if_due, task))

    def _start_if_due(self, task: Task, _: object = None) -> None:
        if task.live and task.state == "assigned" and task.start_at <= self.env.now:
            self._start(task)

    def _start(self, task: Task) -> None:
        node = task.node or ""
        if not self.reachable(node):
            return  # it starts when the node comes back (node_ready)
        service = task.service
        attachments = []
        mesh = tuple(IngressPort(p.protocol, p.published, p.target) for p in service.ports
                     if p.mode == "ingress" and p.published)
        for net_name, address in task.addresses.items():
            aliases = dict(service.spec.networks).get(net_name, ())
            binding = ServiceBinding(service.spec.name, service.id, service.vips.get(net_name), tuple(aliases),
                                     mesh if net_name == INGRESS else ())
            attachments.append(TaskAttachment(net_name, address, binding))
        try:
            host_ports = [(p.published or 0, p.target, p.protocol) for p in service.ports if p.mode == "host"]
            self.executor.start_task(node, task.container_name, attachments, host_ports, service.spec.listens)
        except DockerError as err:
            task.state, task.since, task.error = "rejected", self.env.now, err.message
            return
        task.container = task.container_name
        task.state, task.since = "running", self.env.now

    def _shut_down(self, task: Task, desired: str) -> None:
        """The task's desired state moves past running; its node removes its container when it can."""
        task.desired = desired
        if task.container is None:
            self._release(task)
            task.state, task.since = "shutdown", self.env.now
            return
        if not self.reachable(task.node or ""):
            return  # the node is away: the container and its addresses stay until it returns
        self.executor.remove_task(task.node or "", task.container)
        task.container = None
        task.state, task.since = "shutdown", self.env.now
        self._release(task)

    # ---- node events (the dispatcher and docker node update) -------------------------------

    def node_down(self, host: str) -> None:
        """B55: the leader marked ``host`` Down: its replicated tasks are restarted elsewhere."""
        self._restart_from(host, RESTART_DELAY)

    def node_drained(self, host: str) -> None:
        """``docker node update --availability drain``: its tasks move, without the restart delay."""
        self._restart_from(host, 0.0)

    def node_ready(self, host: str) -> None:
        """The node is usable again (heartbeats back, or active again): tasks it should no longer
        run are removed, and pending tasks may land on it."""
        for service in self.services.values():
            for task in service.tasks:
                if task.node == host and not task.live and task.container is not None:
                    self._shut_down(task, task.desired)
        self.reconcile_all()

    def _restart_from(self, host: str, delay: float) -> None:
        for service in list(self.services.values()):
            if service.spec.mode == "global":
                continue  # reconcile_all shuts a global service's task down
            for task in list(service.tasks):
                if task.node == host and task.live:
                    self._shut_down(task, "shutdown")
                    self._new_task(service, task.slot, None, self.env.now + delay)
        self.reconcile_all()

    # ---- allocation --------------------------------------------------------------------------

    def _pool(self, net_name: str):  # type: ignore[no-untyped-def]
        net = self.network(net_name)
        if net is None:
            raise DockerError(f"network {net_name} not found", fix=f"create {net_name} first")
        return net.pool

    def _allocate_task(self, task: Task) -> None:
        """allocator/network.go: an address on every network of the service, or the task stays new."""
        for net_name in task.service.networks():
            try:
                task.addresses[net_name] = self._pool(net_name).allocate()
            except DockerError as err:
                self._release(task)
                task.error = err.message
                self.log("error", f"Failed allocation for task {task.id}: {err.message}")
                return
        task.state, task.since = "pending", self.env.now

    def lb_address(self, net_name: str, node: str) -> Optional[IPv4Address]:
        """B50: one load-balancer address per node with an endpoint on the network (a task, or a
        standalone container's attachment), allocated on first need (``allocateNode``)."""
        if (net_name, node) not in self.lb:
            try:
                self.lb[(net_name, node)] = self._pool(net_name).allocate()
            except DockerError as err:
                self.log("error", f"Failed to allocate network resources for node {node}: {err.message}")
                return None
        return self.lb[(net_name, node)]

    def release_lb(self, net_name: str, node: str) -> None:
        """The node no longer has the network: its load-balancer address goes back to the pool,
        unless a task there still holds the network."""
        if any(t.node == node and t.live and net_name in t.addresses
               for s in self.services.values() for t in s.tasks):
            return
        address = self.lb.pop((net_name, node), None)
        net = self.network(net_name)
        if address is not None and net is not None:
            net.pool.release(address)

    def _release(self, task: Task) -> None:
        for net_name, address in task.addresses.items():
            net = self.network(net_name)
            if net is not None:
                net.pool.release(address)
        task.addresses = {}

    def _allocate_ports(self, spec: ServiceSpec) -> tuple[PortConfig, ...]:
        """portallocator.go: an ingress port is the swarm's alone; a missing one is the next free
        after the last one given in 30000-32767 (``GetID(true)``, serial, B58)."""
        taken = {(p.protocol, p.published): s.spec.name for s in self.services.values() for p in s.ports
                 if p.mode == "ingress" and p.published}
        out = []
        for port in spec.ports:
            if port.mode == "ingress" and port.published is not None and (port.protocol, port.published) in taken:
                owner = taken[(port.protocol, port.published)]
                other = self.services.get(owner)
                raise DockerError(f"rpc error: code = InvalidArgument desc = port '{port.published}' is already in use "
                                  f"by service '{owner}' ({other.id if other else ''}) as an ingress port",
                                  fix="publish another port, or remove the other service")
            if port.published is None:
                low, high = DYNAMIC_PORTS
                size = high - low + 1
                free = next((low + (self._last_port + 1 - low + step) % size for step in range(size)
                             if (port.protocol, low + (self._last_port + 1 - low + step) % size) not in taken), None)
                if free is None:
                    raise DockerError("could not find an available port in 30000-32767", fix="publish a port yourself")
                self._last_port = free
                port = PortConfig(port.target, free, port.protocol, port.mode)
            if port.mode == "ingress":
                taken[(port.protocol, port.published or 0)] = spec.name
            out.append(port)
        return tuple(out)
