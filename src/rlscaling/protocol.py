"""The result protocol: what every result of the library answers, and one meaning of its words.

Every result type (a point fit, bootstrap and MCMC draws, a comparison, a backtest, a seed
spread, the early-fit report, the demo's result) has these methods:

``to_frame()``
    A :class:`pandas.DataFrame` with one row per quantity the result estimates.
``interval(level=0.9, *, kind=...)``
    ``(lower, upper)``: two arrays, the ``level`` interval of each row of ``to_frame()``.
``prob_at_least(reward, at=None, *, kind=...)``
    The probability that the reward at compute ``at`` is at least ``reward``: a float for one
    run, a :class:`pandas.Series` (by recipe or run) for several. ``at=None`` is the result's
    own compute (a fit's last evaluation, a comparison's budget, a run's end).
``to_dict()``
    Plain Python (JSON-serialisable).
``summary()``
    Readable text.
``plot(ax=None)``
    Draws on ``ax`` (a new figure when None) and returns the Axes.

The interval kinds mean one thing everywhere (:data:`KINDS`):

``"curve"``
    The uncertainty of the curve itself: its parameters, its expected reward at a compute.
``"observed"``
    What one evaluation would show: the curve's uncertainty plus evaluation noise (for a seed
    spread, what a new seed's run would reach).

Parameters are properties of the curve, so results about parameters take only ``"curve"``.
``"prediction"``, the name bands used before, is read as ``"observed"``.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from rlscaling.io.checks import InputError

Kind = Literal["curve", "observed"]
KINDS: tuple[str, ...] = ("curve", "observed")


def check_kind(kind: Any, allowed: tuple[str, ...] = KINDS) -> str:
    """``kind`` checked against ``allowed``; the old band name ``"prediction"`` is ``"observed"``.

    Examples
    --------
    >>> check_kind("prediction")
    'observed'
    """
    if kind == "prediction":
        kind = "observed"
    if kind not in allowed:
        if kind in KINDS:
            raise InputError(
                f"kind={kind!r} does not apply here: this result has only {allowed} "
                "(parameters belong to the curve; evaluation noise adds to rewards only)"
            )
        raise InputError(
            f"kind must be one of {allowed} ('curve': the curve's own uncertainty; "
            f"'observed': what an evaluation would show), got {kind!r}"
        )
    return str(kind)


@runtime_checkable
class Result(Protocol):
    """What every result answers (see the module documentation for the meanings)."""

    def to_frame(self) -> Any: ...

    def interval(self, level: float = 0.9, *, kind: Any = ...) -> tuple[Any, Any]: ...

    def prob_at_least(self, reward: float, at: Any = None, *, kind: Any = ...) -> Any: ...

    def to_dict(self) -> dict[str, Any]: ...

    def summary(self) -> str: ...

    def plot(self, ax: Any = None) -> Any: ...
