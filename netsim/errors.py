"""Errors a user can act on.

``TopologyError`` is bad input: it names the file, the key path inside it, what is wrong and
how to fix it; the CLI prints it on one line and exits with code 2.  ``DockerError`` is what the
Docker daemon itself would refuse (a port already allocated, pool exhaustion, ...); the builder
re-raises it as a ``TopologyError`` carrying the key path of the item it was building.

Every error keeps its constructor's arguments as ``args``, so it survives what re-raises or
ships exceptions: simpy rebuilds a process's exception as ``type(err)(*err.args)``, and
pickling (forked workers, Dask) does the same.  Its text never spans lines: control characters
from the file (a name with a newline, an escape sequence) are shown escaped, so a topology
cannot forge a second ``error:`` line or repaint the terminal.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Iterable, Optional

__all__ = ["NetsimError", "TopologyError", "DockerError", "UnderlayError", "one_line", "quote", "suggest"]

# Echoed values are cut to this many characters: a message quotes the culprit, never a whole file.
_QUOTE_LIMIT = 60
_LISTED_CHOICES = 12
_SUGGEST_LIMIT = 100  # difflib is quadratic in the word; nothing longer is a typo of a short name

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators a terminal may break on.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every control character shown as its Python escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def quote(text: str) -> str:
    """``repr(text)``, cut short with its length when long."""
    if len(text) <= _QUOTE_LIMIT:
        return repr(text)
    return f"{text[:_QUOTE_LIMIT - 20]!r}... ({len(text)} characters)"


def suggest(word: Any, choices: Iterable[str], what: str = "valid keys here") -> str:
    """A "did you mean" for a text *word*; any other value only gets the list of choices."""
    options = list(choices)
    if isinstance(word, str) and len(word) <= _SUGGEST_LIMIT:
        close = difflib.get_close_matches(word, options, n=1)
        if close:
            return f"did you mean '{close[0]}'?"
    listed = ", ".join(options[:_LISTED_CHOICES])
    if len(options) > _LISTED_CHOICES:
        listed += f", ... ({len(options)} in all)"
    return f"use one of the {what}: {listed}"


class NetsimError(Exception):
    """Base of every error netsim raises on purpose."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class TopologyError(NetsimError):
    def __init__(self, file: str, key_path: str, message: str, fix: Optional[str] = None) -> None:
        super().__init__(file, key_path, message, fix)
        self.file = file
        self.key_path = key_path
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        where = f"{self.file}: {self.key_path}" if self.key_path else self.file
        text = f"{where}: {self.message}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return one_line(text)


class DockerError(NetsimError):
    """An error with the meaning (and, where known, the text) the Docker daemon gives.

    ``setting`` names the topology key to blame when it is not the item being built;
    ``field`` names a key inside the item (``driver``), for the builder to append to its path.
    """

    setting: Optional[str] = None

    def __init__(self, message: str, fix: Optional[str] = None, field: Optional[str] = None) -> None:
        super().__init__(message, fix, field)
        self.message = message
        self.fix = fix
        self.field = field

    def __str__(self) -> str:
        return one_line(self.message + (f" (fix: {self.fix})" if self.fix else ""))


class UnderlayError(DockerError):
    """A Docker error whose cause is the underlay the host is plugged into, not the host."""

    setting = "underlay.subnet"
