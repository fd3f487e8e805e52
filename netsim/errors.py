"""Errors a user can act on.

``TopologyError`` is bad input: it names the file, the key path inside it, what is wrong and
how to fix it; the CLI prints it on one line and exits with code 2.  ``DockerError`` is what the
Docker daemon itself would refuse (a port already allocated, pool exhaustion, ...); the builder
re-raises it as a ``TopologyError`` carrying the key path of the item it was building.
"""

from __future__ import annotations

from typing import Optional

__all__ = ["NetsimError", "TopologyError", "DockerError"]


class NetsimError(Exception):
    """Base of every error netsim raises on purpose."""


class TopologyError(NetsimError):
    def __init__(self, file: str, key_path: str, message: str, fix: Optional[str] = None) -> None:
        self.file = file
        self.key_path = key_path
        self.message = message
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}: {self.key_path}" if self.key_path else self.file
        text = f"{where}: {self.message}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class DockerError(NetsimError):
    """An error with the meaning (and, where known, the text) the Docker daemon gives."""

    def __init__(self, message: str, fix: Optional[str] = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message)
