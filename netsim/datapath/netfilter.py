"""Netfilter tables, chains and rules, written and shown in iptables syntax.

The control plane appends rules as the text dockerd passes to iptables
(``-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp --dport 80 -j ACCEPT``), so a
trace can quote the exact rule that decided.  Only the matches Docker uses are understood:
``-s -d -i -o -p --sport --dport``, ``-m conntrack --ctstate``, ``-m addrtype --dst-type/--src-type LOCAL``,
``-m ipvs --ipvs`` (the packet was translated by IPVS), and the targets ``ACCEPT DROP RETURN``, a
jump, ``DNAT SNAT MASQUERADE REDIRECT`` and ``MARK --set-mark`` (mangle; it goes on to the next
rule, as a non-terminating target does); anything else is a programming error and raises at
append time, never a silent no-match.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from .addr import ip, net, prefix_mask
from .state import STATE

BUILTIN_CHAINS = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
}

PROTOS = {"tcp": 6, "udp": 17, "icmp": 1, "esp": 50, "sctp": 132}


@dataclass(frozen=True)
class Target:
    kind: str  # ACCEPT DROP RETURN JUMP DNAT SNAT MASQUERADE REDIRECT MARK
    chain: str = ""  # JUMP
    to_addr: Optional[int] = None  # DNAT/SNAT
    to_port: Optional[int] = None  # DNAT, REDIRECT
    mark: Optional[int] = None  # MARK --set-mark


@dataclass(frozen=True)
class Rule:
    text: str  # the iptables-save line, "-A CHAIN ..."
    chain: str
    target: Target
    src: Optional[tuple[int, int, bool]] = None  # (network, mask, negated)
    dst: Optional[tuple[int, int, bool]] = None
    iif: Optional[tuple[str, bool]] = None
    oif: Optional[tuple[str, bool]] = None
    proto: Optional[int] = None
    sport: Optional[int] = None
    dport: Optional[int] = None
    ctstate: Optional[frozenset[str]] = None
    dst_local: Optional[bool] = None  # -m addrtype --dst-type LOCAL (negatable)
    src_local: Optional[bool] = None  # -m addrtype --src-type LOCAL (negatable)
    ipvs: Optional[bool] = None  # -m ipvs --ipvs (negatable)
    label: str = ""  # the disposition a DROP here stands for (ISOLATED, ICC_DISABLED, ...)


_TERMINAL = frozenset({"ACCEPT", "DROP", "DNAT", "SNAT", "MASQUERADE", "REDIRECT"})
_INDEX_RUN = 4  # shorter runs are cheaper to scan than to index


class _DstIndex:
    """Consecutive rules that each match one destination address (``-d X/32``) and end the walk.

    Only rules for the packet's destination can match, so a dict lookup replaces the scan,
    and the candidates keep their chain order: the first one that matches still decides.
    Docker writes such runs per container (raw direct-access drops, per-port ACCEPTs).
    """

    __slots__ = ("by_dst", "size")

    def __init__(self, rules: list[Rule]) -> None:
        #: destination -> (position in the run, rule): the kernel still walks the run up to the
        #: rule that matches (datapath.costs prices each rule walked)
        self.by_dst: dict[int, list[tuple[int, Rule]]] = {}
        self.size = len(rules)
        for n, rule in enumerate(rules):
            assert rule.dst is not None
            self.by_dst.setdefault(rule.dst[0], []).append((n, rule))


def _indexable(rule: Rule) -> bool:
    return rule.dst is not None and rule.dst[1] == 0xFFFFFFFF and not rule.dst[2] \
        and rule.target.kind in _TERMINAL


@dataclass
class Chain:
    name: str
    policy: Optional[str] = None  # builtin chains only
    rules: list[Rule] = field(default_factory=list)
    _plan: Optional[list[Union[Rule, _DstIndex]]] = field(default=None, repr=False)

    def changed(self) -> None:
        self._plan = None
        STATE.changed()

    @property
    def plan(self) -> list[Union[Rule, _DstIndex]]:
        """The rules as evaluated: runs of single-destination rules folded into an index."""
        if self._plan is None:
            plan: list[Union[Rule, _DstIndex]] = []
            run: list[Rule] = []

            def close_run() -> None:
                plan.extend([_DstIndex(run)] if len(run) >= _INDEX_RUN else run)
                run.clear()

            for rule in self.rules:
                if _indexable(rule):
                    run.append(rule)
                else:
                    close_run()
                    plan.append(rule)
            close_run()
            self._plan = plan
        return self._plan


class Packet:
    """What a rule looks at: the IPv4 header fields plus hook context."""

    __slots__ = ("src", "dst", "proto", "sport", "dport", "iif", "oif", "ctstate", "is_local", "ipvs")

    def __init__(self, src: int, dst: int, proto: int, sport: Optional[int], dport: Optional[int], iif: str,
                 oif: str, ctstate: str, is_local: Callable[[int], bool], ipvs: bool = False) -> None:
        self.src, self.dst, self.proto, self.sport, self.dport = src, dst, proto, sport, dport
        self.iif, self.oif, self.ctstate, self.is_local, self.ipvs = iif, oif, ctstate, is_local, ipvs


def _matches(rule: Rule, p: Packet) -> bool:
    if rule.src is not None:
        network, mask, neg = rule.src
        if (p.src & mask == network) == neg:
            return False
    if rule.dst is not None:
        network, mask, neg = rule.dst
        if (p.dst & mask == network) == neg:
            return False
    if rule.iif is not None and (p.iif == rule.iif[0]) == rule.iif[1]:
        return False
    if rule.oif is not None and (p.oif == rule.oif[0]) == rule.oif[1]:
        return False
    if rule.proto is not None and p.proto != rule.proto:
        return False
    if rule.sport is not None and p.sport != rule.sport:
        return False
    if rule.dport is not None and p.dport != rule.dport:
        return False
    if rule.ctstate is not None and p.ctstate not in rule.ctstate:
        return False
    if rule.dst_local is not None and p.is_local(p.dst) != rule.dst_local:
        return False
    if rule.src_local is not None and p.is_local(p.src) != rule.src_local:
        return False
    if rule.ipvs is not None and p.ipvs != rule.ipvs:
        return False
    return True


_SHELL_QUOTING = re.compile(r"['\"\\]")
_SHELL_WORD = re.compile(r"[^ \t\r\n]+")  # shlex.split's whitespace


def parse_rule(text: str, label: str = "") -> Rule:
    """Parse one ``-A CHAIN ...`` line (the subset of iptables syntax Docker uses)."""
    # shlex.split is most of the cost of a parse, and the engine parses rules per container.
    # Without quotes or backslashes (Docker's rules have none) it only splits on its
    # whitespace, which a regular expression does many times faster.
    words = shlex.split(text) if _SHELL_QUOTING.search(text) else _SHELL_WORD.findall(text)
    if len(words) < 2 or words[0] != "-A":
        raise ValueError(f"rule must start with -A CHAIN: {text!r}")
    chain = words[1]
    fields: dict[str, object] = {}
    target: Optional[Target] = None
    neg = False
    i = 2
    while i < len(words):
        w = words[i]
        if w == "!":
            neg = True
            i += 1
            continue
        arg = words[i + 1] if i + 1 < len(words) else ""
        if w in ("-s", "-d"):
            network, plen = net(arg if "/" in arg else arg + "/32")
            fields["src" if w == "-s" else "dst"] = (network, prefix_mask(plen), neg)
        elif w in ("-i", "-o"):
            fields["iif" if w == "-i" else "oif"] = (arg, neg)
        elif w == "-p":
            fields["proto"] = PROTOS[arg]
        elif w in ("--sport", "--dport"):
            fields[w[2:]] = int(arg)
        elif w == "-m":
            # -m tcp/-m udp only enable --sport/--dport, which we read whatever the module
            if arg not in ("conntrack", "addrtype", "tcp", "udp", "sctp", "ipvs"):
                raise ValueError(f"unsupported match module {arg!r} in {text!r}")
        elif w == "--ctstate":
            fields["ctstate"] = frozenset(arg.split(","))
        elif w in ("--dst-type", "--src-type"):
            if arg != "LOCAL":
                raise ValueError(f"unsupported addrtype {arg!r} in {text!r}")
            fields["dst_local" if w == "--dst-type" else "src_local"] = not neg
        elif w == "--ipvs":
            fields["ipvs"] = not neg
            neg = False
            i += 1
            continue
        elif w == "-j":
            target = _parse_target(arg, words[i + 2:], text)
            break
        else:
            raise ValueError(f"unsupported iptables word {w!r} in {text!r}")
        neg = False
        i += 2
    if target is None:
        raise ValueError(f"rule without -j target: {text!r}")
    return Rule(text=text, chain=chain, target=target, label=label, **fields)  # type: ignore[arg-type]


def _parse_target(name: str, rest: list[str], text: str) -> Target:
    if name in ("ACCEPT", "DROP", "RETURN", "MASQUERADE"):
        return Target(name)
    if name == "MARK":
        if len(rest) < 2 or rest[0] != "--set-mark":
            raise ValueError(f"MARK needs --set-mark: {text!r}")
        return Target(name, mark=int(rest[1], 0))
    if name == "REDIRECT":
        if len(rest) < 2 or rest[0] not in ("--to-port", "--to-ports"):
            raise ValueError(f"REDIRECT needs --to-port: {text!r}")
        return Target(name, to_port=int(rest[1]))
    if name in ("DNAT", "SNAT"):
        if len(rest) < 2 or rest[0] not in ("--to-destination", "--to-source"):
            raise ValueError(f"{name} needs --to-destination/--to-source: {text!r}")
        host, _, port = rest[1].partition(":")
        return Target(name, to_addr=ip(host), to_port=int(port) if port else None)
    return Target("JUMP", chain=name)


class Netfilter:
    """The raw, nat and filter tables of one namespace."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Chain]] = {
            table: {name: Chain(name, policy="ACCEPT") for name in chains}
            for table, chains in BUILTIN_CHAINS.items()
        }
        self.empty = True  # most namespaces (containers) have no rules at all
        self.walked = 0  # rules the last ``evaluate`` looked at
        self.mark: Optional[int] = None  # the mark the last ``evaluate`` set (MARK), None: untouched

    def new_chain(self, table: str, name: str) -> None:
        self.tables[table].setdefault(name, Chain(name))
        STATE.changed()

    def set_policy(self, table: str, chain: str, policy: str) -> None:
        self.tables[table][chain].policy = policy
        self.empty = False
        STATE.changed()

    def append(self, table: str, text: str, label: str = "") -> Rule:
        return self._add(table, text, label, at=None)

    def insert(self, table: str, text: str, label: str = "") -> Rule:
        """``-I``: put the rule first in its chain (text still uses ``-A CHAIN`` form)."""
        return self._add(table, text, label, at=0)

    def _add(self, table: str, text: str, label: str, at: Optional[int]) -> Rule:
        rule = parse_rule(text, label)
        chain = self.tables[table].get(rule.chain)
        if chain is None:
            raise KeyError(f"no chain {rule.chain} in table {table}")
        if rule.target.kind == "JUMP" and rule.target.chain not in self.tables[table]:
            raise KeyError(f"jump to unknown chain {rule.target.chain} in table {table}")
        if at is None:
            chain.rules.append(rule)
        else:
            chain.rules.insert(at, rule)
        chain.changed()
        self.empty = False
        return rule

    def remove(self, rules: list[tuple[str, Rule]]) -> None:
        """Delete these exact rules (``iptables -D`` of what one caller added)."""
        # Only the chains that hold them are rewritten: the engine calls this each time a
        # container's gateway is chosen, mostly with nothing to delete, and rewriting every
        # chain there made building N containers cost N x (all rules).
        doomed: dict[tuple[str, str], set[int]] = {}
        for table, rule in rules:
            doomed.setdefault((table, rule.chain), set()).add(id(rule))
        for (table, name), ids in doomed.items():
            chain = self.tables[table][name]
            chain.rules = [r for r in chain.rules if id(r) not in ids]
            chain.changed()

    def delete(self, table: str, predicate: Callable[[Rule], bool]) -> None:
        for chain in self.tables[table].values():
            chain.rules = [r for r in chain.rules if not predicate(r)]
            chain.changed()

    def trivial(self, table: str, chain_name: str) -> Optional[str]:
        """The verdict of a builtin chain that has no rules (its policy), else None."""
        chain = self.tables[table][chain_name]
        return None if chain.rules else (chain.policy or "ACCEPT")

    def evaluate(self, table: str, chain_name: str, pkt: Packet) -> tuple[str, Optional[Rule]]:
        """Walk a builtin chain; return the verdict and the rule that gave it (None = policy).

        Verdicts: ACCEPT, DROP, or the NAT target kinds DNAT/SNAT/MASQUERADE/REDIRECT (the rule says how);
        a MARK on the way is left in ``mark``.
        ``walked`` is then the number of rules the kernel's linear scan looked at.
        """
        chains = self.tables[table]
        builtin = chains[chain_name]
        stack: list[tuple[list[Union[Rule, _DstIndex]], int]] = []
        plan, i = builtin.plan, 0
        walked = 0  # a local until the end: an attribute per rule cost the instant tables 10%
        self.mark = None
        while True:
            if i >= len(plan):
                if not stack:
                    self.walked = walked
                    return builtin.policy or "ACCEPT", None
                plan, i = stack.pop()
                continue
            item = plan[i]
            i += 1
            if type(item) is _DstIndex:
                for n, rule in item.by_dst.get(pkt.dst, ()):
                    if _matches(rule, pkt):
                        self.walked = walked + n + 1
                        return rule.target.kind, rule
                walked += item.size
                continue
            walked += 1
            rule = item  # type: ignore[assignment]
            if not _matches(rule, pkt):
                continue
            kind = rule.target.kind
            if kind == "JUMP":
                stack.append((plan, i))
                plan, i = chains[rule.target.chain].plan, 0
            elif kind == "MARK":
                self.mark = rule.target.mark
            elif kind == "RETURN":
                if not stack:
                    self.walked = walked
                    return builtin.policy or "ACCEPT", None
                plan, i = stack.pop()
            else:
                self.walked = walked
                return kind, rule

    def save(self) -> str:
        """The rules as ``iptables-save`` prints them (for humans and golden tests)."""
        out: list[str] = []
        for table, chains in self.tables.items():
            if table == "mangle" and not any(c.rules for c in chains.values()):
                continue  # iptables-save leaves out a table nothing loaded
            out.append(f"*{table}")
            for chain in chains.values():
                out.append(f":{chain.name} {chain.policy or '-'} [0:0]")
            for chain in chains.values():
                out.extend(rule.text for rule in chain.rules)
            out.append("COMMIT")
        return "\n".join(out) + "\n"


def describe(rule: Optional[Rule], table: str, chain: str, verdict: str) -> str:
    if rule is None:
        return f"{table}/{chain} policy {verdict}"
    return f"{table}: {rule.text}"


__all__ = ["Netfilter", "Packet", "Rule", "Target", "parse_rule", "describe"]
