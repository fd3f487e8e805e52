"""The ``ipvlan`` driver: containers sharing their host NIC's MAC, told apart by IP (B65, B66)."""

from .driver import IpvlanDriver, IpvlanOptions

__all__ = ["IpvlanDriver", "IpvlanOptions"]
