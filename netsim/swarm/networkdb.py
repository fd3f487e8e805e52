"""NetworkDB: the eventually consistent tables swarm nodes gossip per network (libnetwork/networkdb).

Each node keeps, for every network it takes part in, tables of entries (``overlay_peer_table``:
endpoint id -> {address, MAC, VTEP}).  An entry is owned by the node that wrote it and carries
that node's Lamport time; a newer time wins.  Changes spread two ways, as in moby:

- **gossip**: every ``gossip_interval`` (200 ms) a node sends one packet of its queued events
  of a network to up to ``gossip_fanout`` (3) random other nodes of that network; each event
  goes in ``retransmit_mult x ceil(log10(N + 1))`` rounds (N = the network's nodes), and a node
  that learns something new queues it again, so news spreads epidemically;
- **bulk sync**: when a node joins a network it sends the whole table to every node it knows
  on it, which answer with theirs, and every ``bulk_sync_interval`` (30 s) it does so with one
  random member; these go over memberlist's stream (SendReliable, TCP 7946).

Which nodes take part in which network is itself news, gossiped cluster-wide the same way
(moby piggybacks it on memberlist's gossip: a packet per target, each event
``retransmit_mult x ceil(log10(N + 1))`` times in all), and carried whole by memberlist's
push-pulls.  Watchers (the overlay driver) hear of every
entry another node adds, updates or deletes, and an entry whose owner is not known to be on
the network is refused (handleTableEvent).  Members come from ``memberlist``: when it declares a
node dead, the watchers hear deletes of that node's entries (B57a).  Engines <= 28 delete them
and forget the node's attachments, so what it sends on its return is refused until a push/pull
teaches them again, and the bulk sync after that brings its entries back; the fixed code (PR
#53142, profile 29) hides them, keeps accepting relayed updates, and restores the freshest at
once (B57b).  A node that left has its entries deleted at once (B57c).  This module knows
nothing of the data plane: its datagrams ride memberlist's user messages, and it runs as simpy
processes.

Not modelled: tombstone reaping, and what made 29.0-29.6 keep names NXDOMAIN for hours after a
rejoin (moby#53141): the sources name the refusal above as its cause, which here only delays
recovery until the push/pull, as on 28.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterator, Optional

from .broadcast import TransmitLimitedQueue
from .memberlist import ALIVE, DEAD, LEFT, SUSPECT
from .transport import UDP_BUFFER_SIZE, pack

# What a batch may fill of a datagram, leaving room for the headers of both layers' envelopes.
_ROOM = UDP_BUFFER_SIZE - 200

if TYPE_CHECKING:
    import simpy

    from .memberlist import Member, Memberlist

__all__ = ["NetworkDB", "NetworkDBConfig", "Watcher"]

#: (network id, table, key, value or None for a delete), for entries other nodes own.
Watcher = Callable[[str, str, str, Optional[bytes]], None]


@dataclass(frozen=True)
class NetworkDBConfig:
    gossip_interval: float = 0.2  # memberlist GossipInterval, NetworkDB's per-network gossip tick
    gossip_fanout: int = 3  # mRandomNodes(3, ...)
    retransmit_mult: int = 4  # memberlist RetransmitMult
    bulk_sync_interval: float = 30.0  # PushPullInterval
    #: a failed node's entries: kept aside and restored when it is back (29), or deleted (<=28),
    #: in which case only the bulk sync on its return brings them back
    suspend_failed: bool = True


@dataclass
class _Entry:
    owner: str
    ltime: int
    value: Optional[bytes]  # None: deleted (a tombstone)


@dataclass
class _Peer:
    networks: dict[str, tuple[int, bool]] = field(default_factory=dict)  # nid -> (ltime, left)


class NetworkDB:
    def __init__(self, env: "simpy.Environment", name: str, members: "Memberlist", rng: random.Random,
                 config: NetworkDBConfig = NetworkDBConfig()) -> None:
        self.env = env
        self.name = name
        self.memberlist = members
        self.rng = rng
        self.config = config
        self.ltime = 0
        self.nodes: dict[str, _Peer] = {name: _Peer()}
        self.entries: dict[tuple[str, str, str], _Entry] = {}
        self.watchers: list[Watcher] = []
        self.messages_sent = 0
        self._hidden: dict[tuple[str, str, str], _Entry] = {}  # entries of failed nodes, until they return
        self._network_queue: dict[str, TransmitLimitedQueue] = {}
        # network joins and leaves, which moby piggybacks on memberlist's gossip (delegate.GetBroadcasts)
        self._node_queue = TransmitLimitedQueue(members.num_members, config.retransmit_mult)
        self._running = True
        members.on_user = self._receive
        members.delegate = self
        members.on_change.append(self._member_changed)
        env.process(self._gossip_loop())
        env.process(self._bulk_sync_loop())

    # ---- what the node does ---------------------------------------------------------------------

    def leave_cluster(self) -> None:
        for nid in list(self.my_networks()):
            self.leave_network(nid)
        self._flush_queues()
        self._running = False

    def join_network(self, nid: str) -> None:
        self._tick()
        self.nodes[self.name].networks[nid] = (self.ltime, False)
        self._node_event(nid, self.ltime, left=False)
        for member in self._members(nid):  # JoinNetwork: bulkSync(networkNodes, all=true)
            self._bulk_sync(nid, member, reply=True)

    def leave_network(self, nid: str) -> None:
        self._tick()
        self.nodes[self.name].networks[nid] = (self.ltime, True)
        self._node_event(nid, self.ltime, left=True)
        for key in [k for k in self.entries if k[0] == nid]:
            del self.entries[key]

    def create_entry(self, nid: str, table: str, key: str, value: bytes) -> None:
        self._tick()
        self.entries[(nid, table, key)] = _Entry(self.name, self.ltime, value)
        self._table_event(nid, table, key, self.name, self.ltime, value)

    def delete_entry(self, nid: str, table: str, key: str) -> None:
        self._tick()
        self.entries[(nid, table, key)] = _Entry(self.name, self.ltime, None)
        self._table_event(nid, table, key, self.name, self.ltime, None)

    # ---- what it knows --------------------------------------------------------------------------

    def my_networks(self) -> Iterator[str]:
        return (nid for nid, (_, left) in self.nodes[self.name].networks.items() if not left)

    def peers(self, nid: str) -> list[str]:
        """The live nodes that have the network instantiated, as this node knows (``Peers``, B36)."""
        return sorted(n for n, peer in self.nodes.items() if nid in peer.networks and not peer.networks[nid][1]
                      and self._reachable(n))

    def suspended(self) -> int:
        """How many entries of failed nodes this node keeps aside until they return."""
        return len(self._hidden)

    def table(self, nid: str, table: str) -> dict[str, bytes]:
        return {k[2]: e.value for k, e in self.entries.items()
                if k[0] == nid and k[1] == table and e.value is not None}

    # ---- gossip ---------------------------------------------------------------------------------

    def _node_event(self, nid: str, ltime: int, left: bool) -> None:
        self._node_queue.queue({"k": "net", "nid": nid, "node": self.name, "lt": ltime, "left": left})

    def _table_event(self, nid: str, table: str, key: str, owner: str, ltime: int, value: Optional[bytes]) -> None:
        message = {"k": "tbl", "nid": nid, "tbl": table, "key": key, "own": owner, "lt": ltime,
                   "val": value.hex() if value is not None else None}
        queue = self._network_queue.get(nid)
        if queue is None:
            queue = self._network_queue[nid] = TransmitLimitedQueue(lambda: len(self._members(nid)) + 1,
                                                                    self.config.retransmit_mult)
        queue.queue(message)

    def _gossip_loop(self) -> Generator[Any, Any, None]:
        while self._running:
            yield self.env.timeout(self.config.gossip_interval)
            self._gossip_once()

    def _gossip_once(self) -> None:
        if self.memberlist.frozen:
            return
        if self._node_queue:
            others = self._others()
            for target in self.rng.sample(others, min(self.config.gossip_fanout, len(others))):
                batch = self._node_queue.get(_ROOM)  # asked per target, as memberlist asks its delegate
                if not batch:
                    break
                self._send(target, {"k": "batch", "m": batch})
        for nid, queue in list(self._network_queue.items()):
            if not queue:
                continue
            members = self._members(nid)
            targets = self.rng.sample(members, min(self.config.gossip_fanout, len(members)))
            if targets:
                batch = queue.get(_ROOM)  # one packet per network per round, to every target
                for target in targets:
                    self._send(target, {"k": "batch", "m": batch})

    def _flush_queues(self) -> None:
        """A leaving node sends what it has queued at once (its leave, above all) to everyone."""
        queued = self._node_queue.drain()
        for target in self._others():
            for batch in pack(queued, _ROOM):
                self._send(target, {"k": "batch", "m": batch})

    def _bulk_sync_loop(self) -> Generator[Any, Any, None]:
        while self._running:
            yield self.env.timeout(self.config.bulk_sync_interval)
            if self.memberlist.frozen:
                continue
            for nid in sorted(self.my_networks()):
                members = self._members(nid)
                if members:
                    self._bulk_sync(nid, self.rng.choice(members), reply=True)

    def _bulk_sync(self, nid: str, target: str, reply: bool) -> None:
        rows = [[t, k, e.owner, e.ltime, e.value.hex() if e.value is not None else None]
                for (n, t, k), e in sorted(self.entries.items()) if n == nid]
        self._send(target, {"k": "bulk", "nid": nid, "from": self.name, "reply": reply, "rows": rows}, reliable=True)

    # ---- the wire -------------------------------------------------------------------------------

    def _send(self, target: str, message: dict[str, object], reliable: bool = False) -> None:
        self.messages_sent += 1
        self.memberlist.send_user(target, json.dumps({"from": self.name, **message}, sort_keys=True,
                                                     separators=(",", ":")).encode(), reliable)

    def _member_changed(self, member: "Member") -> None:
        """memberlist's events: a new or returning member is asked for its networks and synced with;
        a failed one's entries are hidden; one that left has them deleted (B57)."""
        if member.name == self.name:
            return
        peer = self.nodes.setdefault(member.name, _Peer())
        if member.state == ALIVE:
            self._reveal(member.name)
        elif member.state in (DEAD, LEFT):
            hide = member.state == DEAD and self.config.suspend_failed
            for nid in list(peer.networks):
                self._forget(nid, member.name, hide=hide)
            if not hide:
                # deleteNodeFromNetworks: its attachments are forgotten too, so until a push/pull
                # teaches them again, what it sends on its return is refused (moby#53141)
                peer.networks.clear()

    def _reachable(self, node: str) -> bool:
        member = self.memberlist.members.get(node)
        return node == self.name or member is not None and member.state in (ALIVE, SUSPECT)

    def _receive(self, sender: str, data: bytes) -> None:
        if not self._running:
            return
        try:
            message = json.loads(data)
        except ValueError:
            return  # not ours: NetworkDB drops what it cannot decode
        kind = message.get("k")
        self.nodes.setdefault(sender, _Peer())
        if kind == "batch":
            for item in message["m"]:
                self._handle(item)
        elif kind == "bulk":
            self._handle_bulk(message)

    # ---- what rides on memberlist's push-pulls (delegate.go LocalState / MergeRemoteState) ---------

    def local_state(self) -> Any:
        """The network attachments this node knows, its own and its peers'."""
        return {n: {nid: list(v) for nid, v in p.networks.items()} for n, p in sorted(self.nodes.items())}

    def merge_remote_state(self, sender: str, state: Any) -> None:
        if not self._running:
            return
        for node, networks in state.items():
            if node == self.name or not self._reachable(node):
                continue  # handleNetworkEvent: nothing is kept of a node memberlist does not know alive
            peer = self.nodes.setdefault(node, _Peer())
            for nid, (ltime, left) in networks.items():
                self._witness(ltime)
                if ltime > peer.networks.get(nid, (-1, False))[0]:
                    peer.networks[nid] = (ltime, left)

    def reconnected(self, name: str) -> None:
        """reconnectNode: after the push-pull that rejoined a failed node, a bulk sync of the
        networks the two have in common, which that exchange may just have taught."""
        if not self._running:
            return
        for nid in sorted(self.my_networks()):
            if self._attached(name, nid):
                self._bulk_sync(nid, name, reply=True)

    def _handle(self, message: dict[str, object]) -> None:
        if message.get("k") == "net":
            node, nid, ltime, left = str(message["node"]), str(message["nid"]), int(message["lt"]), message["left"]  # type: ignore[call-overload]
            if node == self.name:
                return
            self._witness(ltime)
            peer = self.nodes.setdefault(node, _Peer())
            if ltime <= peer.networks.get(nid, (-1, False))[0]:
                return
            peer.networks[nid] = (ltime, bool(left))
            self._node_queue.queue(dict(message))
            if left:
                self._forget(nid, node)
        elif message.get("k") == "tbl":
            self._apply(message["nid"], message["tbl"], message["key"], message["own"], message["lt"],  # type: ignore[arg-type]
                        message["val"], rebroadcast=True)  # type: ignore[arg-type]

    def _handle_bulk(self, message: dict[str, object]) -> None:
        nid = str(message["nid"])
        for table, key, owner, ltime, value in message["rows"]:  # type: ignore[attr-defined]
            self._apply(nid, table, key, owner, ltime, value, rebroadcast=False)
        if message.get("reply") and nid in set(self.my_networks()):
            self._bulk_sync(nid, message["from"], reply=False)  # type: ignore[arg-type]

    def _apply(self, nid: str, table: str, key: str, owner: str, ltime: int, value: Optional[str],
               rebroadcast: bool) -> None:
        if nid not in set(self.my_networks()) or owner == self.name:
            return
        self._witness(ltime)
        if not self._attached(owner, nid):
            return  # handleTableEvent: the owner is not (or no longer known to be) on the network
        if self._failed(owner):
            self._remember(nid, table, key, owner, ltime, value, rebroadcast)
            return
        current = self.entries.get((nid, table, key))
        if current is not None and current.ltime >= ltime:
            return
        data = bytes.fromhex(value) if value is not None else None
        self.entries[(nid, table, key)] = _Entry(owner, ltime, data)
        if rebroadcast:
            self._table_event(nid, table, key, owner, ltime, data)
        if data is not None or current is not None and current.value is not None:
            for watcher in self.watchers:
                watcher(nid, table, key, data)

    def _forget(self, nid: str, node: str, hide: bool = False) -> None:
        """A node left the network, or failed (``hide``): its entries go, the watchers hear deletes
        (B57).  Hidden entries wait for the node to come back; deleted ones do not."""
        for k, entry in list(self.entries.items()):
            if k[0] == nid and entry.owner == node and entry.value is not None:
                if hide:
                    self._hidden[k] = entry
                del self.entries[k]
                for watcher in self.watchers:
                    watcher(nid, k[1], k[2], None)

    def _attached(self, node: str, nid: str) -> bool:
        peer = self.nodes.get(node)
        return peer is not None and nid in peer.networks and not peer.networks[nid][1]

    def _failed(self, node: str) -> bool:
        member = self.memberlist.members.get(node)
        return self.config.suspend_failed and member is not None and member.state == DEAD

    def _remember(self, nid: str, table: str, key: str, owner: str, ltime: int, value: Optional[str],
                  rebroadcast: bool) -> None:
        """An entry of a failed owner, relayed by a node that still reaches it: kept hidden and fresh
        for its return, and passed on so the whole cluster remembers it (PR #53142)."""
        k = (nid, table, key)
        current = self._hidden.get(k)
        if current is not None and current.ltime >= ltime:
            return
        data = bytes.fromhex(value) if value is not None else None
        self._hidden[k] = _Entry(owner, ltime, data)
        if rebroadcast:
            self._table_event(nid, table, key, owner, ltime, data)

    def _reveal(self, node: str) -> None:
        """A failed node is alive again: what it owned is back, before the bulk sync refreshes it."""
        for k, entry in list(self._hidden.items()):
            if entry.owner == node:
                del self._hidden[k]
                current = self.entries.get(k)
                if k[0] in set(self.my_networks()) and (current is None or current.ltime < entry.ltime):
                    self.entries[k] = entry
                    if entry.value is not None:
                        for watcher in self.watchers:
                            watcher(k[0], k[1], k[2], entry.value)

    # ---- helpers --------------------------------------------------------------------------------

    def _tick(self) -> None:
        self.ltime += 1

    def _witness(self, ltime: int) -> None:
        self.ltime = max(self.ltime, ltime)

    def _members(self, nid: str) -> list[str]:
        return [n for n in sorted(self.nodes) if n != self.name and nid in self.nodes[n].networks
                and not self.nodes[n].networks[nid][1] and self._reachable(n)]

    def _others(self) -> list[str]:
        return [m.name for m in self.memberlist.alive_members()]
