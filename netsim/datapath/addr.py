"""IPv4 and MAC addresses as ints (the forwarding core compares and masks them in bulk)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

BROADCAST_MAC = 0xFFFFFFFFFFFF


def ip(text: str | IPv4Address | int) -> int:
    if isinstance(text, (int, IPv4Address)):
        return int(text)
    return int(IPv4Address(text))


def ip_str(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def mac_str(value: int) -> str:
    return ":".join(f"{value >> shift & 255:02x}" for shift in range(40, -8, -8))


def mac(text: str | int) -> int:
    if isinstance(text, int):
        return text
    return int(text.replace(":", ""), 16)


def prefix_mask(plen: int) -> int:
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0


def net(text: str | IPv4Network) -> tuple[int, int]:
    """(network address, prefix length) of a CIDR."""
    n = IPv4Network(text) if not isinstance(text, IPv4Network) else text
    return int(n.network_address), n.prefixlen


def in_prefix(addr: int, network: int, plen: int) -> bool:
    return addr & prefix_mask(plen) == network


def is_multicast_mac(value: int) -> bool:
    return bool(value >> 40 & 1)
