"""Measure what a packet costs in the real kernel's devices, for ``netsim.datapath.costs``.

    sudo python benchmarks/kernel_costs.py            # root: it creates network namespaces
    sudo python benchmarks/kernel_costs.py --runs 7 --count 200000

Each setup is a pair of network namespaces (prefix ``nscost``, removed afterwards; nothing in
the root namespace is touched) and a flood ping between them (``ping -f -c COUNT``): in flood
mode ping sends the next echo when the reply is back, so the run's total time over COUNT is
one round trip, ping's own user-space work included.  The smallest of ``--runs`` runs is kept
(the machine's noise only ever adds).  Setups:

  direct      a -veth- b                               2 veth + E   (E: both ends' stacks)
  bridge      a -veth- [bridge in c] -veth- b          4 veth + 2 bridge + E
  routed      a -veth- [router c] -veth- b             4 veth + 2 forward + E
  rules       routed, 1000 non-matching FORWARD rules  + 2000 rules walked
  conntrack   routed, a conntrack rule in FORWARD      + 2 conntrack
  nat         conntrack, and MASQUERADE out of c       + 2 NAT
  vxlan       direct, ping over VXLAN on the veth      + 2 (encap + decap)
  macvlan     a and b macvlan (bridge mode) on one parent in c  2 macvlan + E
  loopback    ping 127.0.0.1 in a                       2 loopback + E

Prints one JSON object per setup (bench, setup, rtt_us) and one with the costs derived from
them (the veth share is an assumption: ping cannot tell a veth hop from the stack above it).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from typing import Callable

P = "nscost"
VETH = 0.25e-6  # the assumed share of one veth entry (see the module)


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def ns(name: str, *args: str) -> None:
    sh("ip", "netns", "exec", P + name, *args)


def veth(a: str, b: str, a_addr: str, b_addr: str, tag: str) -> None:
    sh("ip", "link", "add", f"{P}{tag}a", "netns", P + a, "type", "veth", "peer", "name", f"{P}{tag}b",
       "netns", P + b)
    for node, dev, addr in ((a, f"{P}{tag}a", a_addr), (b, f"{P}{tag}b", b_addr)):
        if addr:
            ns(node, "ip", "addr", "add", addr, "dev", dev)
        ns(node, "ip", "link", "set", dev, "up")


def rtt(dst: str, count: int, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        out = subprocess.run(["ip", "netns", "exec", P + "a", "ping", "-f", "-q", "-c", str(count), dst],
                             capture_output=True, text=True, check=True).stdout
        match = re.search(r"time (\d+)ms", out)
        if match is None:
            raise SystemExit(f"ping printed no total time: {out!r}")
        best = min(best, int(match.group(1)) / 1e3 / count)
    return best


def cleanup() -> None:
    for node in "abc":
        subprocess.run(["ip", "netns", "del", P + node], capture_output=True)


def fresh() -> None:
    cleanup()
    for node in "abc":
        sh("ip", "netns", "add", P + node)
        ns(node, "ip", "link", "set", "lo", "up")


def direct() -> str:
    veth("a", "b", "10.77.0.1/24", "10.77.0.2/24", "d")
    return "10.77.0.2"


def bridge() -> str:
    veth("a", "c", "10.77.1.1/24", "", "x")
    veth("b", "c", "10.77.1.2/24", "", "y")
    ns("c", "ip", "link", "add", "br0", "type", "bridge")
    ns("c", "ip", "link", "set", "br0", "up")
    for dev in (f"{P}xb", f"{P}yb"):
        ns("c", "ip", "link", "set", dev, "master", "br0")
    return "10.77.1.2"


def routed() -> str:
    veth("a", "c", "10.77.2.1/24", "10.77.2.254/24", "r")
    veth("b", "c", "10.77.3.2/24", "10.77.3.254/24", "s")
    ns("a", "ip", "route", "add", "10.77.3.0/24", "via", "10.77.2.254")
    ns("b", "ip", "route", "add", "10.77.2.0/24", "via", "10.77.3.254")
    ns("c", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    return "10.77.3.2"


def rules() -> str:
    dst = routed()
    body = "".join(f"-A FORWARD -s 172.16.{i // 250}.{i % 250} -j DROP\n" for i in range(1000))
    subprocess.run(["ip", "netns", "exec", P + "c", "iptables-restore"], check=True, text=True,
                   input=f"*filter\n:FORWARD ACCEPT [0:0]\n{body}COMMIT\n")
    return dst


def conntrack() -> str:
    dst = routed()
    ns("c", "iptables", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "NEW,ESTABLISHED,RELATED", "-j", "ACCEPT")
    return dst


def nat() -> str:
    dst = conntrack()
    ns("c", "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", f"{P}sb", "-j", "MASQUERADE")
    return dst


def vxlan() -> str:
    direct()
    for node, local, remote, addr in (("a", "10.77.0.1", "10.77.0.2", "10.77.4.1/24"),
                                      ("b", "10.77.0.2", "10.77.0.1", "10.77.4.2/24")):
        ns(node, "ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "local", local, "remote", remote,
           "dstport", "4789", "dev", f"{P}d{node}")
        ns(node, "ip", "addr", "add", addr, "dev", "vx0")
        ns(node, "ip", "link", "set", "vx0", "up")
    return "10.77.4.2"


def macvlan() -> str:
    # a veth end as the parent (this kernel may lack dummy): children talk through macvlan's
    # bridge mode without the frame ever leaving the parent
    ns("c", "ip", "link", "add", "parent0", "type", "veth", "peer", "name", "parent1")
    for dev in ("parent0", "parent1"):
        ns("c", "ip", "link", "set", dev, "up")
    for node, addr in (("a", "10.77.5.1/24"), ("b", "10.77.5.2/24")):
        ns("c", "ip", "link", "add", f"mv{node}", "link", "parent0", "type", "macvlan", "mode", "bridge")
        ns("c", "ip", "link", "set", f"mv{node}", "netns", P + node)
        ns(node, "ip", "addr", "add", addr, "dev", f"mv{node}")
        ns(node, "ip", "link", "set", f"mv{node}", "up")
    return "10.77.5.2"


def loopback() -> str:
    return "127.0.0.1"


SETUPS: dict[str, Callable[[], str]] = {f.__name__: f for f in (direct, bridge, routed, rules, conntrack, nat, vxlan,
                                                                 macvlan, loopback)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--count", type=int, default=100000)
    args = parser.parse_args()
    r: dict[str, float] = {}
    try:
        for name, setup in SETUPS.items():
            fresh()
            r[name] = rtt(setup(), args.count, args.runs)
            print(json.dumps({"bench": "kernel_costs", "setup": name, "rtt_us": round(r[name] * 1e6, 3)}), flush=True)
    finally:
        cleanup()
    stack = (r["direct"] - 2 * VETH) / 2  # per delivery: the echo in b's kernel, the reply to a's ping
    derived = {
        "veth": VETH,
        "stack": stack,
        "bridge": (r["bridge"] - r["direct"] - 2 * VETH) / 2,
        "forward": (r["routed"] - r["direct"] - 2 * VETH) / 2,
        "netfilter_rule": (r["rules"] - r["routed"]) / 2000,
        "conntrack": (r["conntrack"] - r["routed"]) / 2,
        "nat": (r["nat"] - r["conntrack"]) / 2,
        "vxlan": (r["vxlan"] - r["direct"]) / 2,
        "macvlan": (r["macvlan"] - 2 * stack) / 2,
        "loopback": (r["loopback"] - 2 * stack) / 2,
    }
    print(json.dumps({"bench": "kernel_costs", "derived_us": {k: round(v * 1e6, 4) for k, v in derived.items()}}))


if __name__ == "__main__":
    main()
