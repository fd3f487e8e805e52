"""The ``bridge`` driver: one Linux bridge per network, a veth pair per endpoint, iptables rules."""

from .driver import BridgeDriver, BridgeOptions

__all__ = ["BridgeDriver", "BridgeOptions"]
