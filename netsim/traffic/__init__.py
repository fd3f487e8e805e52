"""Traffic in simulated time: the flows a topology declares under ``traffic:``.

A kind of flow is one module here and one registry line below: a frozen class with ``KIND``,
``KEYS`` (what its mapping in the file may hold), ``parse`` (from the file, through the
loader's checks, so a bad value is one clear line with its key path), ``end`` (when it is
over) and ``run`` (a simpy process that sends through the forwarding core and records what
came back).  The loader and the simulation never name a kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generator, Protocol

if TYPE_CHECKING:
    from ..simulation import Simulation

__all__ = ["Flow", "KINDS", "register"]


class Flow(Protocol):
    KIND: ClassVar[str]
    KEYS: ClassVar[tuple[str, ...]]
    key_path: str  # where the flow is written in the file (traffic[2].ping)

    def end(self) -> float:
        """The simulated time by which everything the flow sends has been answered or given up."""

    def run(self, sim: "Simulation", record: "list[dict[str, Any]]") -> Generator[Any, Any, None]:
        """Send as the flow says from the current time on, appending one row per packet sent."""


KINDS: dict[str, Any] = {}  # kind -> its flow class (with a ``parse`` classmethod)


def register(cls: Any) -> Any:
    KINDS[cls.KIND] = cls
    return cls


from . import ping, tcp, udp  # noqa: E402,F401  (each registers itself)
