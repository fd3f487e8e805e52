"""memberlist's TransmitLimitedQueue: what gossip has still to tell, and how many more times.

Each queued message is handed out ``retransmit_mult x ceil(log10(N + 1))`` times in all (N: the
nodes it is for, counted when handed out), one packet's worth per call: the least-sent messages
first, within those the largest, then the newest (queue.go's btree order).  memberlist asks once
per gossip target, so a message reaches that many targets in all; NetworkDB asks once per
network per round and sends the packet to three nodes.  A message with a name (the node an
``alive`` is about) replaces a queued one of the same name.
"""

from __future__ import annotations

import heapq
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

__all__ = ["TransmitLimitedQueue", "retransmit_limit", "message_size"]


def retransmit_limit(mult: int, nodes: int) -> int:
    return mult * max(1, math.ceil(math.log10(nodes + 1)))


def message_size(message: dict[str, Any]) -> int:
    """Its bytes in a compound message (one more for the separator)."""
    return len(json.dumps(message, sort_keys=True, separators=(",", ":"))) + 1


@dataclass
class _Item:
    message: dict[str, Any]
    size: int
    id: int
    name: Optional[str]
    transmits: int = 0
    dead: bool = False  # replaced by a newer item of its name, or sent enough


class TransmitLimitedQueue:
    def __init__(self, num_nodes: Callable[[], int], retransmit_mult: int) -> None:
        self.num_nodes = num_nodes
        self.retransmit_mult = retransmit_mult
        # A heap in queue.go's btree order: (transmits, -size, -id, item); a replaced named
        # item stays in the heap, marked dead, until it comes to the top.
        self._heap: list[tuple[int, int, int, _Item]] = []
        self._named: dict[str, _Item] = {}
        self._live = 0
        self._ids = 0

    def __len__(self) -> int:
        return self._live

    def queue(self, message: dict[str, Any], name: Optional[str] = None) -> None:
        if name is not None:
            old = self._named.pop(name, None)
            if old is not None and not old.dead:
                old.dead = True
                self._live -= 1
        self._ids += 1
        item = _Item(message, message_size(message), self._ids, name)
        if name is not None:
            self._named[name] = item
        self._push(item)
        self._live += 1

    def _push(self, item: _Item) -> None:
        heapq.heappush(self._heap, (item.transmits, -item.size, -item.id, item))

    def get(self, room: int) -> list[dict[str, Any]]:
        """One packet's worth to send now; each message handed out counts a transmission."""
        if not self._live:
            return []
        limit = retransmit_limit(self.retransmit_mult, self.num_nodes())
        chosen: list[_Item] = []
        skipped: list[_Item] = []
        free = room
        while self._heap and free > 0:
            item = heapq.heappop(self._heap)[3]
            if item.dead:
                continue
            if item.transmits >= limit:  # the cluster shrank under it: it has been sent enough
                self._retire(item)
                continue
            if item.size <= free or not chosen and item.size > room:  # an oversized one goes alone
                chosen.append(item)
                free -= item.size
            else:
                skipped.append(item)
        for item in skipped:
            self._push(item)
        for item in chosen:
            item.transmits += 1
            if item.transmits < limit:
                self._push(item)
            else:
                self._retire(item)
        return [i.message for i in chosen]

    def _retire(self, item: _Item) -> None:
        item.dead = True
        self._live -= 1
        if item.name is not None and self._named.get(item.name) is item:
            del self._named[item.name]

    def drain(self) -> list[dict[str, Any]]:
        """Everything queued, at once (a node leaving flushes its leave)."""
        items = sorted((entry[3] for entry in self._heap if not entry[3].dead), key=lambda i: i.id)
        self._heap, self._named, self._live = [], {}, 0
        return [i.message for i in items]
