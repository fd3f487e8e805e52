"""Build a simulation's datapath out of real Linux network namespaces, and tear it down.

Everything is derived from the simulation's own datapath state (``sim.world``), never from
Docker knowledge: every ``Namespace`` becomes a netns, every ``Veth`` pair a veth pair with
the same names and MACs, every ``Bridge`` a Linux bridge with the same ports, the underlay
``Switch`` a Linux bridge in an extra namespace whose ports are the outer ends of veths whose
inner ends are the hosts' ``eth0``.  Addresses, non-connected routes, ``ip_forward``,
``bridge-nf-call-iptables`` and the iptables rulesets (``ns.nf.save()`` through
``iptables-restore``) follow.  The kernel adds connected routes itself, so comparing
``ip route`` with the simulation's table checks the simulator's notion of them.

Safety: every netns carries this run's unique prefix; devices are created directly inside
those namespaces (``ip -n NS link add ...``, veth peers with ``netns OTHER``), so the root
namespace's interfaces, addresses, routes and rules are never touched, and no frame can
leave the namespaces created here.  ``Realized.teardown`` (also run by the context manager
on any failure) deletes every namespace this run created, which destroys their devices.

Responder identity: real ``ping`` cannot tell which namespace answered, so every namespace
gets its own ``net.ipv4.ip_default_ttl`` (255, 247, 239, ...: steps of ``TTL_STEP``); the
TTL of an echo reply names the namespace that sent it as long as the reply crossed fewer
than ``TTL_STEP`` routers.  TTLs this high never expire, so reachability is unchanged.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Optional

from netsim.datapath.addr import ip_str, mac_str
from netsim.datapath.bridge import Bridge
from netsim.datapath.device import Dummy, Loopback, Nic, Veth
from netsim.datapath.ipvlan import Ipvlan
from netsim.datapath.macvlan import Macvlan
from netsim.datapath.vlan import Vlan
from netsim.datapath.netns import NUD_PERMANENT, Namespace
from netsim.datapath.vxlan import Vxlan
from netsim.simulation import Simulation

TTL_STEP = 8
TTL_MAX = 255
TTL_MIN = 16  # a TTL this high cannot expire in any bundled topology
DEFAULT_TTL = 64  # what a namespace without a TTL of its own sends with

# Kernel knobs the simulator's datapath assumes, set explicitly in every namespace (all and
# default, before devices exist) so that the host's sysctl.d choices cannot leak in through
# devconf inheritance from init_net.
_SIM_ASSUMED_SYSCTLS = {
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv4.conf.all.arp_ignore": "0",
    "net.ipv4.conf.default.arp_ignore": "0",
    "net.ipv4.conf.all.arp_announce": "0",
    "net.ipv4.conf.default.arp_announce": "0",
    "net.ipv4.conf.all.arp_filter": "0",
    "net.ipv4.conf.default.arp_filter": "0",
    "net.ipv4.conf.all.accept_local": "0",
    "net.ipv4.conf.default.accept_local": "0",
    "net.ipv4.conf.all.route_localnet": "0",
    "net.ipv4.conf.default.route_localnet": "0",
    "net.ipv4.icmp_echo_ignore_all": "0",
    "net.ipv4.icmp_echo_ignore_broadcasts": "1",
    # The simulator has no IPv6: keep the namespaces quiet (no DAD, RS or MLD frames).
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
}

_counter = itertools.count()


class KernelUnavailable(Exception):
    """This machine cannot build real namespaces (not root, tools missing, netns refused)."""


def run(args: list[str], input: Optional[str] = None, check: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr.strip()}\n"
                           + (f"--- input ---\n{input}" if input else ""))
    return proc


def check_kernel() -> None:
    """Raise ``KernelUnavailable`` with the reason if real namespaces cannot be built here."""
    if os.geteuid() != 0:
        raise KernelUnavailable("kernel cross-check needs root")
    for tool in ("ip", "iptables-restore", "iptables-save", "ping", "sysctl"):
        if shutil.which(tool) is None:
            raise KernelUnavailable(f"{tool} not found (apt-get install -y iproute2 iptables iputils-ping procps)")
    probe = f"{new_prefix()}-probe"
    proc = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if proc.returncode != 0:
        raise KernelUnavailable(f"`ip netns add` failed: {proc.stderr.strip()}")
    try:
        proc = subprocess.run(["ip", "netns", "exec", probe, "sysctl", "-n",
                               "net.bridge.bridge-nf-call-iptables"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise KernelUnavailable("net.bridge.bridge-nf-call-iptables is missing in new namespaces "
                                    "(br_netfilter not loaded)")
        proc = subprocess.run(["ip", "netns", "exec", probe, "iptables-restore", "--test"],
                              input="*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", capture_output=True, text=True)
        if proc.returncode != 0:
            raise KernelUnavailable(f"iptables-restore does not work in a namespace: {proc.stderr.strip()}")
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def new_prefix() -> str:
    """A netns name prefix unique to this process and build (``nsx<pid%1000>x<n>``)."""
    existing = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
    while True:
        prefix = f"nsx{os.getpid() % 1000}x{next(_counter)}"
        if not any(name.startswith(prefix + "-") for name in existing):
            return prefix


@dataclass
class PingResult:
    ok: bool
    ttl: Optional[int]
    rc: int
    output: str

    def summary(self) -> str:
        if self.ok:
            return f"reply ttl={self.ttl}"
        lines = [l for l in self.output.splitlines() if l.strip() and not l.startswith(("PING", "---"))
                 and "packets transmitted" not in l]
        return f"no reply (rc={self.rc}{': ' + lines[0].strip() if lines else ''})"


@dataclass
class Realized:
    """The real namespaces standing for one simulation."""

    sim: Simulation
    prefix: str
    netns: dict[str, str] = field(default_factory=dict)  # namespace label -> real netns
    labels: dict[tuple[str, str], str] = field(default_factory=dict)  # namespace key -> label
    underlay: Optional[str] = None  # the extra namespace holding the underlay bridge
    ttl: dict[str, int] = field(default_factory=dict)  # sim namespace name -> ip_default_ttl
    restore: dict[str, tuple[bool, str]] = field(default_factory=dict)  # sim ns -> (accepted, stderr)
    #: sim ns -> rules left out because this kernel lacks their module (``-m ipvs`` without IPVS)
    unloadable: dict[str, list[str]] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)  # every netns created, for teardown
    cut: set[tuple[str, str]] = field(default_factory=set)  # (netns, eth0) whose cable is pulled

    # ---- building ------------------------------------------------------------------------

    def build(self) -> None:
        world = self.sim.world
        # Endpoints first: when there are more namespaces than TTLs, the ones a table row can
        # be answered by keep theirs, and sandboxes (overlay, ingress-sbox) come after.
        endpoints = {v.ns.key for v in self.sim.endpoints()}
        namespaces = sorted(world.namespaces.values(), key=lambda ns: ns.key not in endpoints)
        names = Counter(ns.name for ns in namespaces)
        ttls = (t for t in range(TTL_MAX, TTL_MIN - 1, -TTL_STEP) if abs(t - DEFAULT_TTL) >= TTL_STEP)
        for ns in namespaces:
            # Endpoints' namespaces have names of their own; an overlay's (1-<id>) repeats per host.
            label = ns.name if names[ns.name] == 1 else f"{ns.host}.{ns.name}"
            self.labels[ns.key] = label
            self.netns[label] = f"{self.prefix}-n-{label}"
            ttl = next(ttls, None)  # none left: the namespace keeps 64, which names nobody
            if ttl is not None:
                self.ttl[label] = ttl
        switches = world.switches
        if len(switches) > 1:
            raise NotImplementedError("more than one underlay switch")
        if switches and switches[0].ports:
            self.underlay = f"{self.prefix}-u"

        all_netns = list(self.netns.values()) + ([self.underlay] if self.underlay else [])
        for name in all_netns:
            run(["ip", "netns", "add", name])
            self.created.append(name)

        self._parallel(lambda ns: self._sysctls(self.netns[self.label(ns)], {
            **_SIM_ASSUMED_SYSCTLS,
            "net.ipv4.ip_default_ttl": str(self.ttl.get(self.label(ns), DEFAULT_TTL)),
        }), namespaces)
        if self.underlay:
            self._sysctls(self.underlay, {**_SIM_ASSUMED_SYSCTLS,
                                          "net.bridge.bridge-nf-call-iptables": "0"})

        # Phase 1: devices each namespace creates (bridges; veth pairs, peer put in its netns).
        create: dict[str, list[str]] = defaultdict(list)
        children: dict[str, list[str]] = defaultdict(list)  # links on a lower device, once it exists
        moves: dict[str, list[str]] = defaultdict(list)
        renames: dict[str, list[str]] = defaultdict(list)
        enslave: dict[str, list[str]] = defaultdict(list)
        done: set[int] = set()
        for ns in namespaces:
            for dev in ns.devices.values():
                if isinstance(dev, Loopback):
                    continue
                if isinstance(dev, Bridge):
                    create[self.label(ns)].append(f"link add {dev.name} address {mac_str(dev.mac)} mtu {dev.mtu} "
                                                  f"type bridge stp_state 0 forward_delay 0")
                elif isinstance(dev, Veth):
                    if id(dev) in done:
                        continue
                    peer = dev.peer
                    if peer is None or peer.ns is None:
                        raise NotImplementedError(f"{ns.name}:{dev.name}: veth without a peer")
                    done.update((id(dev), id(peer)))
                    where = "" if peer.ns is ns else f" netns {self.netns[self.label(peer.ns)]}"
                    create[self.label(ns)].append(
                        f"link add {dev.name} address {mac_str(dev.mac)} mtu {dev.mtu} type veth "
                        f"peer name {peer.name} address {mac_str(peer.mac)} mtu {peer.mtu}{where}")
                elif isinstance(dev, Nic):
                    if dev.faults:
                        raise KernelUnavailable(f"{ns.name}:{dev.name} has NIC faults {list(dev.faults)}, "
                                                "which a veth cannot have")
                    # the NIC itself: below, with the underlay
                elif isinstance(dev, Ipvlan):
                    raise KernelUnavailable("this machine's kernel has no ipvlan: "
                                            f"{ns.name}:{dev.name} cannot be realized")
                elif isinstance(dev, Vlan):
                    raise KernelUnavailable("this machine's kernel has no 802.1Q vlan devices (8021q): "
                                            f"{ns.name}:{dev.name} cannot be realized")
                elif isinstance(dev, Dummy):
                    create[self.label(ns)].append(f"link add {dev.name} address {mac_str(dev.mac)} type dummy")
                elif isinstance(dev, Macvlan):
                    # Made on its lower in the lower's namespace, then moved and renamed, as Docker does.
                    lower_ns = dev.lower.ns
                    assert lower_ns is not None
                    under = self.label(lower_ns)
                    temp = dev.name if lower_ns is ns else f"mvtmp{len(children[under])}"  # unique where it is made
                    address = "" if dev.mode == "passthru" else f" address {mac_str(dev.mac)}"
                    children[under].append(f"link add {temp} link {dev.lower.name}{address} type macvlan "
                                           f"mode {dev.mode}")
                    if lower_ns is not ns:
                        moves[under].append(f"link set {temp} netns {self.netns[self.label(ns)]}")
                        renames[self.label(ns)].append(f"link set {temp} name {dev.name}")
                elif isinstance(dev, Vxlan):
                    # Made in the namespace of its socket, then moved, as Docker's overlay driver does.
                    under = self.label(dev.underlay)
                    create[under].append(
                        f"link add {dev.name} address {mac_str(dev.mac)} mtu {dev.mtu} type vxlan id {dev.vni} "
                        f"dstport {dev.port} local {ip_str(dev.local)} {'' if dev.learning else 'no'}learning "
                        f"{'' if dev.proxy else 'no'}proxy l2miss l3miss noudpcsum")
                    moves[under].append(f"link set {dev.name} netns {self.netns[self.label(ns)]}")
                else:
                    raise NotImplementedError(f"{ns.name}:{dev.name}: device kind {dev.kind} not realized")
        if self.underlay:
            sw = switches[0]
            mtu = min(nic.mtu for nic in sw.nics)
            create[""].append(f"link add sw0 mtu {mtu} type bridge stp_state 0 forward_delay 0 ageing_time 30000")
            for port, nic in enumerate(sw.nics):
                assert nic.ns is not None
                # A smaller path MTU on the cable: the switch port drops longer frames, both ways.
                # is_skb_forwardable admits MTU + 14 + VLAN_HLEN (4) bytes, so the port gets 4 less:
                # then the largest untagged IP packet that crosses it is the link's mtu.
                port_mtu = nic.link.mtu - 4 if nic.link is not None and nic.link.mtu is not None else nic.mtu
                create[self.label(nic.ns)].append(
                    f"link add {nic.name} address {mac_str(nic.mac)} mtu {nic.mtu} type veth "
                    f"peer name p{port} mtu {port_mtu} netns {self.underlay}")
            # A Linux bridge floods the port attached last first, the sim's switch port 0 first:
            # attach in reverse so that ties (two hosts answering one ARP) break the same way.
            for port in reversed(range(len(sw.ports))):
                enslave[""].append(f"link set p{port} master sw0")
                enslave[""].append(f"link set p{port} up")
                if sw.ports[port].reflects:  # reflective relay, for vepa children
                    enslave[""].append(f"link set p{port} type bridge_slave hairpin on")
            enslave[""].append("link set sw0 up")
        # Creation order matters only in that peers land in namespaces that already exist.
        self._batch_all(create)
        self._batch_all(children)
        self._batch_all(moves)
        self._batch_all(renames)
        if self.underlay:
            eb = ["ip", "netns", "exec", self.underlay, "ebtables"]
            for port, sw_port in enumerate(switches[0].ports):
                mac = mac_str(sw_port.allowed_mac or 0)
                if switches[0].mac_filtering:  # a cloud's anti-spoofing: only the NIC's own MAC comes in
                    run(eb + ["-A", "FORWARD", "-i", f"p{port}", "-s", "!", mac, "-j", "DROP"])
                if not sw_port.promiscuous:  # a vSwitch port rejecting promiscuous mode: unicast for its MAC only
                    run(eb + ["-N", f"uc{port}"])
                    run(eb + ["-A", f"uc{port}", "-d", mac, "-j", "RETURN"])
                    run(eb + ["-A", f"uc{port}", "-j", "DROP"])
                    run(eb + ["-A", "FORWARD", "-o", f"p{port}", "-d", "Unicast", "-j", f"uc{port}"])

        # Phase 2: bridge ports, MTUs, addresses, links up (routes need an up device).
        config: dict[str, list[str]] = defaultdict(list, enslave)
        for ns in namespaces:
            lines = config[self.label(ns)]
            for dev in ns.devices.values():
                if dev.master is not None:
                    lines.append(f"link set {dev.name} master {dev.master.name}")
            for dev in ns.devices.values():
                if isinstance(dev, Bridge):
                    lines.append(f"link set {dev.name} mtu {dev.mtu}")
            for a in ns.addresses:
                if isinstance(a.dev, Loopback) and a.addr >> 24 == 127 and a.plen == 8:
                    continue  # the kernel's own lo address
                lines.append(f"address add {ip_str(a.addr)}/{a.plen} dev {a.dev.name}")
            for dev in ns.devices.values():
                lines.append(f"link set {dev.name} up")
        self._batch_all(config)

        # Phase 3: routes the kernel does not add itself; devices the simulation has down.
        routes: dict[str, list[str]] = defaultdict(list)
        fdb: dict[str, list[str]] = defaultdict(list)
        for ns in namespaces:
            # What a control plane wrote: permanent neighbours, static FDB entries (B42).
            for (dev_name, addr), entry in ns.neigh.items():
                if entry.state == NUD_PERMANENT:
                    routes[self.label(ns)].append(f"neigh replace {ip_str(addr)} lladdr {mac_str(entry.mac)} "
                                                  f"dev {dev_name} nud permanent")
            for dev in ns.devices.values():
                if isinstance(dev, Vxlan):
                    fdb[self.label(ns)].extend(f"fdb add {mac_str(m)} dev {dev.name} dst {ip_str(dev.fdb[m])} self "
                                               "permanent" for m in sorted(dev.static))
                elif isinstance(dev, Bridge):
                    fdb[self.label(ns)].extend(f"fdb add {mac_str(m)} dev {dev.fdb[m].name} master static"
                                               for m in sorted(dev.static))
            for r in ns.routes:
                if r.gateway is None and r.src is not None:
                    continue  # connected: the kernel's, compared separately
                dst = "default" if r.plen == 0 else f"{ip_str(r.network)}/{r.plen}"
                line = f"route add {dst}"
                if r.gateway is not None:
                    line += f" via {ip_str(r.gateway)}"
                line += f" dev {r.dev.name}"
                if r.src is not None:
                    line += f" src {ip_str(r.src)}"
                if r.metric:
                    line += f" metric {r.metric}"
                routes[self.label(ns)].append(line)
            for dev in ns.devices.values():
                if not dev.up and not isinstance(dev, Nic):
                    routes[self.label(ns)].append(f"link set {dev.name} down")
        self._batch_all(routes)
        for label, cmds in fdb.items():
            if cmds:
                run(["bridge", "-n", self.netns[label], "-batch", "-"], input="\n".join(cmds) + "\n")
        # The sim's link_down is a lost carrier: eth0 stays up with its routes, the cable is
        # cut at the switch port (an admin-down eth0 would make the kernel drop its routes).
        self.set_carrier([nic for nic in switches[0].nics if nic.link is not None and not nic.link.up] if self.underlay else [], False)

        # Phase 4: forwarding, br_netfilter, iptables.
        self._parallel(lambda ns: self._sysctls(self.netns[self.label(ns)], {
            "net.ipv4.ip_forward": "1" if ns.ip_forward else "0",
            "net.bridge.bridge-nf-call-iptables": "1" if ns.br_nf_call_iptables else "0",
        }), namespaces)
        self._parallel(self._iptables, namespaces)
        self.wait_carrier()

    def label(self, ns: Namespace) -> str:
        """The name this build knows a namespace by: its own, or HOST.NAME when several hosts have one."""
        return self.labels[ns.key]

    def _sysctls(self, netns: str, values: dict[str, str]) -> None:
        run(["ip", "netns", "exec", netns, "sysctl", "-q", "-w"] + [f"{k}={v}" for k, v in values.items()])

    def _real(self, sim_ns: str) -> str:
        return self.underlay if sim_ns == "" else self.netns[sim_ns]  # type: ignore[return-value]

    def _batch_all(self, lines: dict[str, list[str]]) -> None:
        for sim_ns, cmds in lines.items():
            if cmds:
                run(["ip", "-n", self._real(sim_ns), "-batch", "-"], input="\n".join(cmds) + "\n")

    def _parallel(self, fn, items: Iterable[Namespace]) -> None:  # type: ignore[no-untyped-def]
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(fn, items))

    def _iptables(self, ns: Namespace) -> None:
        """Load ``ns.nf.save()``; a namespace without rules has no hooks, so only --test it."""
        text = ns.nf.save()
        args = ["ip", "netns", "exec", self.netns[self.label(ns)], "iptables-restore"]
        if "-m ipvs" in text and not ipvs_match_available():
            kept = [line for line in text.splitlines() if "-m ipvs" not in line]
            self.unloadable[self.label(ns)] = [line for line in text.splitlines() if "-m ipvs" in line]
            text = "\n".join(kept) + "\n"
        if ns.nf.empty:
            args.append("--test")
        proc = run(args, input=text, check=False)
        self.restore[self.label(ns)] = (proc.returncode == 0, proc.stderr.strip())

    def set_carrier(self, nics: list[Nic], up: bool) -> None:
        """Plug (``up``) or pull the cable of these host NICs at their underlay switch port."""
        if not nics:
            return
        assert self.underlay is not None
        ports = self.sim.world.switches[0].nics
        run(["ip", "-n", self.underlay, "-batch", "-"],
            input="".join(f"link set p{ports.index(nic)} {'up' if up else 'down'}\n" for nic in nics))
        keys = {self._key(nic) for nic in nics}
        self.cut = self.cut - keys if up else self.cut | keys

    def _key(self, nic: Nic) -> tuple[str, str]:
        assert nic.ns is not None
        return self.netns[self.label(nic.ns)], nic.name

    def wait_carrier(self, timeout: float = 5.0) -> None:
        """Wait until every veth that should have carrier has it (both ends up, cable not cut)."""
        deadline = time.monotonic() + timeout
        pending = {name: True for name in self.created}
        while pending and time.monotonic() < deadline:
            for netns in list(pending):
                out = run(["ip", "-n", netns, "-j", "link", "show", "type", "veth"]).stdout
                links = json.loads(out or "[]")
                if all("NO-CARRIER" not in l.get("flags", []) or "UP" not in l.get("flags", [])
                       or (netns, l.get("ifname")) in self.cut for l in links):
                    del pending[netns]
            if pending:
                time.sleep(0.05)

    # ---- reading the kernel back ---------------------------------------------------------

    def kernel_routes(self, sim_ns: str) -> set[tuple[str, Optional[str], str, Optional[str], int]]:
        out = run(["ip", "-n", self.netns[sim_ns], "-4", "-j", "route", "show", "table", "main"]).stdout
        routes = set()
        for r in json.loads(out or "[]"):
            dst = r["dst"]
            if dst != "default" and "/" not in dst:
                dst += "/32"
            routes.add((dst, r.get("gateway"), r["dev"], r.get("prefsrc"), int(r.get("metric", 0))))
        return routes

    def iptables_save(self, sim_ns: str) -> str:
        return run(["ip", "netns", "exec", self.netns[sim_ns], "iptables-save"]).stdout

    def df_ping(self, sim_ns: str, addr: str, size: int, wait: float = 1.0) -> bool:
        """``ping -M do -s SIZE``: does an echo of that payload, with DF set, come back?"""
        proc = run(["ip", "netns", "exec", self.netns[sim_ns], "ping", "-c", "1", "-W", f"{wait:g}", "-n",
                    "-M", "do", "-s", str(size), addr], check=False, timeout=wait + 20)
        return proc.returncode == 0

    def ping_many(self, pairs: Iterable[tuple[str, str]], workers: int = 128,
                  wait: float = 1.0) -> dict[tuple[str, str], PingResult]:
        """One ``ping -c 1 -W wait -n ADDR`` per (sim namespace, address), many at a time."""
        pairs = list(dict.fromkeys(pairs))

        def one(pair: tuple[str, str]) -> PingResult:
            ns, addr = pair
            proc = run(["ip", "netns", "exec", self.netns[ns], "ping", "-c", "1", "-W", f"{wait:g}", "-n", addr],
                       check=False, timeout=wait + 20)
            m = re.search(r"bytes from [0-9.]+: icmp_seq=\d+ ttl=(\d+)", proc.stdout)
            ok = proc.returncode == 0 and m is not None
            return PingResult(ok, int(m.group(1)) if m else None, proc.returncode,
                              (proc.stdout + proc.stderr).strip())

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return dict(zip(pairs, pool.map(one, pairs)))

    def responder_of(self, ttl: Optional[int]) -> Optional[str]:
        """The sim namespace whose ip_default_ttl a reply with this TTL left with (None: unknown)."""
        if ttl is None:
            return None
        for name, start in self.ttl.items():
            if 0 <= start - ttl < TTL_STEP:
                return name
        return None

    # ---- teardown --------------------------------------------------------------------------

    def teardown(self) -> list[str]:
        """Delete every namespace this build created; return those that would not go."""
        failed = []
        for name in reversed(self.created):
            proc = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True)
            if proc.returncode != 0 and name in listed_netns():
                failed.append(f"{name}: {proc.stderr.strip()}")
        self.created.clear()
        return failed


def listed_netns() -> list[str]:
    try:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    except FileNotFoundError:  # no iproute2: nothing can have been created
        return []
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def sim_routes(ns: Namespace) -> set[tuple[str, Optional[str], str, Optional[str], int]]:
    """The simulation's route table in the shape ``Realized.kernel_routes`` returns."""
    out = set()
    for r in ns.routes:
        dst = "default" if r.plen == 0 else f"{ip_str(r.network)}/{r.plen}"
        gw = ip_str(r.gateway) if r.gateway is not None else None
        out.add((dst, gw, r.dev.name, ip_str(r.src) if r.src is not None else None, r.metric))
    return out


@functools.lru_cache(maxsize=1)
def ipvs_match_available() -> bool:
    """Whether iptables here can load ``-m ipvs`` (xt_ipvs, which needs IPVS in the kernel)."""
    probe = f"nsipvs{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return False
    try:
        rules = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -m ipvs --ipvs -j ACCEPT\nCOMMIT\n"
        proc = subprocess.run(["ip", "netns", "exec", probe, "iptables-restore"], input=rules,
                              capture_output=True, text=True)
        return proc.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)


_SET_MARK = re.compile(r"--set-mark (\d+)\b")


def parse_save(text: str) -> dict[tuple[str, str], list[str]]:
    """iptables-save text -> {(table, chain): [rule text, ...]}, chains with their policy as a rule."""
    out: dict[tuple[str, str], list[str]] = {}
    table = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            name, policy = line[1:].split()[:2]
            out[(table, name)] = [f"policy {policy}"]
        elif line.startswith("-A "):
            chain = line.split()[1]
            # iptables-save prints MARK --set-mark N as --set-xmark 0xN/0xffffffff
            line = _SET_MARK.sub(lambda m: f"--set-xmark {int(m.group(1)):#x}/0xffffffff", line)
            out.setdefault((table, chain), []).append(" ".join(line.split()))
    return out


def realize(sim: Simulation) -> "_Context":
    """``with realize(sim) as real:`` builds the namespaces and always tears them down."""
    return _Context(sim)


class _Context:
    def __init__(self, sim: Simulation) -> None:
        self.real = Realized(sim, new_prefix())

    def __enter__(self) -> Realized:
        try:
            self.real.build()
        except BaseException:
            self.real.teardown()
            raise
        return self.real

    def __exit__(self, *exc: object) -> None:
        left = self.real.teardown()
        if left and exc[0] is None:
            raise RuntimeError("namespaces left behind: " + "; ".join(left))


__all__ = ["Realized", "realize", "check_kernel", "KernelUnavailable", "PingResult", "sim_routes",
           "parse_save", "listed_netns"]
