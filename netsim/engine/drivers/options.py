"""A driver's typed options: each one a ``driver_opts`` key, an optional topology shorthand, a parser.

libnetwork hands drivers ``-o key=value`` strings (``com.docker.network.bridge.enable_icc``,
``macvlan_mode``) and each driver parses the ones it knows.  Here a driver declares them once,
as fields of a frozen ``DriverOptions`` subclass; the same declaration parses a docker-py
``options={...}`` mapping and drives the topology loader, which reads the shorthand keys
(``icc: false``, ``mode: vepa``) and the ``driver_opts`` of a file without knowing any driver.
A value the driver would refuse raises ``OptionError``, a ``DockerError`` naming the option.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping, Optional, Sequence, TypeVar

from ...errors import DockerError, quote, suggest

__all__ = ["Option", "OptionError", "DriverOptions", "option", "go_bool", "choice", "mtu", "GENERIC_PREFIX"]

#: Every driver accepts the generic ``com.docker.network.*`` namespace; Docker ignores what it does not use.
GENERIC_PREFIX = "com.docker.network."

# The spellings Go's strconv.ParseBool accepts, which is what Docker's drivers parse options with.
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_MTU_RANGE = (68, 65535)
ADVERTISE_NMSGS: tuple[int, int] = (0, 3)  # osl.AdvertiseAddrNMsgsMin/Max
ADVERTISE_MS: tuple[int, int] = (100, 2000)  # osl.AdvertiseAddrIntervalMin/Max, in milliseconds

T = TypeVar("T")
Shorthand = Literal["bool", "int", "str"]


class OptionError(DockerError):
    """A driver option the driver refuses; ``key`` is the option's ``driver_opts`` name."""

    def __init__(self, message: str, fix: Optional[str] = None, key: str = "") -> None:
        super().__init__(message, fix, f"driver_opts.{key}" if key else None)
        self.args = (message, fix, key)
        self.key = key


@dataclass(frozen=True)
class Option:
    key: str  # the driver_opts / -o name
    parse: Callable[[str], Any]  # the option's text as the driver reads it
    shorthand: Optional[str] = None  # the topology key that sets it too (icc, mode, parent)
    yaml: Shorthand = "str"  # what the shorthand's YAML value must be
    from_yaml: Optional[Callable[[Any], Any]] = None  # when the shorthand does not mean its text


def option(default: T, key: str, parse: Callable[[str], T], shorthand: Optional[str] = None,
           yaml: Shorthand = "str", from_yaml: Optional[Callable[[Any], T]] = None) -> T:
    """A field of a ``DriverOptions`` dataclass that a ``driver_opts`` key sets."""
    return field(default=default, metadata={"option": Option(key, parse, shorthand, yaml, from_yaml)})


@dataclass(frozen=True)
class DriverOptions:
    """Options every driver reads; subclasses add their own with ``option(...)`` fields."""

    mtu: Optional[int] = option(None, "com.docker.network.driver.mtu", lambda text: mtu(text), "mtu", "int")
    #: 28+: unsolicited ARPs an endpoint sends when it comes up, and the milliseconds between them
    #: (libnetwork's validatedAdvertiseAddrNMsgs/Interval); None: the engine's default
    advertise_addr_nmsgs: Optional[int] = option(None, "com.docker.network.advertise_addr_nmsgs",
                                                 lambda text: _atoi_range(text, ADVERTISE_NMSGS, "advertise_addr_nmsgs",
                                                                          "must be an integer"))
    advertise_addr_ms: Optional[int] = option(None, "com.docker.network.advertise_addr_ms",
                                              lambda text: _atoi_range(text, ADVERTISE_MS, "advertise_addr_ms",
                                                                       "must be integer milliseconds"))

    @classmethod
    def declared(cls) -> Iterator[tuple[str, Option]]:
        """(field name, option) of every option, in declaration order."""
        for f in dataclasses.fields(cls):
            if "option" in f.metadata:
                yield f.name, f.metadata["option"]

    @classmethod
    def from_opts(cls: type["O"], opts: Optional[Mapping[str, str]]) -> "O":
        """Parse docker-py's ``options=`` mapping; keys the driver does not read are ignored, as Docker does."""
        values = {}
        for name, opt in cls.declared():
            if opts and opt.key in opts:
                values[name] = parse_text(opt, opts[opt.key])
        return cls(**values)

    def to_opts(self) -> dict[str, str]:
        """The ``-o`` strings that give these options (what ``docker network inspect`` shows)."""
        out = {}
        for name, opt in self.declared():
            value = getattr(self, name)
            if value != getattr(type(self)(), name):
                out[opt.key] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


O = TypeVar("O", bound=DriverOptions)


def parse_text(opt: Option, text: str) -> Any:
    try:
        return opt.parse(text)
    except OptionError as err:
        raise OptionError(err.message, err.fix, opt.key) from None


# ---- parsers the drivers share --------------------------------------------------------------

def go_bool(text: str) -> bool:
    """strconv.ParseBool, which Docker's drivers read their boolean options with."""
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    raise OptionError(f"expected true or false, got {quote(text)}", 'write "true" or "false"')


_ATOI = re.compile(r"[+-]?[0-9]{1,18}\Z", re.ASCII)  # what Go's strconv.Atoi reads


def _atoi_range(text: str, bounds: tuple[int, int], name: str, what: str) -> int:
    key = GENERIC_PREFIX + name
    if not _ATOI.match(text):
        raise OptionError(f"value for option {key} {json.dumps(text)} {what}",  # Go's %q f"write a whole number from {bounds[0]} to "
                          f"{bounds[1]}")
    value = int(text)
    if not bounds[0] <= value <= bounds[1]:
        raise OptionError(f"{key} must be in the range {bounds[0]} to {bounds[1]}",
                          f"write a whole number from {bounds[0]} to {bounds[1]}")
    return value


def mtu(text: str) -> int:
    low, high = _MTU_RANGE
    if not (text.isascii() and text.isdigit() and len(text) <= 20):
        raise OptionError(f"expected a whole number, got {quote(text)}", 'write the MTU as digits, e.g. "1400"')
    value = int(text)
    if not low <= value <= high:
        raise OptionError(f"{value} is out of range", f"write a whole number from {low} to {high}")
    return value


class choice:
    """A parser accepting one of ``values``; ``what`` names one in messages ("macvlan mode")."""

    def __init__(self, values: Sequence[str], what: str) -> None:
        self.values = tuple(values)
        self.what = what

    def __call__(self, text: str) -> str:
        if text not in self.values:
            raise OptionError(f"unknown {self.what} {quote(text)}", suggest(text, self.values, f"{self.what}s"))
        return text
