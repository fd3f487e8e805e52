"""Routing table with longest-prefix match (one dict per prefix length, longest first)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Optional

from .addr import ip_str, prefix_mask
from .state import STATE, Versioned

if TYPE_CHECKING:
    from .device import NetDevice


class Route(NamedTuple):
    network: int
    plen: int
    dev: "NetDevice"
    gateway: Optional[int] = None
    src: Optional[int] = None  # preferred source ("src" in `ip route`)
    metric: int = 0

    def __str__(self) -> str:
        dst = "default" if self.plen == 0 else f"{ip_str(self.network)}/{self.plen}"
        text = dst + (f" via {ip_str(self.gateway)}" if self.gateway is not None else "")
        text += f" dev {self.dev.name}"
        if self.gateway is None and self.src is not None:
            text += f" proto kernel scope link src {ip_str(self.src)}"
        if self.metric:
            text += f" metric {self.metric}"
        return text


class RouteTable(Versioned):
    def __init__(self) -> None:
        self._by_plen: dict[int, dict[int, list[Route]]] = {}
        self._plens: list[int] = []

    def add(self, route: Route) -> None:
        bucket = self._by_plen.setdefault(route.plen, {})
        routes = bucket.setdefault(route.network, [])
        routes.append(route)
        routes.sort(key=lambda r: r.metric)
        STATE.changed()
        self._plens = sorted(self._by_plen, reverse=True)

    def remove(self, predicate) -> None:  # type: ignore[no-untyped-def]
        for bucket in self._by_plen.values():
            for network in list(bucket):
                bucket[network] = [r for r in bucket[network] if not predicate(r)]
                STATE.changed()
                if not bucket[network]:
                    del bucket[network]
        self._by_plen = {p: b for p, b in self._by_plen.items() if b}
        self._plens = sorted(self._by_plen, reverse=True)

    def lookup(self, dst: int) -> Optional[Route]:
        for plen in self._plens:
            routes = self._by_plen[plen].get(dst & prefix_mask(plen))
            if routes:
                # A lost carrier does not remove routes (ignore_routes_with_linkdown=0): the
                # packet still goes to the device, and dies there.
                return routes[0]
        return None

    def __iter__(self):  # type: ignore[no-untyped-def]
        for plen in self._plens:
            for network in sorted(self._by_plen[plen]):
                yield from self._by_plen[plen][network]
