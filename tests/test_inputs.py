"""Bad input gets a clear error naming the argument; good input never gives NaN silently."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rlscaling import Run, fit_sigmoid, sigmoid
from rlscaling.io.checks import InputError

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


@given(value=st.floats(-1e6, 0.0, exclude_max=True))
def test_negative_compute_is_refused_with_the_fix(value):
    c = C.copy()
    c[0] = value
    with pytest.raises(InputError, match=r"compute must be > 0.*r0="):
        fit_sigmoid(c, Y)


@pytest.mark.parametrize("form", ["arrays", "run", "frame", "series"])
def test_a_log_starting_at_compute_0_takes_it_as_r0_in_every_input_form(form):
    steps = np.r_[0.0, C]
    y = np.r_[0.05, Y]
    data = {
        "arrays": (steps, y),
        "run": (Run(steps, y),),
        "frame": (pd.DataFrame({"step": steps, "accuracy": y}),),
        "series": (pd.Series(y, index=steps),),
    }[form]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the frame's step column stands in for compute
        fit = fit_sigmoid(*data)
    assert fit.params["R0"] == 0.05 and fit.n_used == C.size
    assert fit.data.omitted == {"zero_compute_used_as_r0": 1}
    same = fit_sigmoid(C, Y, r0=0.05)
    assert fit.params["A"] == pytest.approx(same.params["A"])
    free = fit_sigmoid(steps, y, r0="free")
    assert free.data.omitted == {"zero_compute": 1} and free.n_used == C.size


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
        fit_sigmoid(df, compute="flops")
    fit = fit_sigmoid(df, compute="gpu_hours", reward="acc")
    assert fit.n_used == 20
    # left unnamed, they are found by their names
    assert fit_sigmoid(df).A == pytest.approx(fit.A)


@pytest.mark.parametrize("col", ["run", "run_name", "run_id", "curve"])
def test_a_table_of_several_runs_is_refused_not_interleaved(col):
    # read as one curve, three runs' rows interleave; sorting them (as an unsorted-compute
    # error would suggest) makes one curve of three
    from rlscaling import example_curves, forecast

    runs = example_curves()[:3]
    df = pd.concat([r.to_frame().assign(**{col: r.name}) for r in runs])
    for call in (fit_sigmoid, forecast):
        with pytest.raises(InputError, match=rf"holds 3 runs \(column '{col}'.*load_runs\(df\)"):
            call(df)
    # one run's rows: its name is the result's
    one = df[df[col] == runs[1].name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fit_sigmoid(one).data.name == runs[1].name
        assert forecast(one, n_samples=50).name == runs[1].name


def test_an_eval_log_read_with_pandas_has_its_columns_found_as_a_file_s_are(tmp_path):
    from rlscaling import forecast, load_run, load_runs

    steps = np.arange(1, 21) * 50
    df = pd.DataFrame({"global_step": steps, "eval/accuracy": sigmoid(steps, 0.7, 1.5, 300, 0.1)})
    df.to_csv(tmp_path / "log.csv", index=False)
    from_file = load_run(tmp_path / "log.csv")
    with pytest.warns(UserWarning, match="step column 'global_step' as compute"):
        from_frame = load_run(df)
    np.testing.assert_array_equal(from_frame.compute, from_file.compute)
    np.testing.assert_array_equal(from_frame.reward, from_file.reward)
    assert from_frame.name == "run" and from_frame.metadata["source"] == "DataFrame"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fit_sigmoid(df).A == pytest.approx(fit_sigmoid(steps, df["eval/accuracy"]).A)
        # one column named, the other found
        assert fit_sigmoid(df, reward="eval/accuracy").A == pytest.approx(fit_sigmoid(df).A)
        assert forecast(df.iloc[:8], n_samples=50).median[0] == pytest.approx(
            forecast(steps[:8], reward=df["eval/accuracy"][:8], n_samples=50).median[0]
        )
    # a table of several runs: each, or the one asked for
    multi = pd.concat([df.assign(run=f"seed{k}") for k in (1, 2)])
    assert [r.name for r in load_runs(multi, compute="global_step")] == ["seed1", "seed2"]
    assert load_run(multi, compute="global_step", run="seed2").name == "seed2"
    with pytest.raises(InputError, match=r"the DataFrame holds 2 runs: \['seed1', 'seed2'\]"):
        load_run(multi, compute="global_step")
    with pytest.raises(
        InputError, match=r"could not infer the reward column from columns \['a', 'b'\]"
    ):
        fit_sigmoid(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}))


def test_a_log_with_the_reward_only_every_few_steps_is_read_under_nan_policy_omit():
    """A training log read with pandas has an eval column that is empty between evaluations.
    Every function whose refusal advises nan_policy='omit' takes it, leaves those rows out,
    counts them, and gives what the evaluations alone give."""
    from rlscaling import compare, compute_to_reach, forecast

    steps = np.arange(0, 1010, 10)
    evals = steps % 50 == 0
    acc = np.where(evals, sigmoid(np.maximum(steps, 1), 0.7, 1.5, 300, 0.1), np.nan)
    log = pd.DataFrame({"global_step": steps, "train/loss": np.linspace(2, 1, steps.size)})
    log["eval/accuracy"] = acc
    only = log[evals]
    n_empty = int((~evals).sum())
    part, part_only = log[log.global_step <= 400], only[only.global_step <= 400]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in (
            lambda df, **kw: fit_sigmoid(df, reward="eval/accuracy", **kw),
            lambda df, **kw: forecast(df, reward="eval/accuracy", n_samples=50, **kw),
            lambda df, **kw: compute_to_reach(df, 0.6, reward="eval/accuracy", n_samples=50, **kw),
        ):
            with pytest.raises(InputError, match=r"Pass nan_policy='omit'"):
                call(part)
            call(part, nan_policy="omit")  # the advice is an option the function takes
        fit = fit_sigmoid(log, reward="eval/accuracy", nan_policy="omit")
        assert fit.data.omitted["nan_or_inf"] == n_empty
        assert fit.A == pytest.approx(fit_sigmoid(only, reward="eval/accuracy").A)
        fc = forecast(part, reward="eval/accuracy", nan_policy="omit", n_samples=50)
        alone = forecast(part_only, reward="eval/accuracy", n_samples=50)
        assert fc.median == pytest.approx(alone.median)
        empty = int((~evals[steps <= 400]).sum())
        said = f"{empty} points with a missing, NaN or inf value left out (nan_policy='omit')"
        assert said in fc.notes
        x, y = part.global_step.to_numpy(float), part["eval/accuracy"].to_numpy()
        assert forecast(x, reward=y, nan_policy="omit", n_samples=50).median == pytest.approx(
            alone.median
        )
        lower = log.assign(run="b", **{"eval/accuracy": acc * 0.9})
        table = pd.concat([log.assign(run="a"), lower])
        table_only = table.dropna(subset=["eval/accuracy"])
        got = compare(table, nan_policy="omit", n=50).pairwise
        want = compare(table_only, n=50).pairwise
        pd.testing.assert_frame_equal(got, want)
    with pytest.raises(InputError, match=r"nan_policy must be 'raise' or 'omit', got 'drop'"):
        compare(table, nan_policy="drop")


def test_a_loader_option_advised_while_fitting_a_dataframe_says_where_it_goes():
    """fit_sigmoid/forecast read a DataFrame through the loaders; an option the loader's message
    advises that only load_run takes (duplicates=, step=, ...) is named as load_run's, the
    advice works, and the loader's warning points at the user's line, not the library's."""
    from rlscaling import forecast, load_run

    steps = np.r_[np.arange(50, 450, 50), np.arange(300, 600, 50)]  # resumed at step 300
    acc = sigmoid(steps.astype(float), 0.7, 1.5, 300, 0.1)
    acc[8:] += 0.01  # the resumed run re-evaluates steps 300-400 with other results
    log = pd.DataFrame({"global_step": steps, "eval/accuracy": acc})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in (fit_sigmoid, forecast):
            with pytest.raises(InputError, match=r"'last'.*duplicates: options of load_run"):
                call(log, reward="eval/accuracy")
        run = load_run(log, reward="eval/accuracy", duplicates="last")
        assert run.metadata["omitted"]["duplicate_compute"] == 3
        assert np.isfinite(forecast(run, n_samples=50).median).all()
    advice = r"step, compute_per_step, tokens, flops_per_token: options of load_run"
    with pytest.warns(UserWarning, match=advice) as rec:
        fit_sigmoid(log.drop_duplicates("global_step", keep="last"), reward="eval/accuracy")
    assert {w.filename for w in rec if "step column" in str(w.message)} == {__file__}


def test_too_few_points_advises_only_what_would_help():
    few = (C[:3], Y[:3])
    with pytest.raises(InputError, match=r"got 3: evaluate the run more often$"):
        fit_sigmoid(*few)  # R0 is fixed already (r0="first"): no advice to fix it
    with pytest.raises(InputError, match=r"got 3; fix R0 \(r0='first' or a number\)$"):
        fit_sigmoid(*few, r0="free")
    with pytest.raises(InputError, match=r"inside the compute window .* widen min_compute"):
        fit_sigmoid(C, Y, min_compute=C[-3])


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


# ---------------------------------------------------------------- issue 15: points and errors


def test_forecast_refuses_negative_compute_like_fit_sigmoid():
    from rlscaling import forecast

    c = C.copy()
    c[3] = -5.0
    with pytest.raises(InputError, match=r"compute must be > 0.*\[3\]=-5.0"):
        fit_sigmoid(Run(c, Y))
    with pytest.raises(InputError, match=r"compute must be > 0.*\[3\]=-5.0"):
        forecast(Run(c, Y))


def test_masked_values_are_missing_not_data():
    y = np.ma.masked_array(Y.copy(), mask=np.zeros(Y.size, dtype=bool))
    y[-1] = -999.0
    y[-1] = np.ma.masked
    with pytest.raises(InputError, match=r"1 masked.*positions 19.*nan_policy='omit'"):
        fit_sigmoid(C, y)
    fit = fit_sigmoid(C, y, nan_policy="omit", warn=False)
    ref = fit_sigmoid(C[:-1], Y[:-1], warn=False)
    assert fit.data.omitted == {"masked": 1} and fit.n_used == 19
    assert fit.A == pytest.approx(ref.A, rel=1e-9)


def test_masked_compute_is_counted_separately_from_nan():
    c = np.ma.masked_array(C, mask=[False] * 10 + [True] + [False] * 9)
    y = Y.copy()
    y[5] = np.nan
    fit = fit_sigmoid(c, y, nan_policy="omit", warn=False)
    assert fit.data.omitted == {"masked": 1, "nan_or_inf": 1} and fit.n_used == 18


def test_series_alone_is_rewards_indexed_by_compute():
    s = pd.Series(Y, index=C, name="reward")
    shuffled = s.sample(frac=1.0, random_state=0)
    fit = fit_sigmoid(s, warn=False)
    ref = fit_sigmoid(C, Y, warn=False)
    assert fit.A == pytest.approx(ref.A, rel=1e-12)
    # pairing is by label: a shuffled Series is unsorted compute, refused with the fix
    with pytest.raises(InputError, match=r"increasing.*sort"):
        fit_sigmoid(shuffled)
    fit_sorted = fit_sigmoid(shuffled.sort_index(), warn=False)
    assert fit_sorted.A == pytest.approx(ref.A, rel=1e-12)
    with pytest.raises(InputError, match="numeric compute index"):
        fit_sigmoid(pd.Series(Y, index=[f"p{i}" for i in range(Y.size)]))


def test_two_series_with_different_indexes_are_not_paired_by_position():
    c = pd.Series(C, index=np.arange(20))
    r = pd.Series(Y, index=np.arange(20)[::-1])
    with pytest.raises(InputError, match=r"different indexes.*reindex"):
        fit_sigmoid(c, r)
    fit = fit_sigmoid(c, r.reindex(c.index), warn=False)  # aligned by label: Y reversed
    assert np.array_equal(fit.data.reward, Y[::-1])
    same = fit_sigmoid(c, pd.Series(Y, index=np.arange(20)), warn=False)
    assert np.array_equal(same.data.reward, Y)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: fit_sigmoid([], []), "empty"),
        (lambda: fit_sigmoid(C, np.full(20, np.nan), nan_policy="omit"), "all 20 points"),
        (lambda: fit_sigmoid(C, Y, r0=None), r"r0 must be a finite number.*None"),
        (lambda: fit_sigmoid(C, Y, r0="last"), "r0 must be a number, 'first' or 'free'"),
        (lambda: fit_sigmoid(C, Y, min_compute="1"), r"min_compute must be.*'1' \(str\)"),
        (lambda: fit_sigmoid(C, Y, max_compute=True), r"max_compute must be.*True"),
        (lambda: fit_sigmoid(C, Y, b_bounds=(0.05,)), r"b_bounds must be a pair.*\(0.05,\)"),
        (lambda: fit_sigmoid(C, Y, b_bounds=("a", 3)), r"b_bounds\[0\] must be"),
        (lambda: fit_sigmoid(C, Y, a_bounds=(0, "1")), r"a_bounds\[1\] must be"),
        (lambda: fit_sigmoid(C, Y, f_scale="x"), "f_scale must be"),
        (lambda: fit_sigmoid(C, Y, n_starts=2.0), "n_starts must be an integer"),
        (lambda: fit_sigmoid(C, Y * 1e200), r"beyond \+-1e\+100.*divide"),
        (lambda: fit_sigmoid(C, Y * 1e-300, loss="soft_l1"), "constant.*power of 10"),
    ],
)
def test_unclear_failures_are_input_errors(call, match):
    with pytest.raises(InputError, match=match):
        call()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"levels": ("0.9",)}, r"levels must hold numbers in \(0, 1\).*'0.9'"),
        ({"levels": 0.9}, None),
        ({"levels": ()}, "at least one level"),
        ({"n_samples": 0}, "n_samples must be an integer >= 10"),
        ({"n_samples": -5, "method": "mcmc"}, "n_samples must be an integer >= 10"),
        ({"seed": -1, "method": "mcmc"}, "seed must be None or an integer >= 0"),
        ({"seed": 1.5}, "seed must be"),
    ],
)
def test_forecast_arguments_are_checked_before_any_work(kwargs, match):
    from rlscaling import forecast

    if match is None:
        assert forecast(C, reward=Y, n_samples=100, **kwargs).levels == (0.9,)
        return
    with pytest.raises(InputError, match=match):
        forecast(C, reward=Y, **kwargs)
    with pytest.raises(InputError, match="empty"):
        forecast([], reward=[])


@pytest.mark.parametrize("target", [float("nan"), float("inf"), "0.5", None])
def test_compute_to_reach_refuses_a_non_finite_target(target):
    from rlscaling import compute_to_reach

    match = "give exactly one" if target is None else "target must be a finite reward"
    with pytest.raises(InputError, match=match):
        compute_to_reach(C, target, reward=Y)


@pytest.mark.parametrize("scale", [1e-9, 1e-4, 1e4, 1e60, 1e99])
def test_reward_scale_does_not_change_the_fit(scale):
    """Solved on rescaled rewards: the same curve and fit quality at every scale."""
    ref = fit_sigmoid(C, Y, warn=False)
    fit = fit_sigmoid(C, Y * scale, warn=False)
    assert fit.A / scale == pytest.approx(ref.A, rel=1e-6)
    assert fit.B == pytest.approx(ref.B, rel=1e-6)
    assert fit.rmse / scale == pytest.approx(ref.rmse, rel=1e-6)
    assert fit.r2 == pytest.approx(ref.r2, rel=1e-9)


def test_a_table_of_several_runs_without_compute_reward_columns_advises_load_run():
    """forecast/fit_sigmoid take no run=: the loader's "pick one with run=" is turned into how
    to pick one (load_run(df, run=...) or the rows in pandas), and that advice works."""
    from rlscaling import forecast, load_run

    steps = np.arange(1, 21) * 50
    acc = sigmoid(steps.astype(float), 0.7, 1.5, 300, 0.1)
    table = pd.concat([pd.DataFrame({"run": f"s{k}", "step": steps, "eval/accuracy": acc + k / 100})
                       for k in range(3)])  # fmt: skip
    advice = (
        r"holds 3 runs: \['s0', 's1', 's2'\]\. Pick one with run='<name>'.*\(run= is an option "
        r"of load_run, not of this function: read one run with run = rlscaling\.load_run\(df, "
        r"run='<name>'\), or pick its rows in pandas, df\[df\['run'\] == '<name>'\], and pass"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in (fit_sigmoid, forecast):
            with pytest.raises(InputError, match=advice):
                call(table)
        picked = forecast(load_run(table, run="s1"), n_samples=50)
        rows = forecast(table[table["run"] == "s1"], n_samples=50)
    assert picked.median == pytest.approx(rows.median)


def test_a_dataframe_with_a_training_and_an_evaluation_reward_fits_the_evaluations():
    """A wandb history read with pandas: train/reward every step, eval/accuracy every 25."""
    from rlscaling import forecast

    steps = np.arange(0, 501)
    evals = steps % 25 == 0
    acc = sigmoid(np.maximum(steps, 1.0), 0.7, 1.5, 200, 0.1)
    log = pd.DataFrame({"Step": steps, "train/reward": acc + 0.2,
                        "eval/accuracy": np.where(evals, acc, np.nan)})  # fmt: skip
    with pytest.warns(UserWarning, match=r"'eval/accuracy', not the training batches'"):
        with pytest.raises(InputError, match=r"\('eval/accuracy'\).*nan_policy='omit'"):
            fit_sigmoid(log)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_sigmoid(log, nan_policy="omit")
        alone = fit_sigmoid(steps[evals], acc[evals])
        fc = forecast(log, nan_policy="omit", n_samples=50)
    assert fit.data.omitted["nan_or_inf"] == int((~evals).sum())
    assert fit.A == pytest.approx(alone.A)
    assert fc.observed_reward[-1] == pytest.approx(acc[500])
