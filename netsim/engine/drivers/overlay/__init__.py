"""The ``overlay`` driver: swarm-scope networks carried in VXLAN between hosts."""

from .driver import OverlayDriver, OverlayOptions

__all__ = ["OverlayDriver", "OverlayOptions"]
