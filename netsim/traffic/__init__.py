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

__all__ = ["Flow", "KINDS", "register", "required", "start_stop"]


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


def required(loader: Any, body: dict[str, Any], path: str, kind: str, keys: tuple[str, ...], example: str) -> None:
    """Each of ``keys`` is given, or one clear line naming the first missing one."""
    for key in keys:
        if key not in body:
            loader.fail(f"{path}.{key}", f"a {kind} flow needs {key}:", f"write e.g. {example}")


def start_stop(loader: Any, body: dict[str, Any], path: str, length: float) -> tuple[float, float]:
    """``start`` (0 s) and ``stop`` (``length`` after start), stop after start."""
    start = loader.duration(body.get("start", 0.0), f"{path}.start")
    stop = loader.duration(body.get("stop", start + length), f"{path}.stop")
    if stop <= start:
        loader.fail(f"{path}.stop", f"the flow stops ({stop:g}s) before it starts ({start:g}s)",
                    "give stop: a time after start:")
    return start, stop


from . import ping, tcp, udp  # noqa: E402,F401  (each registers itself)
