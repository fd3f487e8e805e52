"""NetworkDB on a mock network: what peers keep of a failed node, and what they accept from it (B57).

The cases follow moby's own networkdb tests (nodefail_rejoin_test.go, PR #53142): the pre-fix
code (engines <= 28, ``suspend_failed=False``) forgets a failed node's attachments and so refuses
what it sends until a push/pull teaches them again; the fixed code keeps them, hides its entries,
and restores the freshest ones on its return.
"""

from __future__ import annotations

import random
from typing import Optional

import simpy

from netsim.swarm.memberlist import DEAD, Memberlist, MemberlistConfig
from netsim.swarm.networkdb import NetworkDB, NetworkDBConfig
from netsim.swarm.transport import MockNetwork

NET, TABLE = "net1", "endpoint_table"


class Cluster:
    def __init__(self, n: int, suspend: bool) -> None:
        self.env = simpy.Environment()
        self.net = MockNetwork(self.env)
        self.lists = [Memberlist(self.env, f"n{i}", self.net.transport(i + 1), random.Random(f"db:{i}"),
                                 MemberlistConfig()) for i in range(n)]
        self.dbs = [NetworkDB(self.env, m.name, m, random.Random(f"db:{m.name}"),
                              NetworkDBConfig(suspend_failed=suspend)) for m in self.lists]
        self.heard: list[list[tuple[str, Optional[bytes]]]] = [[] for _ in self.dbs]
        for i, db in enumerate(self.dbs):
            db.watchers.append(lambda nid, table, key, value, i=i: self.heard[i].append((key, value)))
        for m in self.lists[1:]:
            m.join({"n0": 1})
        self.run(5)
        for db in self.dbs:
            db.join_network(NET)
        self.run(5)

    def run(self, seconds: float) -> None:
        self.env.run(until=self.env.now + seconds)

    def isolate(self, i: int) -> None:
        self.net.cut |= {frozenset((i + 1, j + 1)) for j in range(len(self.dbs)) if j != i}

    def heal(self) -> None:
        self.net.cut.clear()

    def until_dead(self, observer: int, node: int, limit: float = 30) -> None:
        end = self.env.now + limit
        while self.lists[observer].members[f"n{node}"].state != DEAD:
            assert self.env.now < end, "never declared dead"
            self.run(0.1)

    def visible(self, i: int) -> dict[str, bytes]:
        return self.dbs[i].table(NET, TABLE)


def test_b57a_a_failed_node_s_entries_disappear_and_watchers_hear_deletes_in_both_versions() -> None:
    for suspend in (False, True):
        c = Cluster(3, suspend)
        c.dbs[2].create_entry(NET, TABLE, "ep2", b"v1")
        c.run(2)
        assert c.visible(0) == {"ep2": b"v1"}
        c.isolate(2)
        c.until_dead(0, 2)
        assert c.visible(0) == {}, f"suspend={suspend}: hidden or deleted, not visible"
        assert c.heard[0][-1] == ("ep2", None), "the watcher (the overlay driver, DNS) heard a delete"
        assert bool(c.dbs[0].suspended()) == suspend


def test_b57b_the_pre_fix_code_forgets_a_failed_node_s_attachments_and_refuses_its_entries() -> None:
    """handleTableEvent ignores an owner not attached to the network (moby#53141's root cause)."""
    c = Cluster(3, suspend=False)
    c.isolate(2)
    c.until_dead(0, 2)
    assert "n2" not in c.dbs[0].peers(NET)
    assert NET not in c.dbs[0].nodes["n2"].networks, "deleteNodeFromNetworks forgot the attachment"
    # n1 still reaches n2 (an asymmetric cut) and relays an entry n2 wrote: n0 refuses it.
    c.net.cut.discard(frozenset((2, 3)))
    c.dbs[0]._apply(NET, TABLE, "ep2", "n2", 99, b"late".hex(), rebroadcast=False)
    assert "ep2" not in c.visible(0) and not c.dbs[0].suspended()


def test_b57b_the_fixed_code_remembers_relayed_updates_of_a_failed_owner_and_publishes_the_freshest() -> None:
    c = Cluster(3, suspend=True)
    c.dbs[2].create_entry(NET, TABLE, "ep2", b"v1")
    c.run(2)
    c.isolate(2)
    c.until_dead(0, 2)
    fresher = c.dbs[2].entries[(NET, TABLE, "ep2")].ltime + 5
    c.dbs[0]._apply(NET, TABLE, "ep2", "n2", fresher, b"fresher".hex(), rebroadcast=False)
    assert c.visible(0) == {}, "hidden while its owner is down"
    heard = len(c.heard[0])
    c.heal()
    end = c.env.now + 20
    while c.visible(0) != {"ep2": b"fresher"}:
        assert c.env.now < end, f"not restored: {c.visible(0)}"
        c.run(0.1)
    assert c.heard[0][heard] == ("ep2", b"fresher"), "restored with the freshest value, at once"


def test_b57b_after_a_heal_both_versions_bring_the_entries_back_through_a_push_pull_and_bulk_sync() -> None:
    for suspend in (False, True):
        c = Cluster(3, suspend)
        c.dbs[2].create_entry(NET, TABLE, "ep2", b"v1")
        c.run(2)
        c.isolate(2)
        c.until_dead(0, 2)
        c.heal()
        healed = c.env.now
        while c.visible(0) != {"ep2": b"v1"}:
            assert c.env.now < healed + 10, f"suspend={suspend}: not back within 10 s of the heal"
            c.run(0.1)
        assert NET in c.dbs[0].nodes["n2"].networks


def test_transmit_limited_queue_hands_each_message_out_its_limit_least_sent_first() -> None:
    from netsim.swarm.broadcast import TransmitLimitedQueue, message_size, retransmit_limit

    nodes = 10
    q = TransmitLimitedQueue(lambda: nodes, retransmit_mult=4)
    small, big = {"k": "a", "v": "x"}, {"k": "b", "v": "y" * 50}
    q.queue(small)
    q.queue(big)
    assert q.get(message_size(big)) == [big], "largest first among the least sent; the packet is full"
    assert q.get(10_000) == [small, big], "small was sent less often, so it leads"
    sent = 3  # the two gets above
    while q:
        sent += len(q.get(10_000))
    assert sent == 2 * retransmit_limit(4, nodes) == 16, "each goes 4 x ceil(log10(11)) = 8 times in all"
    q.queue({"k": "alive", "node": "n1", "inc": 1}, name="n1")
    q.queue({"k": "suspect", "node": "n1", "inc": 1}, name="n1")
    assert len(q) == 1 and q.get(10_000) == [{"k": "suspect", "node": "n1", "inc": 1}], "news of n1 replaces older"
