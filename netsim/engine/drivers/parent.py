"""The ``parent`` option of macvlan and ipvlan: which host interface the children hang off."""

from __future__ import annotations

import re

from .options import OptionError

__all__ = ["parse_parent", "vlan_of"]

_PARENT = re.compile(r"eth0(?:\.(\d+))?", re.ASCII)


def parse_parent(text: str) -> str:
    # Hosts have exactly one NIC, eth0; a ".N" suffix asks Docker to create that VLAN sub-interface.
    match = _PARENT.fullmatch(text)
    if not match or (match.group(1) and not 1 <= int(match.group(1)) <= 4094):
        raise OptionError(f"-o parent interface was not found on the host: {text}",
                          "use parent: eth0, or eth0.<VLAN id 1-4094> for an 802.1Q sub-interface")
    return text


def vlan_of(parent: str) -> int:
    """The 802.1Q VLAN id of a sub-interface parent (``eth0.10`` -> 10), 0 for the NIC itself."""
    return int(parent.partition(".")[2] or 0)
