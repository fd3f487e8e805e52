"""Published ports: the binding record and the forms Docker's clients write them in.

``docker run -p`` and compose take ``[host_ip:][host_port:]container_port[/proto]``; docker-py
takes ``{"80/tcp": 8080}`` with ``None`` (a random host port), a port, ``(host_ip, port)`` or a
list of those as values.  Both end up as ``PortBinding`` records; the topology loader parses
the file's strings with the same grammar, so a port means the same in a file and in code.
Numbers are ASCII digits only, as Go's strconv reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Mapping, Optional, Sequence, Union

from ..errors import DockerError

__all__ = ["PortBinding", "PROTOCOLS", "parse_port", "port_bindings"]

PROTOCOLS = ("tcp", "udp", "sctp")
_DIGITS = re.compile(r"[0-9]{1,5}\Z", re.ASCII)
_FORM = 'write "[host_ip:][host_port:]container_port[/proto]", e.g. "8080:80" or "127.0.0.1:53:53/udp"'


@dataclass(frozen=True)
class PortBinding:
    container_port: int
    host_port: int  # 0: a random one from the ephemeral range (B23)
    proto: str = "tcp"
    host_ip: Optional[IPv4Address] = None  # None: 0.0.0.0

    def __str__(self) -> str:
        return f"{self.host_ip or '0.0.0.0'}:{self.host_port}:{self.container_port}/{self.proto}"


def _number(text: str, spec: str) -> int:
    if not _DIGITS.match(text) or not 1 <= int(text) <= 65535:
        raise DockerError(f"invalid port number {text!r} in {spec!r}", fix="use a port between 1 and 65535")
    return int(text)


def _proto(proto: str, spec: str) -> str:
    if proto not in PROTOCOLS:
        raise DockerError(f"unknown protocol {proto!r} in port {spec!r}", fix=f"use one of {', '.join(PROTOCOLS)}")
    return proto


def parse_port(spec: Union[str, int]) -> PortBinding:
    """One ``-p``/compose port: ``80``, ``"8080:80"``, ``"127.0.0.1:8080:80/udp"``, ``":80"`` (random)."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = str(spec)
    if not isinstance(spec, str):
        raise DockerError(f"expected a port like \"8080:80\", got {type(spec).__name__}", fix=_FORM)
    rest, slash, proto = spec.partition("/")
    proto = _proto(proto, spec) if slash else "tcp"
    if "-" in rest:
        raise DockerError(f"port ranges are not supported: {spec!r}", fix="list each port on its own")
    parts = rest.split(":")
    if len(parts) > 3:
        raise DockerError(f"invalid port {spec!r}", fix=_FORM)
    host_ip = None
    if len(parts) == 3:
        try:
            host_ip = IPv4Address(parts[0])
        except ValueError:
            raise DockerError(f"invalid host IP {parts[0]!r} in port {spec!r}",
                              fix="use an IPv4 address, e.g. 127.0.0.1:8080:80") from None
    host_port = _number(parts[-2], spec) if len(parts) >= 2 and parts[-2] != "" else 0
    return PortBinding(_number(parts[-1], spec), host_port, proto, host_ip)


def _from_docker_py(key: Union[str, int], value: Any) -> list[PortBinding]:
    """docker-py's ``ports={"80/tcp": 8080}``: the value is None, a port, (host_ip, port), or a list of those."""
    number, slash, proto = str(key).partition("/")
    container_port, proto = _number(number, str(key)), _proto(proto, str(key)) if slash else "tcp"
    bindings = []
    for one in value if isinstance(value, list) else [value]:
        host_ip, host_port = (one if isinstance(one, tuple) and len(one) == 2 else (None, one))
        if host_port is not None and not (isinstance(host_port, (int, str)) and not isinstance(host_port, bool)):
            raise DockerError(f"invalid host port {host_port!r} for {key!r}",
                              fix='give a port, None, (host_ip, port) or a list of those, e.g. {"80/tcp": 8080}')
        try:
            address = IPv4Address(host_ip) if host_ip not in (None, "") else None
        except ValueError:
            raise DockerError(f"invalid host IP {host_ip!r} for {key!r}", fix="use an IPv4 address") from None
        port = _number(str(host_port), str(key)) if host_port is not None else 0
        bindings.append(PortBinding(container_port, port, proto, address))
    return bindings


def port_bindings(ports: Union[Mapping[Any, Any], Sequence[Any], None]) -> list[PortBinding]:
    """The bindings of ``containers.run(ports=...)``, in any of the forms above (or PortBinding records)."""
    if ports is None:
        return []
    if isinstance(ports, Mapping):
        return [binding for key, value in ports.items() for binding in _from_docker_py(key, value)]
    if isinstance(ports, (str, bytes)):
        raise DockerError(f"ports must be a list or a mapping, got the string {ports!r}",
                          fix='write ports=["8080:80"] or ports={"80/tcp": 8080}')
    return [p if isinstance(p, PortBinding) else parse_port(p) for p in ports]
