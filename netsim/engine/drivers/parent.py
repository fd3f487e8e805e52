"""The ``parent`` option of macvlan and ipvlan: which host interface the children hang off.

Both drivers find or make it the same way (macvlan_network.go, ipvlan_network.go): an existing
interface is used as it is; a missing ``eth0.ID`` is created as an 802.1Q sub-interface and a
network without a parent gets a ``dummy`` link ``dm-<id>``, both Docker's to delete again.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...datapath.device import Dummy, NetDevice
from ...datapath.vlan import Vlan
from ...errors import DockerError
from .options import OptionError

if TYPE_CHECKING:
    from .api import HostContext

__all__ = ["parse_parent", "vlan_of", "parent_device", "release_parent"]

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


def parent_device(host: "HostContext", parent: str, dummy: bool) -> tuple[NetDevice, bool]:
    """The lower device for ``parent``, and whether Docker created it (CreatedSlaveLink)."""
    existing = host.ns.devices.get(parent)
    if existing is not None:
        return existing, False
    dev: NetDevice
    if dummy:
        dev = Dummy(host.world, parent, host.new_mac())
    elif vlan_of(parent):
        # createVlanLink: `ip link add link eth0 name eth0.10 type vlan id 10`
        dev = Vlan(host.world, parent, host.ns.devices["eth0"], vlan_of(parent))
    else:
        raise DockerError(f"-o parent interface was not found on the host: {parent}", field="driver_opts.parent")
    host.ns.add_device(dev)
    return dev, True


def release_parent(host: "HostContext", lower: NetDevice) -> None:
    """Delete a link Docker created for a network (only those: the host's own interfaces stay)."""
    host.ns.remove_device(lower)
    if isinstance(lower, Vlan):
        lower.close()
