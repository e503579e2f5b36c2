"""The library's input errors, standard library only: the command line catches them without
loading numpy (``rlscaling --help`` stays fast)."""

from __future__ import annotations

import os
from typing import Any


class InputError(ValueError):
    """Raised for input that cannot be fitted; the message says what to change."""


class LoadError(InputError):
    """A file could not be read as a run; ``path`` names it and the message says what is wrong.

    A subclass of :class:`~rlscaling.InputError` (and so of ``ValueError``): code catching
    either keeps working.
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:  # survives pickling (e.g. a process pool)
        return (type(self), (self.path, self.reason))
