"""Seeded random topologies (format v1) for fuzzing the simulator against the kernel.

``random_topology(seed)`` returns the dict a topology file would load into; everything it
draws comes from ``random.Random(seed)``, so a seed is a complete reproduction recipe.  The
topologies stay inside what the loader and the engines accept (Docker would refuse the
rest): bridge networks only, subnets that never overlap another network of the same host
(but may repeat on another host, or coincide with what another host's IPAM picks), static
addresses that automatic allocation cannot reach, host ports unique per host, links and
``container:`` modes pointing at earlier containers of the same host, and a timeline whose
connects and disconnects are replayed against the attachments they change.

Sizes are small (1-3 Docker hosts of 1-6 containers, 0-2 plain machines) so that one
topology realized in real namespaces and pinged row by row takes seconds.

Some topologies form a swarm of their Docker hosts and add attachable overlays (internal, or
with an mtu option, at times) that containers of those hosts join; those draws come from a
stream of their own (``random.Random(f"{seed}:swarm")``), so the bridge-only part of every
seed is the same with or without them.  Likewise, from ``random.Random(f"{seed}:macvlan")``,
some add a macvlan network on eth0 of one or more hosts (any mode; on the LAN's subnet or one
of its own), containers on it with addresses no other machine has, at times a host-side shim
link, a switch port that does or does not reflect, or an underlay that filters MACs.
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Optional

from netsim.engine.config import DaemonConfig
from netsim.engine.ipam import pick_subnet

DAEMON = DaemonConfig()

ENGINES = ("27", "28", "29")
MTUS = (1280, 1400, 1450, 9000)
# Explicit subnets: a few, so that two hosts often pick the same one; the 172.x ones are
# what Docker's pools hand out (172.17/16 is docker0 on every host, so it is never asked for).
SUBNETS = tuple(IPv4Network(s) for s in (
    "10.1.0.0/24", "10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/16", "10.1.0.128/25",
    "172.18.0.0/16", "172.19.0.0/16", "172.20.5.0/24", "192.168.16.0/20",
))
RANDOM_PORT_FLOOR = 49153  # `ports: ["443"]` takes host ports from here up (B23)

_FLAGS = {"icc": "com.docker.network.bridge.enable_icc",
          "masquerade": "com.docker.network.bridge.enable_ip_masquerade"}


class _Net:
    """What the generator remembers of one bridge network while it builds the rest."""

    def __init__(self, name: str, host: str, subnet: IPv4Network, explicit: bool,
                 ip_range: Optional[IPv4Network], gateway: IPv4Address) -> None:
        self.name, self.host, self.subnet, self.explicit = name, host, subnet, explicit
        self.ip_range, self.gateway = ip_range, gateway
        self.static_used: set[IPv4Address] = set()

    def static_address(self, rng: random.Random) -> Optional[IPv4Address]:
        """A fresh address that automatic allocation (lowest first, in ip_range) never reaches.

        The top half of the ip_range, or the top half of the subnet (avoiding the bottom
        half of the ip_range, if any).  None when the network has no explicit subnet (Docker
        refuses --ip there) or nothing is left.
        """
        if not self.explicit:
            return None
        net = self.subnet
        if self.ip_range is not None and rng.random() < 0.6:
            r = self.ip_range
            low, high = int(r.network_address) + r.num_addresses // 2, int(r.broadcast_address)
        else:
            low, high = int(net.network_address) + net.num_addresses // 2, int(net.broadcast_address) - 1
        for _ in range(50):
            cand = IPv4Address(rng.randint(low, high))
            if cand in self.static_used or cand == self.gateway or cand == net.broadcast_address:
                continue
            r = self.ip_range
            if r is not None and cand in r and int(cand) < int(r.network_address) + r.num_addresses // 2:
                continue  # the bottom of the range is where automatic allocation goes
            self.static_used.add(cand)
            return cand
        return None


class _Generator:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.swarm_rng = random.Random(f"{seed}:swarm")
        self.macvlan_rng = random.Random(f"{seed}:macvlan")
        self.overlays: list[str] = []
        self.nets: dict[str, _Net] = {}
        self.host_nets: dict[str, list[str]] = {}
        self.containers: dict[str, dict[str, Any]] = {}
        self.ctr_host: dict[str, str] = {}
        self.attached: dict[str, list[str]] = {}  # container -> networks, for connect/disconnect
        self.host_ports: dict[str, set[int]] = {}

    def topology(self) -> dict[str, Any]:
        rng = self.rng
        topo: dict[str, Any] = {"name": f"fuzz-{self.seed}", "seed": self.seed,
                                "engine": rng.choice(ENGINES)}
        underlay = IPv4Network(f"192.168.{rng.randint(100, 250)}.0/24")
        topo["underlay"] = {"subnet": str(underlay)}
        gateway = None
        if rng.random() < 0.5:
            gateway = underlay.network_address + rng.choice((1, 254))
            topo["underlay"]["gateway"] = str(gateway)
        self.underlay = underlay

        docker = [f"h{i + 1}" for i in range(rng.randint(1, 3))]
        plain = [f"m{i + 1}" for i in range(rng.choice((0, 0, 1, 1, 2)))]
        order = docker + plain
        rng.shuffle(order)
        hosts: dict[str, Any] = {}
        taken = {gateway} | {underlay.network_address + 11 + i for i in range(len(order))}
        for name in order:
            body: dict[str, Any] = {} if name in docker else {"docker": False}
            if rng.random() < 0.3:
                addr = underlay.network_address + rng.randint(100, 199)
                while addr in taken:
                    addr += 1
                taken.add(addr)
                body["address"] = str(addr)
            hosts[name] = body
        topo["hosts"] = hosts
        self.machine_addresses = {gateway} | {
            IPv4Address(body["address"]) if "address" in body else underlay.network_address + 11 + i
            for i, body in enumerate(hosts.values())}
        self.docker_hosts = [h for h in order if h in docker]
        self.all_hosts = order
        srng = self.swarm_rng
        overlays: dict[str, Any] = {}
        if len(self.docker_hosts) >= 2 and srng.random() < 0.4:
            for i, host in enumerate(self.docker_hosts):  # the first Docker host runs swarm init
                hosts[host]["swarm"] = "manager" if i == 0 or srng.random() < 0.3 else "worker"
            for i in range(srng.randint(1, 2)):
                body: dict[str, Any] = {"driver": "overlay", "attachable": True}
                if srng.random() < 0.2:
                    body["internal"] = True
                if srng.random() < 0.2:
                    body["mtu"] = srng.choice((1400, 9000))
                if srng.random() < 0.3:
                    body["subnet"] = f"10.0.{60 + i}.0/24"
                overlays[f"ov{i}"] = body
            self.overlays = list(overlays)

        networks: dict[str, Any] = {}
        for host in self.docker_hosts:
            self.host_nets[host] = []
            self.host_ports[host] = set()
            in_use = [pick_subnet(DAEMON.default_address_pools, [], [underlay], "")]  # docker0
            for i in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
                name = f"{host}net{i}"
                networks[name] = self.network(name, host, in_use)
        # Each host's networks stay in the order its IPAM was predicted in; hosts interleave.
        queues: dict[str, list[str]] = {}
        for name, body in networks.items():
            queues.setdefault(body["host"], []).append(name)
        merged: list[str] = []
        while any(queues.values()):
            merged.append(queues[rng.choice([h for h, q in queues.items() if q])].pop(0))
        if merged or overlays:
            topo["networks"] = {**{name: networks[name] for name in merged}, **overlays}
        for host in self.docker_hosts:
            if self.overlays:
                self.host_nets[host].extend(self.overlays)  # containers of swarm hosts may join them

        containers: dict[str, Any] = {}
        for host in self.docker_hosts:
            for i in range(rng.choice((1, 2, 2, 3, 3, 4, 5, 6))):
                name = f"{host}c{i}"
                containers[name] = self.container(name, host)
        topo["containers"] = containers
        self.macvlan(topo)

        events = self.events()
        if events:
            topo["events"] = events
        return topo

    # -- macvlan ----------------------------------------------------------------------------

    def macvlan(self, topo: dict[str, Any]) -> None:
        """A macvlan network on some Docker hosts' eth0, with containers of its own, from its own stream."""
        mrng = self.macvlan_rng
        if not self.docker_hosts or mrng.random() >= 0.4:
            return
        swarm = {h for h in self.docker_hosts if "swarm" in topo["hosts"][h]}
        hosts = sorted(mrng.sample(self.docker_hosts, mrng.randint(1, len(self.docker_hosts))))
        mode = mrng.choice(("bridge", "bridge", "private", "vepa", "passthru"))
        if mode == "passthru" and swarm & set(hosts):
            mode = "bridge"  # passthru would take the NIC a swarm node gossips through
        on_lan = mrng.random() < 0.7
        explicit = [IPv4Network(b.get("subnet") or b.get("ipam", {"config": [{}]})["config"][0].get("subnet"))
                    for b in topo.get("networks", {}).values() if b.get("host") in hosts
                    and (b.get("subnet") or b.get("ipam", {"config": [{}]})["config"][0].get("subnet"))]
        if any(n.overlaps(self.underlay) for n in explicit):
            on_lan = False  # one engine, one address space: its bridge already has part of the LAN
        subnet = self.underlay if on_lan else IPv4Network("10.99.0.0/24")
        body: dict[str, Any] = {"driver": "macvlan", "hosts": hosts, "parent": "eth0", "subnet": str(subnet)}
        if mode != "bridge" or mrng.random() < 0.3:
            body["mode"] = mode
        if mrng.random() < 0.5:
            body["gateway"] = str(self.underlay.network_address + 1 if on_lan else subnet.network_address + 1)
        topo.setdefault("networks", {})["mv0"] = body
        taken = set(self.machine_addresses) | {IPv4Address(body["gateway"])} if "gateway" in body \
            else set(self.machine_addresses)
        for host in hosts:
            for i in range(1 if mode == "passthru" else mrng.randint(1, 3)):
                addr = subnet.network_address + mrng.randint(200, 250)
                while addr in taken:
                    addr = subnet.network_address + 200 + (int(addr) - int(subnet.network_address) - 199) % 51
                taken.add(addr)
                topo["containers"][f"{host}v{i}"] = {"host": host, "networks": {"mv0": {"ipv4_address": str(addr)}}}
            if mode != "passthru" and on_lan and mrng.random() < 0.3:
                shim = subnet.network_address + 199
                while shim in taken:
                    shim -= 1
                taken.add(shim)
                topo["hosts"][host]["interfaces"] = {"mv-shim": {"address": f"{shim}/32",
                                                                 "routes": [str(subnet.network_address + 192) + "/26"]}}
            if mrng.random() < 0.25:
                topo["hosts"][host]["link"] = {"hairpin": mrng.random() < 0.5}
        if mrng.random() < 0.15:
            topo["underlay"]["mac_filtering"] = True

    # -- networks ---------------------------------------------------------------------------

    def network(self, name: str, host: str, in_use: list[IPv4Network]) -> dict[str, Any]:
        rng = self.rng
        body: dict[str, Any] = {"host": host}
        if rng.random() < 0.2:
            body = {"driver": "bridge", **body}
        opts: dict[str, str] = {}
        for flag, value in (("icc", False), ("internal", True), ("masquerade", False)):
            if rng.random() < 0.25:
                if flag in _FLAGS and rng.random() < 0.4:
                    opts[_FLAGS[flag]] = rng.choice(("false", "0", "False"))
                else:
                    body[flag] = value
        if rng.random() < 0.2:
            mtu = rng.choice(MTUS)
            if rng.random() < 0.5:
                opts["com.docker.network.driver.mtu"] = str(mtu)
            else:
                body["mtu"] = mtu
        if opts:
            body["driver_opts"] = opts

        explicit = rng.random() < 0.55
        ip_range = None
        subnet: Optional[IPv4Network] = None
        if explicit:
            candidates = SUBNETS
            if rng.random() < 0.12:
                # B33: a subnet overlapping the LAN itself (Docker only checks this for its own picks).
                u = self.underlay
                candidates = (u, *u.subnets(new_prefix=25), rng.choice(list(u.subnets(new_prefix=26))),
                              IPv4Network("192.168.0.0/16"))
            choices = [s for s in candidates if not any(s.overlaps(u) for u in in_use)]
            if choices:
                subnet = rng.choice(choices)
        if subnet is None:
            explicit = False
            subnet = pick_subnet(DAEMON.default_address_pools, in_use, [self.underlay], "")
        gateway = subnet.network_address + 1
        if explicit:
            pool: dict[str, str] = {"subnet": str(subnet)}
            if subnet.prefixlen <= 25 and rng.random() < 0.35:
                size = rng.choice((26, 27)) if subnet.prefixlen < 26 else 27
                ip_range = rng.choice([r for r in subnet.subnets(new_prefix=size)][1:])
                pool["ip_range"] = str(ip_range)
            # Never an address some underlay machine already has: one address, one owner per host.
            moved = gateway in self.machine_addresses
            if moved or rng.random() < 0.3:
                gateway = subnet.broadcast_address - rng.choice((1, 2))
                while gateway in self.machine_addresses:
                    gateway -= 1
                pool["gateway"] = str(gateway)
            if rng.random() < 0.3:
                body["ipam"] = {"config": [pool]}
            else:
                body.update(pool)
        in_use.append(subnet)
        self.nets[name] = _Net(name, host, subnet, explicit, ip_range, gateway)
        self.host_nets[host].append(name)
        return body

    # -- containers -------------------------------------------------------------------------

    def container(self, name: str, host: str) -> dict[str, Any]:
        rng = self.rng
        body: dict[str, Any] = {"host": host}
        earlier = [c for c in self.containers if self.ctr_host[c] == host]
        self.ctr_host[name] = host
        roll = rng.random()
        if roll < 0.07:
            body["network_mode"] = "host"
        elif roll < 0.12:
            body["network_mode"] = "none"
        elif roll < 0.2 and earlier:
            body["network_mode"] = f"container:{rng.choice(earlier)}"
        else:
            nets = [n for n in self.host_nets[host] if rng.random() < 0.5]
            on_bridge = not nets or rng.random() < 0.15
            listed = (["bridge"] if on_bridge and (nets or rng.random() < 0.3) else []) + nets
            rng.shuffle(listed)
            if listed == ["bridge"] and rng.random() < 0.5:
                body["network_mode"] = "bridge"
            elif listed:
                if rng.random() < 0.5:
                    body["networks"] = listed
                else:
                    body["networks"] = {n: self.attach_settings(n) or None for n in listed}
            self.attached[name] = list(listed) or ["bridge"]
            links = self.links(name, host, earlier)
            if links:
                body["links"] = links
        ports = self.ports(host, body.get("network_mode"))
        if ports:
            body["ports"] = ports
        self.containers[name] = body
        return body

    def attach_settings(self, net: str) -> dict[str, Any]:
        rng = self.rng
        if net == "bridge":
            return {}
        if net in self.overlays:
            # Aliases only: a static address on an overlay would have to dodge the managers' serial IPAM.
            return {"aliases": ["api"]} if self.swarm_rng.random() < 0.3 else {}
        out: dict[str, Any] = {}
        if rng.random() < 0.4:
            out["aliases"] = rng.sample(("api", "db", "cache", "web", "svc.internal", "x-1"), rng.randint(1, 2))
        if rng.random() < 0.35:
            addr = self.nets[net].static_address(rng)
            if addr is not None:
                out["ipv4_address"] = str(addr)
        return out

    def links(self, name: str, host: str, earlier: list[str]) -> list[str]:
        rng = self.rng
        if rng.random() >= 0.25:
            return []
        mine = self.attached[name]
        if "bridge" in mine:
            # On docker0 a link needs the target on docker0 too.
            targets = [c for c in earlier if "bridge" in self.attached.get(c, [])]
        else:
            targets = [c for c in earlier if set(self.attached.get(c, [])) & set(mine)]
        if not targets:
            return []
        out = []
        for target in rng.sample(targets, min(len(targets), rng.randint(1, 2))):
            out.append(target if rng.random() < 0.4 else f"{target}:{rng.choice(('olddb', 'legacy', 'peer'))}-{target}")
        return out

    def ports(self, host: str, mode: Optional[str]) -> list[Any]:
        rng = self.rng
        if mode == "none" or (mode or "").startswith("container:") or rng.random() >= 0.3:
            return []
        used = self.host_ports[host]
        out: list[Any] = []
        for _ in range(rng.randint(1, 2)):
            port = rng.randint(8000, 9999)
            if port in used:
                continue
            used.add(port)
            if mode == "host":
                out.append(f"{port}:{port}")  # host mode: the app listens on the container port
                continue
            kind = rng.random()
            if kind < 0.45:
                out.append(f"{port}:{rng.choice((80, 443, 5432, port))}")
            elif kind < 0.7:
                out.append(f"127.0.0.1:{port}:{rng.choice((90, 8080))}")
            elif kind < 0.85:
                out.append(rng.choice(("443", "80/tcp", 53)))  # a random host port >= 49153
            else:
                out.append(f"{port}:{rng.choice((53, 5353))}/udp")
        return out

    # -- timeline ---------------------------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        rng = self.rng
        if rng.random() >= 0.5:
            return []
        events: list[dict[str, Any]] = []
        down: set[str] = set()
        at = 0.0
        movable = sorted(self.attached)  # own namespace, default or user networks
        for _ in range(rng.randint(1, 6)):
            at += rng.choice((0.0, 0.5, 1.0, 1.0, 2.0)) if events else 1.0
            stamp = f"{at:g}s" if rng.random() < 0.8 else f"{int(at * 1000)}ms"
            roll = rng.random()
            if roll < (0.55 if down else 0.25):
                host = rng.choice(sorted(down)) if down and rng.random() < 0.75 else rng.choice(self.all_hosts)
                kind = "link_up" if host in down else "link_down"
                (down.discard if host in down else down.add)(host)
                events.append({"at": stamp, kind: host if rng.random() < 0.5 else {"host": host}})
                continue
            if not movable:
                continue
            ctr = rng.choice(movable)
            host = self.ctr_host[ctr]
            current = self.attached[ctr]
            free = [n for n in ["bridge", *self.host_nets[host]] if n not in current]
            if current and (not free or rng.random() < 0.45):
                net = rng.choice(current)
                current.remove(net)
                events.append({"at": stamp, "disconnect": {"container": ctr, "network": net}})
            elif free:
                net = rng.choice(free)
                args: dict[str, Any] = {"container": ctr, "network": net}
                if net != "bridge":
                    args.update(self.attach_settings(net))
                current.append(net)
                events.append({"at": stamp, "connect": args})
        return events


def random_topology(seed: int) -> dict[str, Any]:
    """A valid topology (format v1) drawn from ``random.Random(seed)`` alone."""
    return _Generator(seed).topology()


__all__ = ["random_topology"]
