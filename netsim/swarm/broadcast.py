"""memberlist's TransmitLimitedQueue: what gossip has still to tell, and how many more times.

Each queued message is handed out ``retransmit_mult x ceil(log10(N + 1))`` times in all (N: the
nodes it is for, counted when handed out), one packet's worth per call: the least-sent messages
first, within those the largest, then the newest (queue.go's btree order).  memberlist asks once
per gossip target, so a message reaches that many targets in all; NetworkDB asks once per
network per round and sends the packet to three nodes.  A message with a name (the node an
``alive`` is about) replaces a queued one of the same name.
"""

from __future__ import annotations

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


class TransmitLimitedQueue:
    def __init__(self, num_nodes: Callable[[], int], retransmit_mult: int) -> None:
        self.num_nodes = num_nodes
        self.retransmit_mult = retransmit_mult
        self._items: list[_Item] = []
        self._ids = 0

    def __len__(self) -> int:
        return len(self._items)

    def queue(self, message: dict[str, Any], name: Optional[str] = None) -> None:
        if name is not None:
            self._items = [i for i in self._items if i.name != name]
        self._ids += 1
        self._items.append(_Item(message, message_size(message), self._ids, name))

    def get(self, room: int) -> list[dict[str, Any]]:
        """One packet's worth to send now; each message handed out counts a transmission."""
        if not self._items:
            return []
        limit = retransmit_limit(self.retransmit_mult, self.num_nodes())
        chosen: list[_Item] = []
        free = room
        for item in sorted(self._items, key=lambda i: (i.transmits, -i.size, -i.id)):
            if item.size <= free or not chosen and item.size > room:  # an oversized one goes alone
                chosen.append(item)
                free -= item.size
                if free <= 0:
                    break
        for item in chosen:
            item.transmits += 1
        self._items = [i for i in self._items if i.transmits < limit]
        return [i.message for i in chosen]

    def drain(self) -> list[dict[str, Any]]:
        """Everything queued, at once (a node leaving flushes its leave)."""
        messages = [i.message for i in self._items]
        self._items = []
        return messages
