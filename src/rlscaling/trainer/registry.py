"""Name -> implementation registries for the switchable parts of the trainer.

Every switch in :class:`~rlscaling.trainer.config.TrainConfig` that selects an implementation
by name (loss, advantage estimator, task, rollout engine) is looked up in one of these.
Registering a name twice raises; an unknown name raises a ``ValueError`` listing the choices.

Examples
--------
>>> reg = Registry("greeting")
>>> @reg.register("hello")
... def hello():
...     return "hi"
>>> reg.get("hello")()
'hi'
>>> reg.names()
('hello',)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of implementations of one kind (e.g. ``"loss"``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a second registration raises."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered "
                    f"(by {self._items[name]!r}); pick another name"
                )
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The implementation registered as ``name``."""
        try:
            return self._items[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}"
            ) from None

    def check(self, name: str) -> str:
        """Return ``name`` if registered, else raise the same error as :meth:`get`."""
        self.get(name)
        return name

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._items))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={list(self.names())})"
