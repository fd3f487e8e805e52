"""Network drivers, one module each behind the contract in ``api``; ``REGISTRY`` is the only list of them.

A driver from outside netsim joins with ``register(MyDriver)`` before the topology is loaded:
the loader validates its networks from its ``SCOPE`` and ``Options``, the engine builds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import DockerError, suggest
from .bridge import BridgeDriver
from .host import HostDriver
from .ipvlan import IpvlanDriver
from .null import NullDriver
from .macvlan import MacvlanDriver
from .overlay import OverlayDriver

if TYPE_CHECKING:
    from .api import Driver

__all__ = ["REGISTRY", "register", "lookup", "user_drivers"]

#: ``--driver`` name -> driver class, in the order the CLI and errors list them.
REGISTRY: dict[str, type["Driver"]] = {
    d.TYPE: d for d in (BridgeDriver, OverlayDriver, MacvlanDriver, IpvlanDriver, HostDriver, NullDriver)
}

# host and null back the built-in host and none networks; nobody creates another with them.
_BUILTIN_ONLY = ("host", "null")


def register(driver: type["Driver"]) -> type["Driver"]:
    """Add a driver class (usable as a decorator); a second class of the same TYPE replaces the first."""
    REGISTRY[driver.TYPE] = driver
    return driver


def user_drivers() -> list[str]:
    """The drivers a user can create networks with."""
    return [name for name in REGISTRY if name not in _BUILTIN_ONLY]


def lookup(name: str) -> type["Driver"]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise DockerError(f'plugin "{name}" not found', fix=suggest(name, user_drivers(), "drivers")) from None
