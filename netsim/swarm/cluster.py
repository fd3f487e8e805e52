"""The swarm: which hosts are members with which role, its networks, and each node's agent.

``sim.swarm.init(host)`` / ``join(host, role=)`` / ``leave(host, force=)`` follow ``docker swarm``;
``create_network`` is ``docker network create -d overlay`` on a manager.  Each member runs a
NetworkDB over the simulated underlay (UDP 7946 in its host namespace) and plugs a
``NodeAgent`` into its engine: the engine instantiates swarm networks through it (B36), the
overlay driver's peer records go out through it, and what NetworkDB hears of other nodes
comes back to the driver (B42).

Modelled: membership by init/join/leave, manager-side allocation (B37), attachability (B35),
lazy instantiation and Peers (B36), NetworkDB gossip (B42, B57c), raft among the managers
(B53, B54), the dispatcher's heartbeats (B55), memberlist's failure detection (B56), and
services with their tasks (``orchestrator.py``, ``scheduler.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Literal, Optional, Sequence, Union

from ..engine.cluster import INGRESS, SwarmNetwork, TaskAttachment
from ..engine.daemon import ENDPOINT_TABLE
from ..engine.ports import PortBinding
from ..engine.drivers.api import TableEntry, TableWatcher
from ..errors import DockerError
from .ipam import GlobalAllocator, SerialPool
from .dispatcher import DOWN, READY, UNKNOWN, Dispatcher
from .memberlist import Member, Memberlist
from .networkdb import NetworkDB, NetworkDBConfig
from .orchestrator import Orchestrator, PortConfig, Service, ServiceSpec
from .scheduler import NodeInfo, parse_constraints
from .raft import LEADER, Raft
from .transport import GOSSIP_PORT, MANAGER_PORT, SimTransport

if TYPE_CHECKING:
    import pandas as pd

    from ..engine.daemon import Engine
    from ..simulation import Host, Simulation

__all__ = ["Swarm", "Node", "NodeAgent", "Role"]

Role = Literal["manager", "worker"]

NOT_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
               "node to swarm and try again.")
WORKER_NOT_MANAGER = ("This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. "
                      "Please run this command on a manager node or promote the current node to a manager.")
ALREADY_MEMBER = ('This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join '
                  "another one.")
VXLANID_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
_ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass
class Node:
    host: str
    role: Role
    members: Memberlist
    db: NetworkDB
    agent: "NodeAgent"
    control: SimTransport  # TCP 2377: raft between managers, heartbeats to the leader
    dispatcher: Dispatcher
    raft: Optional[Raft] = None  # managers only
    id: str = ""  # the node's id in the swarm (docker node ls ID)
    availability: str = "active"  # or "pause", "drain" (docker node update --availability)
    labels: dict[str, str] = field(default_factory=dict)  # docker node update --label-add

    @property
    def leader(self) -> bool:
        return self.raft is not None and self.raft.state == LEADER

    def receive(self, src: int, data: bytes) -> None:
        """What arrives on 2377, to raft or to the dispatcher."""
        try:
            message = json.loads(data)
        except ValueError:
            return
        if message.get("p") == "raft" and self.raft is not None:
            self.raft.receive(message)
        elif message.get("p") == "hb":
            self.dispatcher.receive(message)


@dataclass
class Swarm:
    sim: "Simulation"
    members: dict[str, Node] = field(default_factory=dict)  # by host
    networks: dict[str, SwarmNetwork] = field(default_factory=dict)  # by name

    def __post_init__(self) -> None:
        self._alloc = GlobalAllocator()
        self._ids = self.sim.stream("swarm", "ids")
        self._object_ids = self.sim.stream("swarm", "object-ids")  # nodes, services, tasks
        self.orchestrator = Orchestrator(self.sim.env, self, self.network, self._node_infos, self._new_id,
                                         self._leader_log, self._reachable)

    # ---- membership -----------------------------------------------------------------------------

    def init(self, host: str) -> Node:
        """``docker swarm init`` on ``host``: it becomes the manager and leader; the ingress network's
        subnet (10.0.0.0/24) and VNI (4096) are taken, as swarmkit creates ingress at init."""
        if self.members:
            raise DockerError(ALREADY_MEMBER if host in self.members else
                              "this simulation already has a swarm; hosts join it (swarm_join)",
                              fix="join the existing swarm instead of initialising another")
        if INGRESS not in self.networks:  # allocated before the first node, which gets 10.0.0.2 on it
            self._allocate(INGRESS, "overlay", None, None, internal=False, attachable=False, options={})
        node = self._add(host, "manager")
        if node.raft is not None:  # always, for a manager
            node.raft.bootstrap()
        self._engine(host).setup_ingress()
        return node

    def join(self, host: str, role: Role = "worker") -> Node:
        """``docker swarm join --token <role token> <manager>:2377``."""
        if host in self.members:
            raise DockerError(ALREADY_MEMBER, fix=f"make {host} leave first")
        if not self.managers():
            raise DockerError("no swarm to join: no host has run swarm init", fix="give one host swarm: manager first")
        self._require_quorum()
        node = self._add(host, role)
        self._engine(host).setup_ingress()
        return node

    def leave(self, host: str, force: bool = False) -> None:
        """``docker swarm leave [--force]`` (B57c): the node says goodbye on gossip, its standalone
        containers are force-disconnected from attachable swarm networks, and it is no longer in swarm mode."""
        node = self.members.get(host)
        if node is None:
            raise DockerError("This node is not part of a swarm", fix=f"{host} is not a member")
        if node.role == "manager" and not force:
            managers = len(self.managers())
            if managers == 1:
                raise DockerError("You are attempting to leave the swarm on a node that is participating as a "
                                  "manager. Removing the last manager erases all current state of the swarm. "
                                  "Use `--force` to ignore this message.", fix="leave with force")
            if managers - 1 < managers // 2 + 1:
                raise DockerError(f"You are attempting to leave the swarm on a node that is participating as a "
                                  f"manager. Removing this node leaves {managers - 1} managers out of {managers}. "
                                  "Without a Raft quorum your swarm will be inaccessible.", fix="leave with force")
        engine = self._engine(host)
        for service in self.orchestrator.services.values():  # B57c: its task containers are force-removed
            for task in service.tasks:
                if task.node == host and task.container is not None:
                    self.remove_task(host, task.container)
                    task.container = None
        for ctr in list(engine.containers):
            for ep in list(ctr.endpoints.values()):
                if ep.network.driver.SCOPE == "swarm":
                    ep.network.disconnect(ctr, force=True)
        engine.release_ingress()
        node.db.leave_cluster()
        node.members.leave()
        node.dispatcher.running = False
        if node.raft is not None:
            node.raft.running = False
            for other in self.members.values():
                if other.raft is not None:
                    other.raft.peers.pop(host, None)
        node.control.close()
        self._host(host).ns.listening.discard(("tcp", 0, MANAGER_PORT))
        self._host(host).ns.listening.discard(("tcp", 0, GOSSIP_PORT))
        engine.agent = None
        del self.members[host]
        self.orchestrator.node_down(host)  # the managers see it Down: its tasks are restarted elsewhere

    def _member_changed(self, host: str, member: Member) -> None:
        self.sim.note_change(f"memberlist on {host}: {member.name} {member.state}")

    def _raft_changed(self, raft: Raft) -> None:
        self.sim.note_change(f"raft on {raft.name}: {raft.state} in term {raft.term}")
        if raft.state == LEADER:
            self.members[raft.name].dispatcher.lead(sorted(self.members))

    def leader(self) -> Optional[str]:
        """The manager that leads with the highest term (None while there is no leader). A frozen
        machine that still believes it leads answers nobody, so it does not count."""
        leaders = [n for n in self.members.values() if n.raft is not None and n.raft.state == LEADER
                   and not n.raft.frozen]
        return max(leaders, key=lambda n: n.raft.term if n.raft else 0).host if leaders else None

    def _leader_address(self, host: str) -> Optional[int]:
        """Where ``host``'s heartbeats go: the leader its raft knows, or (a worker) the swarm's leader."""
        node = self.members.get(host)
        known = node.raft.leader if node is not None and node.raft is not None and node.raft.leader else self.leader()
        return int(self._host(known).address) if known is not None and known in self.members else None

    def _require_quorum(self) -> None:
        """B53: cluster writes need a leader with a majority of the managers behind it."""
        leader = self.leader()
        raft = self.members[leader].raft if leader is not None else None
        if raft is None or not raft.has_quorum():
            raise DockerError("rpc error: code = Unknown desc = The swarm does not have a leader. It's possible "
                              "that too few managers are online. Make sure more than half of the managers are "
                              "online.", fix="bring a majority of the managers back")

    def managers(self) -> list[str]:
        return [n.host for n in self.members.values() if n.role == "manager"]

    def _add(self, host: str, role: Role) -> Node:
        h = self._host(host)
        engine = self._engine(host)
        env = self.sim.env
        transport = SimTransport(h.ns, int(h.address))
        stream = SimTransport(h.ns, int(h.address), GOSSIP_PORT, proto="tcp")
        h.ns.listening.add(("tcp", 0, GOSSIP_PORT))  # memberlist's stream listener (B44: 7946 tcp and udp)
        members = Memberlist(env, host, transport, self.sim.stream("swarm", "memberlist", host), stream=stream)
        members.log = engine.log_line
        db = NetworkDB(env, host, members, self.sim.stream("swarm", "networkdb", host),
                       NetworkDBConfig(suspend_failed=self.sim.profile.failed_node_entries == "suspend"))
        agent = NodeAgent(self, host, engine, db)
        control = SimTransport(h.ns, int(h.address), MANAGER_PORT, proto="tcp")
        dispatcher = Dispatcher(env, host, control, self.sim.stream("swarm", "dispatcher", host),
                                partial(self._leader_address, host))
        node = Node(host, role, members, db, agent, control, dispatcher, id=self._new_id())
        dispatcher.on_status.append(partial(self._node_status, host))
        control.listen(node.receive)
        if role == "manager":
            h.ns.listening.add(("tcp", 0, MANAGER_PORT))  # the manager API and raft (B51)
            peers = {m: int(self._host(m).address) for m in self.managers()}
            node.raft = Raft(env, host, control, self.sim.stream("swarm", "raft", host), peers)
            node.raft.on_change.append(self._raft_changed)
            for other in self.members.values():
                if other.raft is not None and other.host != host:
                    other.raft.add_peer(host, int(h.address))
        members.on_change.append(partial(self._member_changed, host))
        leader = self.leader()
        if leader is not None:  # the join is the leader's first word from the node
            lead = self.members[leader].dispatcher
            lead.expect(host, env.now + lead.config.grace_multiplier * lead.config.period)
        # NetworkDB bootstraps from the managers (B52); the first node has nobody to call.
        bootstrap = {m: int(self._host(m).address) for m in self.managers()}
        self.members[host] = node
        engine.agent = agent
        members.join(bootstrap)
        return node

    # ---- networks -------------------------------------------------------------------------------

    def create_network(self, name: str, driver: str = "overlay", on: Optional[str] = None,
                       subnet: Optional[Union[str, IPv4Network]] = None,
                       gateway: Optional[Union[str, IPv4Address]] = None, internal: bool = False,
                       attachable: bool = False, options: Optional[dict[str, str]] = None,
                       labels: Optional[dict[str, str]] = None) -> SwarmNetwork:
        """``docker network create -d overlay`` on manager ``on`` (any manager when not given)."""
        if on is not None and on not in self.members:
            raise DockerError(NOT_MANAGER, fix=f"make {on} a swarm manager, or create the network on one")
        if on is not None and self.members[on].role != "manager":
            raise DockerError(WORKER_NOT_MANAGER, fix="create the network on a manager")
        if not self.managers():
            raise DockerError(NOT_MANAGER, fix="give one host swarm: manager")
        if name in self.networks:
            raise DockerError(f"network with name {name} already exists")
        self._require_quorum()
        net = self._allocate(name, driver, IPv4Network(subnet) if subnet else None,
                             IPv4Address(gateway) if gateway else None, internal, attachable, dict(options or {}))
        net.labels = dict(labels or {})
        return net

    def _allocate(self, name: str, driver: str, subnet: Optional[IPv4Network], gateway: Optional[IPv4Address],
                  internal: bool, attachable: bool, options: dict[str, str]) -> SwarmNetwork:
        sub = self._alloc.subnet(subnet)
        gw = gateway or sub.network_address + 1
        if VXLANID_OPTION in options:  # -o com.docker.network.driver.overlay.vxlanid_list=N: the user's VNI
            self._alloc.take_vni(int(options[VXLANID_OPTION].split(",")[0]))
        else:
            options = {**options, VXLANID_OPTION: str(self._alloc.vni())}
        nid = "".join(self._ids.choice(_ID_CHARS) for _ in range(25))
        net = SwarmNetwork(nid, name, driver, sub, gw, SerialPool(sub, gw), internal, attachable, options)
        self.networks[name] = net
        return net

    def network(self, name: str) -> Optional[SwarmNetwork]:
        return self.networks.get(name) or next((n for n in self.networks.values() if n.id == name), None)

    def peers(self, host: str, name: str) -> list[str]:
        """``docker network inspect NAME`` on ``host``: the ``Peers``, the nodes with the network (B36)."""
        net = self.network(name)
        node = self.members.get(host)
        return node.db.peers(net.id) if net is not None and node is not None else []

    def nodes(self) -> "pd.DataFrame":
        """``docker node ls`` as the leader sees it: hostname, role, status (Ready or Down, from the
        dispatcher's heartbeats; Unknown without a leader), availability, manager status (Leader,
        Reachable, Unreachable, from raft)."""
        import pandas as pd

        leader = self.leader()
        lead = self.members[leader] if leader is not None else None
        rows = []
        for n in self.members.values():
            status = lead.dispatcher.status(n.host) if lead is not None else UNKNOWN
            manager = ""
            if n.role == "manager":
                reachable = lead is not None and lead.raft is not None and lead.raft.reachable(n.host)
                manager = "Leader" if n.host == leader else "Reachable" if reachable else "Unreachable"
            rows.append((n.host, n.role, status, n.availability.capitalize(), manager))
        return pd.DataFrame(rows, columns=["hostname", "role", "status", "availability", "manager_status"])

    def messages(self) -> int:
        """Datagrams the members sent on 7946 so far (memberlist's own and NetworkDB's)."""
        return sum(n.members.messages_sent for n in self.members.values())

    def freeze(self, host: str, frozen: bool) -> None:
        """node_fail / node_recover: the machine stops (or resumes) as it was; its swarm state stays."""
        node = self.members.get(host)
        if node is not None:
            node.members.frozen = node.dispatcher.frozen = frozen
            if node.raft is not None:
                node.raft.frozen = frozen
            if not frozen:
                self.orchestrator.reconcile_all()  # what it was given while away starts now

    def view(self, observer: str) -> dict[str, str]:
        """What ``observer``'s memberlist thinks of every member: alive, suspect, dead or left."""
        return {m.name: m.state for m in self.members[observer].members.members.values()}

    # ---- services ------------------------------------------------------------------------------

    def create_service(self, name: str, image: str = "nginx:latest", replicas: int = 1, mode: str = "replicated",
                       networks: Sequence[Union[str, tuple[str, Sequence[str]]]] = (),
                       ports: Sequence[PortConfig] = (), expose: Sequence[Union[int, str]] = (),
                       endpoint_mode: str = "vip", constraints: Sequence[str] = (),
                       max_replicas_per_node: int = 0) -> Service:
        """``docker service create`` on a manager: allocated, scheduled and started now.

        ``networks`` lists overlay names, or (name, aliases) pairs; a task listens on its ports'
        targets and on ``expose`` (``80``, ``"53/udp"``); ``constraints`` are ``node.role==worker``,
        ``node.hostname!=h2``, ``node.labels.zone==a`` ... (scheduler.py)."""
        if not self.managers():
            raise DockerError(NOT_MANAGER, fix="give one host swarm: manager")
        self._require_quorum()
        if mode not in ("replicated", "global"):
            raise DockerError(f"invalid mode {mode!r}", fix="use replicated or global")
        if endpoint_mode not in ("vip", "dnsrr"):
            raise DockerError(f"invalid endpoint mode {endpoint_mode!r}", fix="use vip or dnsrr")
        attached = tuple((n, ()) if isinstance(n, str) else (n[0], tuple(n[1])) for n in networks)
        for net_name, _ in attached:
            net = self.network(net_name)
            if net is None:
                raise DockerError(f"network {net_name} not found", fix=f"create {net_name} as an overlay first")
            if net.name == INGRESS:
                raise DockerError("rpc error: code = InvalidArgument desc = Service cannot be explicitly attached to "
                                  "the ingress network \"ingress\"", fix="publish ports instead")
        try:
            parsed = parse_constraints(constraints)
        except ValueError as err:
            raise DockerError(f"rpc error: code = InvalidArgument desc = {err}", fix="write key==value or key!=value")
        listens = tuple(dict.fromkeys([*(f"{p.target}/{p.protocol}" for p in ports), *(str(e) for e in expose)]))
        spec = ServiceSpec(name, image, mode, replicas, attached, tuple(ports), endpoint_mode, parsed,
                           max_replicas_per_node, listens)
        service = self.orchestrator.create(spec)
        self.sim.note_change(f"service {name} created")
        return service

    def scale(self, name: str, replicas: int) -> Service:
        """``docker service scale NAME=REPLICAS``."""
        self._require_quorum()
        service = self.orchestrator.scale(name, replicas)
        self.sim.note_change(f"service {name} scaled to {replicas}")
        return service

    def update_node(self, host: str, availability: Optional[str] = None,
                    labels: Optional[dict[str, str]] = None) -> None:
        """``docker node update [--availability active|pause|drain] [--label-add k=v]`` (B57d)."""
        node = self.members.get(host)
        if node is None:
            raise DockerError(f"node {host} not found", fix=f"{host} is not a swarm member")
        self._require_quorum()
        if labels:
            node.labels.update(labels)
        if availability is not None:
            if availability not in ("active", "pause", "drain"):
                raise DockerError(f"invalid availability {availability!r}", fix="use active, pause or drain")
            before, node.availability = node.availability, availability
            if availability == "drain" and before != "drain":
                self.orchestrator.node_drained(host)
            elif availability == "active" and before != "active":
                self.orchestrator.node_ready(host)
            self.sim.note_change(f"node {host} availability {availability}")
        elif labels:
            self.orchestrator.reconcile_all()

    def services(self) -> "pd.DataFrame":
        """``docker service ls``: id, name, mode, replicas running/desired, image, ports."""
        import pandas as pd

        rows = []
        for s in self.orchestrator.services.values():
            running = sum(1 for t in s.tasks if t.desired == "running" and t.state == "running")
            desired = s.spec.replicas if s.spec.mode == "replicated" else sum(1 for t in s.tasks if t.live)
            ports = ", ".join(f"*:{p.published}->{p.target}/{p.protocol}" for p in s.ports if p.mode == "ingress")
            vips = ", ".join(f"{net}={vip}" for net, vip in s.vips.items())
            rows.append((s.id[:12], s.spec.name, s.spec.mode, f"{running}/{desired}", s.spec.image, ports,
                         s.spec.endpoint_mode, vips))
        return pd.DataFrame(rows, columns=["id", "name", "mode", "replicas", "image", "ports", "endpoint_mode",
                                           "vips"])

    def tasks(self, service: Optional[str] = None) -> "pd.DataFrame":
        """``docker service ps``: every task (replaced ones too), its node, desired and current
        state and since when, its error, its container and addresses."""
        import pandas as pd

        rows = []
        services = [self.orchestrator.get(service)] if service else list(self.orchestrator.services.values())
        for s in services:
            for t in sorted(s.tasks, key=lambda t: (t.slot, t.node_id, -t.created)):
                addresses = ", ".join(f"{net}={addr}" for net, addr in t.addresses.items())
                rows.append((t.id[:12], t.name, s.spec.image, t.node or "", t.desired, t.state, t.since, t.error,
                             t.container or "", addresses))
        return pd.DataFrame(rows, columns=["id", "name", "image", "node", "desired_state", "current_state", "since",
                                           "error", "container", "addresses"])

    # the orchestrator's view of the members, and its executor on them

    def _node_infos(self) -> list[NodeInfo]:
        leader = self.leader()
        lead = self.members[leader].dispatcher if leader is not None else None
        return [NodeInfo(n.id, n.host, n.role, self._host(n.host).address, dict(n.labels),
                         ready=lead is not None and lead.status(n.host) == READY, availability=n.availability)
                for n in self.members.values()]

    def _reachable(self, host: str) -> bool:
        """The leader's word reaches the node's agent: a member, running, and Ready for the leader."""
        leader = self.leader()
        return (host in self.members and host not in self.sim.world.frozen and leader is not None
                and self.members[leader].dispatcher.status(host) == READY)

    def _node_status(self, observer: str, host: str, status: str) -> None:
        """A dispatcher marked ``host`` Down or Ready; only the leader's decides (B55)."""
        if observer != self.leader():
            return
        self.sim.note_change(f"node {host} {status.lower()} for the leader {observer}")
        if status == DOWN:
            self.orchestrator.node_down(host)
        else:
            self.orchestrator.node_ready(host)

    def _new_id(self) -> str:
        return "".join(self._object_ids.choice(_ID_CHARS) for _ in range(25))

    def _leader_log(self, level: str, message: str) -> None:
        leader = self.leader()
        if leader is not None:
            self._engine(leader).log_line(level, message)

    def start_task(self, host: str, name: str, attachments: Sequence[TaskAttachment],
                   host_ports: Sequence[tuple[int, int, str]], expose: Sequence[str]) -> None:
        bindings = [PortBinding(target, published, proto) for published, target, proto in host_ports]
        self._engine(host).containers.run_task(name, attachments, bindings, expose)

    def remove_task(self, host: str, name: str) -> None:
        containers = self._engine(host).containers
        if name in containers:
            containers.get(name).remove(force=True)

    # ---- helpers --------------------------------------------------------------------------------

    def _host(self, host: str) -> "Host":
        return self.sim.host(host)

    def _engine(self, host: str) -> "Engine":
        engine = self._host(host).engine
        if engine is None:
            raise DockerError(f"host {host} runs no Docker engine", fix="set docker: true")
        return engine


class NodeAgent:
    """One node's side of the seam (engine.cluster.ClusterAgent): its engine talks to the swarm here."""

    def __init__(self, swarm: Swarm, host: str, engine: "Engine", db: NetworkDB) -> None:
        self.swarm = swarm
        self.host = host
        self.engine = engine
        self.db = db
        db.watchers.append(self._notify)

    def network(self, name: str) -> Optional[SwarmNetwork]:
        return self.swarm.network(name)

    def attach(self, network: SwarmNetwork, container: str) -> None:
        if not network.attachable:
            raise DockerError(f"Could not attach to network {network.name}: rpc error: code = PermissionDenied "
                              f"desc = network {network.name} not manually attachable",
                              fix=f"create {network.name} with attachable: true", field=f"networks.{network.name}")

    def network_joined(self, nid: str) -> None:
        self.db.join_network(nid)

    def peers(self, nid: str) -> list[tuple[str, str]]:
        return [(name, str(self.swarm.sim.host(name).address)) for name in self.db.peers(nid)]

    def network_left(self, nid: str) -> None:
        self.db.leave_network(nid)
        net = self.swarm.network(nid)
        if net is not None:
            self.swarm.orchestrator.release_lb(net.name, self.host)

    def load_balancer(self, nid: str) -> Optional[IPv4Address]:
        net = self.swarm.network(nid)
        return self.swarm.orchestrator.lb_address(net.name, self.host) if net is not None else None

    def add_table_entry(self, nid: str, entry: TableEntry) -> None:
        self.db.create_entry(nid, entry.table, entry.key, entry.value)

    def delete_table_entry(self, nid: str, table: str, key: str) -> None:
        self.db.delete_entry(nid, table, key)

    def _notify(self, nid: str, table: str, key: str, value: Optional[bytes]) -> None:
        swarm_net = self.swarm.network(nid)
        what = "removed" if value is None else "added"
        self.swarm.sim.note_change(f"networkdb on {self.host}: {table} entry {what} on "
                                   f"{swarm_net.name if swarm_net is not None else nid}")
        if table == ENDPOINT_TABLE:
            self.engine.service_record(nid, key, value)
            return
        net = next((n for n in self.engine.networks if n.id == nid), None)
        if net is not None and isinstance(net.driver, TableWatcher):
            net.driver.event_notify(nid, table, key, value)
