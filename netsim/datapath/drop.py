"""Why a packet died: one enum, named after the kernel's ``skb_drop_reason`` where one exists."""

from __future__ import annotations

from enum import Enum


class DropReason(Enum):
    #: route lookup failed (SKB_DROP_REASON_IP_OUTNOROUTES); the sender gets ENETUNREACH
    NO_ROUTE = "NO_ROUTE"
    #: no ARP answer for the next hop (SKB_DROP_REASON_NEIGH_FAILED)
    NEIGH_FAILED = "NEIGH_FAILED"
    #: a netfilter rule or chain policy said DROP (SKB_DROP_REASON_NETFILTER_DROP)
    NETFILTER_DROP = "NETFILTER_DROP"
    #: frame for another host's MAC seen on a shared segment (SKB_DROP_REASON_OTHERHOST)
    OTHERHOST = "OTHERHOST"
    #: not a local address and ip_forward is off (SKB_DROP_REASON_IP_INADDRERRORS)
    NOT_FORWARDING = "NOT_FORWARDING"
    #: source address is one of the receiver's own (martian; fib_validate_source)
    MARTIAN_SOURCE = "MARTIAN_SOURCE"
    #: TTL reached zero while forwarding (SKB_DROP_REASON_IP_INHDR / ICMP time exceeded)
    TTL_EXPIRED = "TTL_EXPIRED"
    #: device or link is down (SKB_DROP_REASON_DEV_READY)
    DEV_DOWN = "DEV_DOWN"
    #: nothing in the namespace answers this protocol/port
    NO_SOCKET = "NO_SOCKET"
    #: the bridge would send the frame back out the port it came in on (hairpin off)
    BRIDGE_HAIRPIN = "BRIDGE_HAIRPIN"
    #: source NAT found no unique tuple: every port of the address is taken (nf_nat_setup_info: NF_DROP)
    NAT_EXHAUSTED = "NAT_EXHAUSTED"
    #: an IPVS virtual service with no real server to take a new connection (ip_vs_leave)
    IPVS_NO_DEST = "IPVS_NO_DEST"
    #: a forwarded datagram with DF is bigger than the next link's MTU (ICMP frag needed sent back)
    FRAG_NEEDED = "FRAG_NEEDED"
    #: a locally generated datagram with DF is bigger than its link's MTU (EMSGSIZE to the socket)
    MESSAGE_TOO_LONG = "MESSAGE_TOO_LONG"
    #: a UDP datagram on the VXLAN port without a valid VXLAN header (SKB_DROP_REASON_VXLAN_INVALID_HDR)
    VXLAN_INVALID_HDR = "VXLAN_INVALID_HDR"
    #: no VXLAN device for the VNI on this socket (SKB_DROP_REASON_VXLAN_VNI_NOT_FOUND)
    VXLAN_VNI_NOT_FOUND = "VXLAN_VNI_NOT_FOUND"
    #: the VXLAN device has no FDB entry (no remote VTEP) for the frame (SKB_DROP_REASON_VXLAN_NO_REMOTE)
    VXLAN_NO_REMOTE = "VXLAN_NO_REMOTE"
    #: vxlan_snoop: a static FDB entry puts the source MAC behind another VTEP (SKB_DROP_REASON_VXLAN_ENTRY_EXISTS)
    VXLAN_ENTRY_EXISTS = "VXLAN_ENTRY_EXISTS"
    #: a frame longer than an L2 hop's MTU: dropped there, silently, as no router sees it (rx_length_errors)
    FRAME_TOO_LONG = "FRAME_TOO_LONG"
    #: no IPsec SA for what the policy says must be protected, or for the SPI that arrived (XfrmOutNoStates, XfrmInNoStates)
    XFRM_NO_STATE = "XFRM_NO_STATE"
    #: a defective NIC or virtual switch on the path (datapath.faults, incident K4)
    NIC_FAULT = "NIC_FAULT"
    #: the TCP or UDP checksum is wrong (SKB_DROP_REASON_TCP_CSUM / UDP_CSUM)
    CSUM_ERROR = "CSUM_ERROR"
    #: the link's transmit queue was full: drop-tail (SKB_DROP_REASON_QDISC_DROP)
    QDISC_DROP = "QDISC_DROP"
    #: lost on the wire, by the link's configured loss rate
    LINK_LOSS = "LINK_LOSS"
    #: the machine is frozen (node_fail): it sends and receives nothing
    NODE_FROZEN = "NODE_FROZEN"
    #: the underlay accepts only the MAC each NIC was given (a cloud network), and this one is another
    MAC_FILTERED = "MAC_FILTERED"
    #: a switch port does not carry the frame's VLAN (an access port got a tagged frame, or a trunk one not allowed)
    VLAN_FILTERED = "VLAN_FILTERED"
    #: the underlay is partitioned and the two ends are on different sides
    UNDERLAY_PARTITION = "UNDERLAY_PARTITION"
    #: anything else
    NOT_SPECIFIED = "NOT_SPECIFIED"

    @property
    def noise(self) -> bool:
        """Drops every flood produces at the hosts a frame was not for; never a verdict."""
        return self in (DropReason.OTHERHOST, DropReason.BRIDGE_HAIRPIN)
