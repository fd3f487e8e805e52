"""``ping`` flows: ``ping -c COUNT -i INTERVAL -s SIZE [-M do] DST`` run from a container.

Echoes leave on schedule, every ``interval`` from ``start``, whatever came back before, with one
ICMP id and seq counting from 1 (as ping(8) sends them); each waits ``timeout`` for its reply.  The destination (a container, a name the
container's resolver knows, a host, or an address) is resolved once, when the flow starts, as
ping resolves its argument once.  Every echo goes through the same forwarding core as
``netsim ping``, in the running simulation, so what it teaches the datapath (bridge and VXLAN
FDBs, neighbours, conntrack) stays learned for what comes after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generator

from . import register, required

if TYPE_CHECKING:
    from ..simulation import Simulation

__all__ = ["PingFlow"]

#: ping(8)'s largest payload over IPv4 (65535 - 20 - 8).
MAX_PAYLOAD = 65507


@register
@dataclass(frozen=True)
class PingFlow:
    KIND: ClassVar[str] = "ping"
    KEYS: ClassVar[tuple[str, ...]] = ("from", "to", "count", "interval", "size", "df", "start", "timeout")

    key_path: str
    src: str
    dst: str
    count: int = 1
    interval: float = 1.0
    size: int = 56
    df: bool = False
    start: float = 0.0
    timeout: float = 1.0

    @classmethod
    def parse(cls, loader: Any, body: dict[str, Any], path: str) -> "PingFlow":
        required(loader, body, path, "ping", ("from", "to"), "{ping: {from: web, to: api}}")
        src = loader.container_ref(body["from"], f"{path}.from")
        dst = loader.string(body["to"], f"{path}.to")
        interval = loader.duration(body.get("interval", 1.0), f"{path}.interval")
        timeout = loader.duration(body.get("timeout", 1.0), f"{path}.timeout")
        for key, value in (("interval", interval), ("timeout", timeout)):
            if value <= 0:
                loader.fail(f"{path}.{key}", f"the {key} must be positive", "write e.g. 100ms or 1s")
        return cls(path, src, dst,
                   count=loader.integer(body.get("count", 1), f"{path}.count", 1, 1_000_000),
                   interval=interval,
                   size=loader.integer(body.get("size", 56), f"{path}.size", 0, MAX_PAYLOAD),
                   df=loader.boolean(body.get("df", False), f"{path}.df"),
                   start=loader.duration(body.get("start", 0.0), f"{path}.start"),
                   timeout=timeout)

    def end(self) -> float:
        return self.start + (self.count - 1) * self.interval + self.timeout

    def run(self, sim: "Simulation", record: "list[dict[str, Any]]") -> Generator[Any, Any, None]:
        from ..analysis.trace import PingRun, aim

        env = sim.env
        yield env.timeout(max(0.0, self.start - env.now))
        target = aim(sim, self.src, self.dst)
        run = PingRun(sim.endpoint(self.src).ns)  # one ICMP id for the run, seq counting up
        for seq in range(1, self.count + 1):
            env.process(self._one(sim, target, seq, record, run))
            if seq < self.count:
                yield env.timeout(self.interval)
        yield env.timeout(self.timeout)
        run.close()

    def _one(self, sim: "Simulation", target: Any, seq: int, record: "list[dict[str, Any]]",
             run: Any) -> Generator[Any, Any, None]:
        from ..analysis.trace import echo

        result = yield from echo(sim, self.src, self.dst, target, self.timeout, self.size, self.df, run)
        record.append({"flow": self.key_path, "kind": self.KIND, "seq": seq, "sent": result.sent_at,
                       "src": self.src, "dst": self.dst, "addr": result.addr, "reachable": result.reachable,
                       "rtt_us": None if result.rtt is None else round(result.rtt * 1e6, 3),
                       "disposition": result.disposition, "detail": result.detail,
                       "responder": result.responder})
