"""The version of the forwarding state: what the flow cache (``datapath.flowcache``) checks.

Every change to what decides a packet's fate (devices and their flags, addresses, routes,
neighbours, rules, conntrack entries, bridge, VXLAN and switch tables, links, sockets, frozen
machines, costs) moves ``STATE.version`` on; a cached path is replayed only while the version is
the one it was recorded at.  So the cache needs no list of what each path depended on, and a
change it did not foresee cannot leave it stale: it is invalidated by any change anywhere.

What moves it: attribute writes on the ``Versioned`` objects of the datapath, and item writes on
their ``WatchedDict``, ``WatchedSet`` and ``WatchedList`` tables.  What does not: the per-packet refresh of a
timestamp (a switch's or a VXLAN device's learned entry seen again), which extends an entry's
life and changes no decision; the cache replays those refreshes itself.  The version is one
counter for the process, so one simulation's change also invalidates another's cache: only
ever too often, never too rarely.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

__all__ = ["STATE", "Versioned", "WatchedDict", "WatchedList", "WatchedSet"]


class _State:
    __slots__ = ("version", "recording")

    def __init__(self) -> None:
        self.version = 0
        self.recording = 0  # packets whose path the flow cache is recording now

    def changed(self) -> None:
        self.version += 1


STATE = _State()


class WatchedDict(dict):  # type: ignore[type-arg]
    """A dict whose every write moves the state's version."""

    def __setitem__(self, key: Any, value: Any) -> None:
        STATE.version += 1
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        STATE.version += 1
        dict.__delitem__(self, key)

    def pop(self, *args: Any) -> Any:
        STATE.version += 1
        return dict.pop(self, *args)

    def popitem(self) -> Any:
        STATE.version += 1
        return dict.popitem(self)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        STATE.version += 1
        return dict.setdefault(self, key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        STATE.version += 1
        dict.update(self, *args, **kwargs)

    def clear(self) -> None:
        STATE.version += 1
        dict.clear(self)


class WatchedSet(set):  # type: ignore[type-arg]
    """A set whose every write moves the state's version."""

    def add(self, item: Any) -> None:
        STATE.version += 1
        set.add(self, item)

    def discard(self, item: Any) -> None:
        STATE.version += 1
        set.discard(self, item)

    def remove(self, item: Any) -> None:
        STATE.version += 1
        set.remove(self, item)

    def pop(self) -> Any:
        STATE.version += 1
        return set.pop(self)

    def clear(self) -> None:
        STATE.version += 1
        set.clear(self)

    def update(self, *others: Iterable[Any]) -> None:
        STATE.version += 1
        set.update(self, *others)

    def difference_update(self, *others: Iterable[Any]) -> None:
        STATE.version += 1
        set.difference_update(self, *others)

    def __ior__(self, other: Any) -> "WatchedSet":  # type: ignore[misc]
        STATE.version += 1
        set.__ior__(self, other)
        return self

    def __isub__(self, other: Any) -> "WatchedSet":  # type: ignore[misc]
        STATE.version += 1
        set.__isub__(self, other)
        return self


class WatchedList(list):  # type: ignore[type-arg]
    """A list whose every write moves the state's version."""

    def append(self, item: Any) -> None:
        STATE.version += 1
        list.append(self, item)

    def extend(self, items: Iterable[Any]) -> None:
        STATE.version += 1
        list.extend(self, items)

    def insert(self, index: Any, item: Any) -> None:
        STATE.version += 1
        list.insert(self, index, item)

    def remove(self, item: Any) -> None:
        STATE.version += 1
        list.remove(self, item)

    def pop(self, *args: Any) -> Any:
        STATE.version += 1
        return list.pop(self, *args)

    def clear(self) -> None:
        STATE.version += 1
        list.clear(self)

    def __setitem__(self, index: Any, value: Any) -> None:
        STATE.version += 1
        list.__setitem__(self, index, value)

    def __delitem__(self, index: Any) -> None:
        STATE.version += 1
        list.__delitem__(self, index)

    def __iadd__(self, other: Any) -> "WatchedList":  # type: ignore[misc]
        STATE.version += 1
        list.__iadd__(self, other)
        return self

    def sort(self, *args: Any, **kwargs: Any) -> None:
        STATE.version += 1
        list.sort(self, *args, **kwargs)


class Versioned:
    """A datapath object whose attribute writes move the state's version; the attributes named
    in ``WATCHED`` hold tables, kept as ``WatchedDict``/``WatchedSet`` whatever is assigned."""

    __slots__ = ()
    WATCHED: ClassVar[frozenset[str]] = frozenset()
    QUIET: ClassVar[frozenset[str]] = frozenset()  # attributes that decide nothing (counters for headers)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.QUIET:
            object.__setattr__(self, name, value)
            return
        STATE.version += 1
        if name in self.WATCHED:
            kind = type(value)
            if kind is dict:
                value = WatchedDict(value)
            elif kind is set:
                value = WatchedSet(value)
            elif kind is list:
                value = WatchedList(value)
        object.__setattr__(self, name, value)
