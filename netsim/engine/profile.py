"""Engine behaviour profiles: where Docker 27, 28 and 29 differ (docker-semantics.md §5)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineProfile:
    version: str
    #: bridge/macvlan container MACs: "ip" = 02:42 + IPv4 (<=27), "random" = local-admin (>=28)
    mac_scheme: str
    #: filter layout: "isolation-chains" (<=27), "docker-forward" (28), "docker-forward-29"
    iptables_layout: str
    #: raw PREROUTING drops of direct access to container addresses (28.2+)
    raw_direct_access_drop: bool
    #: B8: the error when the local default pools are exhausted
    pool_exhausted_error: str
    #: B21: prefix of the error when a host port is held by a non-Docker socket
    port_bind_error: str
    #: NetworkDB when a node fails (B57b, section 5): "delete" its entries and re-learn them by bulk
    #: sync on rejoin (<=28), or "suspend" them and restore them at once (29, as master after PR #53142)
    failed_node_entries: str = "suspend"
    #: how the overlay driver writes a peer's neighbour and FDB entries: "replace" (NeighSet, <=28)
    #: or "exclusive" (NeighAdd, NLM_F_CREATE|NLM_F_EXCL, 29 until PR #53663), which fails when the
    #: VXLAN device learned the MAC first and leaves the peer on a learned entry that ages out (K6)
    fdb_add: str = "exclusive"
    #: B64: does IPAM reserve a gateway for a macvlan/ipvlan network created without --gateway
    #: (GetSkipGwAlloc)? "always" (27), "needed" (28: not for --internal, nor ipvlan l3/l3s) or
    #: "configured" (29: never; the container then gets no default route via one)
    gateway_alloc: str = "configured"
    #: unsolicited ARPs a container sends when an interface comes up (28+: moby's advertiseAddrs,
    #: libnetwork/osl/interface_linux.go: 3, one second apart; 27 sent none)
    advertise_addr_nmsgs: int = 3
    advertise_addr_interval: float = 1.0


PROFILES = {
    "27": EngineProfile(
        version="27",
        mac_scheme="ip",
        iptables_layout="isolation-chains",
        raw_direct_access_drop=False,
        pool_exhausted_error="all predefined address pools have been fully subnetted",
        failed_node_entries="delete",
        fdb_add="replace",
        gateway_alloc="always",
        advertise_addr_nmsgs=0,
        port_bind_error="driver failed programming external connectivity on endpoint {endpoint}: "
                        "Error starting userland proxy: listen tcp4 {addr}: bind: address already in use",
    ),
    "28": EngineProfile(
        version="28",
        mac_scheme="random",
        iptables_layout="docker-forward",
        raw_direct_access_drop=True,
        pool_exhausted_error="all predefined address pools have been fully subnetted",
        failed_node_entries="delete",
        fdb_add="replace",
        gateway_alloc="needed",
        port_bind_error="failed to bind host port for {binding}: address already in use",
    ),
    "29": EngineProfile(
        version="29",
        mac_scheme="random",
        iptables_layout="docker-forward-29",
        raw_direct_access_drop=True,
        pool_exhausted_error="all predefined address pools have been fully subnetted",
        port_bind_error="failed to bind host port {addr}/{proto}: address already in use",
    ),
}
