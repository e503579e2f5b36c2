"""Fuzz the public fitting and forecasting functions with adversarial and realistic input.

Every example checks three promises of the library:

1. the only exception is the library's own (:class:`rlscaling.InputError`, with a message);
2. no NaN or inf in a returned number unless a warning said why;
3. every point given is either used or counted as omitted.

Example counts are small by default (the file runs in about a minute); CI's slow tier turns
them up (``RLSCALING_FUZZ=slow``, see ``tests/conftest.py``). Bootstraps, chains and forecasts
use few draws: the promises above do not depend on how many.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rlscaling import Run, compare, compute_to_reach, fit_sigmoid, forecast, sigmoid
from rlscaling.io.checks import InputError

SLOW = os.environ.get("RLSCALING_FUZZ") == "slow" or settings.default.max_examples >= 1000


def fuzz(fast: int, slow: int) -> settings:
    """Example count for this tier; the slow counts add up to more than 10,000."""
    return settings(
        max_examples=slow if SLOW else fast,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextlib.contextmanager
def stderr_at_fd_level() -> Iterator[list[str]]:
    """Capture what C and Fortran code (LAPACK's "DLASCL illegal value") writes to fd 2."""
    out: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode(errors="replace"))


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """Run ``fn``: its result (None after an InputError) and the warnings it gave.

    Any other exception propagates and fails the example; so does terminal noise from LAPACK.
    """
    with warnings.catch_warnings(record=True) as caught, stderr_at_fd_level() as err:
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kwargs)
        except InputError as exc:
            assert len(str(exc)) > 20, f"an InputError must say what to change: {exc!r}"
            event(f"{fn.__name__}: refused ({str(exc)[:30]}...)")
            out = None
        else:
            event(f"{fn.__name__}: answered")
    assert "On entry to" not in err[0] and "illegal value" not in err[0], err[0]
    # numpy's overflow/invalid RuntimeWarnings are noise, not an explanation
    told = [str(w.message) for w in caught if not issubclass(w.category, RuntimeWarning)]
    return out, told


def finite_or_told(values: dict[str, Any], told: list[str], notes: tuple[str, ...] = ()) -> None:
    bad = {k: v for k, v in values.items() if not np.all(np.isfinite(np.asarray(v, dtype=float)))}
    assert not bad or told or notes, f"non-finite {bad} without a warning"


# ---------------------------------------------------------------------------- strategies


def mostly(default: Any, other: st.SearchStrategy) -> st.SearchStrategy:
    """``default`` in about seven of eight examples, else something from ``other``."""
    return st.sampled_from([0] * 7 + [1]).flatmap(lambda k: other if k else st.just(default))


class Options:
    """Draws a function's options: valid ones, or in one example of three, adversarial ones.

    Drawing all options adversarially at once would leave hardly an example that gets past
    argument checking to the numerics; this way both halves get most of the examples.
    """

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.bad = data.draw(st.sampled_from([False, False, True]), label="adversarial options")

    def __call__(self, name: str, good: st.SearchStrategy, bad: st.SearchStrategy) -> Any:
        return self.data.draw(st.one_of(good, bad) if self.bad else good, label=name)


wild_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
seeds = st.integers(0, 2**32 - 1)


@st.composite
def curve_arrays(draw: st.DrawFn, min_n: int = 0, max_n: int = 40) -> tuple[Any, Any]:
    """(compute, reward): noisy sigmoid curves on any scale, often with a defect, or raw floats.

    Most curves take their parameters from a seeded generator (realistic, and not all at
    hypothesis' favourite boundary values); some take them from hypothesis (edge cases).
    """
    # mostly enough points to fit, sometimes any number (0 to 5 are hypothesis' favourites)
    n = draw(mostly(None, st.integers(min_n, max_n)))
    n = draw(st.integers(max(min_n, 6), max_n)) if n is None else n
    rng = np.random.default_rng(draw(seeds))
    kind = draw(st.sampled_from(["realistic", "realistic", "realistic", "edge", "raw"]))
    if kind == "raw":
        c = np.array(draw(st.lists(wild_float, min_size=n, max_size=n)), dtype=float)
        r = np.array(draw(st.lists(wild_float, min_size=n, max_size=n)), dtype=float)
        if draw(st.booleans()):
            c = np.sort(np.abs(c))
        return c, r
    if kind == "realistic":
        c_lo = 10.0 ** rng.uniform(-3, 22)
        c = c_lo * np.geomspace(1.0, 10.0 ** rng.uniform(0.5, 4.0), n)
        r0 = rng.uniform(0.0, 0.5)
        a = r0 + rng.uniform(-0.1, 0.6)
        mid = float(c_lo * 10.0 ** rng.uniform(-1.0, 4.0))
        b, noise = rng.uniform(0.3, 4.0), rng.choice([0.0, 0.003, 0.01, 0.05])
        scale = rng.choice([1.0, 1.0, 100.0, 3000.0, 1e-6])
    else:
        c_lo = 10.0 ** draw(st.floats(-300, 300))
        c = c_lo * np.geomspace(1.0, 10.0 ** draw(st.floats(0.3, 8.0)), n)
        a, r0 = draw(st.floats(-1.0, 2.0)), draw(st.floats(-1.0, 1.0))
        mid = float(np.exp(np.mean(np.log(c)))) if n else 1.0
        mid *= 10.0 ** draw(st.floats(-3.0, 3.0))
        b, noise = draw(st.floats(0.01, 30.0)), draw(st.floats(0.0, 0.2))
        scale = 10.0 ** draw(st.sampled_from([0, -12, -6, 3, 9, 50, 99, 101, -300]))
    with np.errstate(all="ignore"):
        r = sigmoid(c, a, b, mid, r0) if n and np.all(c > 0) else np.zeros(n)
        r = scale * (r + noise * rng.normal(size=n))
    defect = draw(mostly("none", st.sampled_from(["nan", "inf", "dup", "neg", "zero", "outlier"])))
    if n and defect != "none":
        i = int(rng.integers(n))
        if defect == "nan":
            r[i] = np.nan
        elif defect == "inf":
            c[i] = np.inf
        elif defect == "dup" and i > 0:
            c[i] = c[i - 1]
        elif defect == "neg":
            c[i] = -c[i]
        elif defect == "zero":
            c[0] = 0.0
        elif defect == "outlier":
            r[i] = 1e3 * scale
    return c, r


@st.composite
def inputs(draw: st.DrawFn, min_n: int = 0) -> tuple[Any, dict[str, Any], int]:
    """A curve in one of the accepted forms: (data, extra kwargs, number of points given)."""
    c, r = draw(curve_arrays(min_n=min_n))
    form = draw(
        st.one_of(
            st.sampled_from(["arrays", "run", "arrays", "run"]),
            st.sampled_from(["lists", "frame", "series", "masked"]),
        )
    )
    if form == "lists":
        return c.tolist(), {"reward": r.tolist()}, c.size
    if form == "run":
        return Run(c, r, name="fuzz"), {}, c.size
    if form == "frame":
        return pd.DataFrame({"compute": c, "reward": r}), {}, c.size
    if form == "series":
        return pd.Series(r, index=c), {}, c.size
    if form == "masked":
        mask = np.zeros(c.size, dtype=bool)
        if c.size:
            mask[draw(st.integers(0, c.size - 1))] = True
        return c, {"reward": np.ma.masked_array(r, mask=mask)}, c.size
    return c, {"reward": r}, c.size


bad_or_good_number = st.one_of(
    st.none(), st.floats(-1e3, 1e3), wild_float, st.just("1"), st.just(True), st.integers(-5, 5)
)


# ---------------------------------------------------------------------------- fit_sigmoid


@fuzz(fast=200, slow=4000)
@given(given_input=inputs(), data=st.data())
def test_fit_sigmoid_fuzz(given_input, data):
    curve, kw, n_given = given_input
    opt = Options(data)
    window = (None, None)
    if opt.bad or data.draw(st.booleans(), label="window"):
        window = opt(
            "window",
            st.tuples(st.none() | st.floats(1e-3, 1e25), st.none()),
            st.tuples(bad_or_good_number, bad_or_good_number),
        )
    fit, told = call(
        fit_sigmoid,
        curve,
        r0=opt(
            "r0",
            st.sampled_from(["first", "free"]) | st.floats(-1, 1),
            st.sampled_from(["last", None]) | bad_or_good_number,
        ),
        loss=opt("loss", st.sampled_from(["linear", "soft_l1", "huber", "cauchy"]), st.just("l1")),
        nan_policy=opt("nan_policy", st.sampled_from(["raise", "omit"]), st.just("drop")),
        min_compute=window[0],
        max_compute=window[1],
        a_bounds=opt(
            "a_bounds",
            st.sampled_from(["auto", (None, None), (0.0, 1.0)]),
            st.tuples(bad_or_good_number, bad_or_good_number),
        ),
        b_bounds=opt(
            "b_bounds",
            st.just((0.05, 20.0)),
            st.tuples(bad_or_good_number, bad_or_good_number) | st.just((1.0,)),
        ),
        **kw,
    )
    if fit is None:
        return
    assert fit.n_used + fit.n_omitted == n_given, (fit.n_used, fit.data.omitted, n_given)
    numbers = {**fit.params, **{f"se_{k}": v for k, v in fit.stderr.items()}}
    numbers.update(rmse=fit.rmse, r2=fit.r2)
    finite_or_told(numbers, told)
    for key in ("A", "B", "C_mid", "R0"):
        assert np.isfinite(fit.params[key]), f"{key} = {fit.params[key]} is not a number"
    assert np.all(np.isfinite(fit.predict(fit.data.compute)))


@fuzz(fast=40, slow=800)
@given(given_input=inputs(min_n=4), data=st.data())
def test_bootstrap_fuzz(given_input, data):
    curve, kw, _ = given_input
    fit, _ = call(fit_sigmoid, curve, warn=False, nan_policy="omit", **kw)
    if fit is None:
        return
    opt = Options(data)
    n_boot = opt("n", st.integers(10, 30), st.integers(-1, 9))
    method = opt("method", st.sampled_from(["residual", "case", "block"]), st.just("wild"))
    seed = opt("seed", st.none() | st.integers(0, 2**32), bad_or_good_number)
    boot, told = call(fit.bootstrap, n_boot, method=method, seed=seed)
    if boot is None:
        return
    assert boot.n_samples + boot.n_failed == n_boot
    if boot.n_samples:
        lo, hi = boot.interval("A", 0.9)
        finite_or_told({"A_lo": lo, "A_hi": hi}, told)


@fuzz(fast=10, slow=300)
@given(given_input=inputs(min_n=4), data=st.data())
def test_short_mcmc_fuzz(given_input, data):
    curve, kw, _ = given_input
    fit, _ = call(fit_sigmoid, curve, warn=False, nan_policy="omit", **kw)
    if fit is None:
        return
    opt = Options(data)
    seed = opt("seed", st.none() | st.integers(0, 2**32), bad_or_good_number)
    likelihood = opt(
        "likelihood", st.sampled_from(["gaussian", "student_t", "ar1"]), st.just("poisson")
    )
    post, told = call(
        fit.mcmc, n_walkers=12, n_steps=100, extend=False, seed=seed, likelihood=likelihood
    )
    if post is None:
        return
    lo, hi = post.interval("A", 0.9)
    finite_or_told({"A_lo": lo, "A_hi": hi}, told)


# ---------------------------------------------------------------------------- forecast


@fuzz(fast=60, slow=1500)
@given(given_input=inputs(), data=st.data())
def test_forecast_fuzz(given_input, data):
    curve, kw, n_given = given_input
    opt = Options(data)
    fc, told = call(
        forecast,
        curve,
        opt(
            "budget",
            st.none() | st.lists(st.floats(1e-3, 1e30), min_size=1, max_size=3),
            wild_float | st.just([]),
        ),
        method=opt(
            "method", st.sampled_from(["auto", "auto", "sigmoid", "plateau"]), st.just("magic")
        ),
        levels=opt("levels", st.just((0.8, 0.9)), st.just(("0.9",)) | st.tuples(wild_float)),
        n_samples=opt("n_samples", st.sampled_from([10, 50]), st.sampled_from([-5, 0, 2.5])),
        seed=opt("seed", st.none() | st.integers(0, 2**32), bad_or_good_number),
        **kw,
    )
    if fc is None:
        return
    # evaluations at compute 0 (the untrained model's) are left out, counted and told; all
    # others are used
    left_out = n_given - fc.observed_compute.size
    assert left_out >= 0
    if left_out:
        told_zero = [n for n in fc.notes if n.startswith(f"{left_out} evaluation")]
        assert told_zero and "compute 0" in told_zero[0]
    lo, hi = fc.interval(0.9)
    finite_or_told({"median": fc.median, "lo": lo, "hi": hi}, told, fc.notes)
    assert np.all(lo <= fc.median + 1e-12 * np.abs(fc.median)) and np.all(fc.median <= hi + 1e-9)


@fuzz(fast=30, slow=1000)
@given(given_input=inputs(), data=st.data())
def test_compute_to_reach_fuzz(given_input, data):
    curve, kw, _ = given_input
    opt = Options(data)
    fraction = opt("fraction", st.none() | st.floats(0.05, 0.99), st.floats(-0.5, 1.5) | wild_float)
    target = opt("target", st.floats(-1.0, 2.0) | st.floats(-1e4, 1e4), wild_float | st.just("0.5"))
    res, told = call(
        compute_to_reach,
        curve,
        None if fraction is not None and not opt.bad else target,
        fraction_of_asymptote=fraction,
        n_samples=opt("n_samples", st.sampled_from([10, 50]), st.sampled_from([0, -1])),
        **kw,
    )
    if res is None:
        return
    assert np.isfinite(res.target)
    c = res.compute
    assert np.all((np.isfinite(c) & (c > 0)) | np.isposinf(c))
    # every draw that never reaches the target is counted in prob_unreachable
    assert res.prob_unreachable == np.mean(np.isinf(c))
    med = res.median()
    assert np.isfinite(med) or res.prob_unreachable >= 0.5 or told
    res.summary()


# ---------------------------------------------------------------------------- compare


@fuzz(fast=15, slow=500)
@given(curves=st.lists(curve_arrays(min_n=4, max_n=25), min_size=3, max_size=3), data=st.data())
def test_compare_fuzz(curves, data):
    opt = Options(data)
    n_runs = opt("n_runs", st.sampled_from([2, 2, 3]), st.just(1))
    runs = [Run(c, r, name=f"r{i}") for i, (c, r) in enumerate(curves[:n_runs])]
    cmp, told = call(
        compare,
        runs,
        budget=opt("budget", st.none() | st.floats(1.0, 1e30), wild_float),
        level=opt("level", st.sampled_from([0.8, 0.9]), wild_float),
        n=opt("n", st.just(10), st.sampled_from([5, 2.5])),
        seed=opt("seed", st.none() | st.integers(0, 2**32), bad_or_good_number),
    )
    if cmp is None:
        return
    for run in runs:
        pts = cmp.points[run.name]
        assert sum(c.size for c, _ in pts) == len(run) - int(np.sum(run.compute == 0))
    cols = [c for c in cmp.table.columns if c.startswith(("A", "B", "C_mid", "reward", "fore"))]
    finite_or_told({c: cmp.table[c].to_numpy(dtype=float) for c in cols}, told, cmp.notes)
    probs = cmp.pairwise[[c for c in cmp.pairwise.columns if c.startswith("P_")]]
    assert np.all((probs.to_numpy(dtype=float) >= 0) & (probs.to_numpy(dtype=float) <= 1))
    cmp.summary()
