"""Bad input gets a clear error naming the argument; good input never gives NaN silently."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rlscaling import InputError, Run, fit_sigmoid, sigmoid

C = np.geomspace(10, 1e5, 20)
Y = sigmoid(C, 0.6, 1.5, 1000.0, 0.1) + 0.002 * np.sin(np.arange(20))

finite = st.floats(0.0, 1.0, allow_nan=False)


@given(n=st.integers(5, 30), m=st.integers(5, 30))
def test_mismatched_lengths_name_both(n, m):
    if n == m:
        return
    with pytest.raises(InputError, match=f"same length, got {n} and {m}"):
        fit_sigmoid(np.geomspace(1, 100, n), np.linspace(0, 1, m))


@given(idx=st.integers(0, 19), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_nan_raises_then_omit_counts(idx, bad):
    y = Y.copy()
    y[idx] = bad
    with pytest.raises(InputError, match="nan_policy='omit'"):
        fit_sigmoid(C, y)
    if idx == 0:
        return  # R0='first' then comes from the next point; still fine, checked below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_sigmoid(C, y, nan_policy="omit")
    assert fit.n_used == 19 and fit.data.omitted == {"nan_or_inf": 1}
    assert np.isfinite(fit.A)


@given(value=st.floats(-1e6, 0.0))
def test_non_positive_compute_is_refused_with_the_fix(value):
    c = C.copy()
    c[0] = value
    with pytest.raises(InputError, match=r"compute must be > 0.*r0="):
        fit_sigmoid(c, Y)


@given(i=st.integers(0, 18))
def test_unsorted_compute_names_the_pair(i):
    c = C.copy()
    c[i], c[i + 1] = c[i + 1], c[i]
    with pytest.raises(InputError, match=rf"compute\[{i}\].*Sort"):
        fit_sigmoid(c, Y)


@given(i=st.integers(0, 18))
def test_duplicated_compute_is_refused(i):
    c = C.copy()
    c[i + 1] = c[i]
    with pytest.raises(InputError, match="duplicated"):
        fit_sigmoid(c, Y)


@given(n=st.integers(1, 3))
def test_too_few_points(n):
    with pytest.raises(InputError, match=f"at least 4 points.*got {n}"):
        fit_sigmoid(C[:n], Y[:n])


def test_too_few_points_after_window_mentions_window():
    with pytest.raises(InputError, match="inside the compute window"):
        fit_sigmoid(C, Y, min_compute=5e4)


@given(v=finite)
def test_constant_reward(v):
    with pytest.raises(InputError, match="constant"):
        fit_sigmoid(C, np.full(C.size, v))


def test_percent_rewards_with_pass_rate_bounds():
    with pytest.raises(InputError, match="divide percentages by 100"):
        fit_sigmoid(C, 100 * Y, a_bounds=(0, 1))


def test_dataframe_missing_column_lists_columns():
    df = pd.DataFrame({"gpu_hours": C, "acc": Y})
    with pytest.raises(InputError, match=r"columns found: \['gpu_hours', 'acc'\]"):
        fit_sigmoid(df)
    fit = fit_sigmoid(df, compute="gpu_hours", reward="acc")
    assert fit.n_used == 20


def test_all_input_forms_agree():
    a = fit_sigmoid(C, Y).A
    assert fit_sigmoid(list(C), list(Y)).A == pytest.approx(a)
    assert fit_sigmoid(pd.Series(C), pd.Series(Y)).A == pytest.approx(a)
    assert fit_sigmoid(pd.DataFrame({"compute": C, "reward": Y})).A == pytest.approx(a)
    assert fit_sigmoid(Run(C, Y)).A == pytest.approx(a)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"r0": "zero"}, "r0 must be"),
        ({"loss": "l2"}, "loss must be one of"),
        ({"nan_policy": "drop"}, "nan_policy must be"),
        ({"min_compute": -1}, "min_compute must be"),
        ({"min_compute": 100, "max_compute": 10}, "must be below max_compute"),
        ({"weights": np.zeros(20)}, "weights must be > 0"),
        ({"eval_size": np.ones(3)}, "eval_size must have one value per point"),
        ({"b_bounds": (2, 1)}, "b_bounds"),
        ({"a_bounds": 1.0}, "a_bounds must be"),
    ],
)
def test_options_are_checked(kwargs, match):
    with pytest.raises(InputError, match=match):
        fit_sigmoid(C, Y, **kwargs)


@settings(max_examples=40, deadline=None)
@given(
    y=arrays(float, 12, elements=st.floats(-5, 5, allow_nan=False, width=64)),
    scale=st.floats(1e-3, 1e20),
)
def test_any_valid_curve_fits_or_raises_never_nan(y, scale):
    c = np.geomspace(1, 1000, 12) * scale
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_sigmoid(c, y)
    except InputError as exc:
        assert "constant" in str(exc)
        assert np.ptp(y) <= 1e-12 * max(1.0, np.abs(y).max())
        return
    assert all(np.isfinite(v) for v in fit.params.values())
    assert np.all(np.isfinite(fit.predict(c)))
    assert isinstance(fit.identified, bool)
