"""The ``macvlan`` driver: containers with MACs of their own on a host NIC (B60-B64)."""

from .driver import MacvlanDriver, MacvlanOptions

__all__ = ["MacvlanDriver", "MacvlanOptions"]
