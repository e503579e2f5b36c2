import json

import numpy as np
import pytest

from rlscaling import BacktestResult, Run, backtest, sigmoid
from rlscaling.decide.backtest import BASELINES, curve_fit_baseline
from rlscaling.io.checks import InputError
from rlscaling.model.simulate import simulate_curve

C = np.linspace(250, 16000, 64)


def synthetic_runs():
    params = [(0.58, 1.9, 2500.0), (0.64, 1.7, 3000.0), (0.70, 1.6, 2200.0), (0.61, 2.1, 2800.0)]
    return [
        simulate_curve(
            a,
            b,
            m,
            0.25,
            compute=C,
            noise=0.006,
            ar1=0.3,
            seed=k,
            name=f"run{k}",
            metadata={"recipe": f"recipe{k}"},
        )
        for k, (a, b, m) in enumerate(params)
    ]


@pytest.fixture(scope="module")
def result():
    return backtest(synthetic_runs(), progress=False, n_samples=300)


def test_frame_has_every_run_fraction_and_method(result):
    assert isinstance(result, BacktestResult)
    df = result.frame
    assert len(df) == 4 * 3 * (1 + len(BASELINES))
    assert set(df["method"]) == {"forecast[auto]", *BASELINES}
    assert set(df["fraction"]) == {0.25, 0.5, 0.75}
    # The truth is the mean of the last three evaluations, at their geometric-mean compute.
    r = synthetic_runs()[0]
    row = df[(df["run"] == "run0")].iloc[0]
    assert row["truth"] == pytest.approx(r.reward[-3:].mean())
    assert row["target_compute"] == pytest.approx(np.exp(np.log(r.compute[-3:]).mean()))
    assert (df["observed_compute"] <= df["fraction"] * C.max() + 1e-9).all()


def test_forecast_beats_carry_last_at_a_quarter(result):
    tab = result.summary_table().set_index(["fraction", "method"])
    ours = tab.loc[(0.25, "forecast[auto]"), "median_abs_error"]
    naive = tab.loc[(0.25, "carry_last"), "median_abs_error"]
    assert ours < naive
    assert "beats carrying the last value forward" in result.summary()
    # the plain curve_fit is compared on the runs it answered, as the others are
    ours_c, naive_c, n_c = result.versus(0.25, "curve_fit")
    assert n_c > 0
    assert f"a plain curve_fit of the sigmoid ({ours_c:.1%} vs {naive_c:.1%}" in result.summary()


def test_coverage_and_width_fields(result):
    tab = result.summary_table()
    for lv in (0.8, 0.9):
        cov = tab[f"coverage_{lv:g}"].dropna()
        assert len(cov) > 0 and ((cov >= 0) & (cov <= 1)).all()
        ours = tab[tab["method"] == "forecast[auto]"]
        assert (ours[f"width_{lv:g}"] > 0).all()
    naive = tab[tab["method"] == "carry_last"]
    assert naive["coverage_0.9"].isna().all()  # no interval, no coverage claimed
    for col in ("median_abs_error", "mean_abs_error", "p90_abs_error", "refused", "runs"):
        assert col in tab.columns


def test_ranking_of_recipes(result):
    rk = result.ranking
    assert len(rk) == 3 * (1 + len(BASELINES))
    assert rk["kendall_tau"].between(-1, 1).all()
    assert rk["top1_correct"].isin([True, False]).all()
    assert "kendall_tau" in result.summary_table().columns


def test_short_runs_are_refused_with_a_reason():
    short = Run(np.linspace(100, 1000, 8), sigmoid(np.linspace(100, 1000, 8), 0.6, 2, 300, 0.2))
    bt = backtest([short], fractions=(0.15, 0.25, 0.75), progress=False, n_samples=100)
    df = bt.frame.set_index(["fraction", "method"])
    # one evaluation in the first 15%: nothing to forecast from
    assert df.loc[(0.15, "forecast[auto]"), "refused"]
    assert "at least 2" in df.loc[(0.15, "forecast[auto]"), "reason"]
    # two in the first quarter: the forecast answers (as forecast() does), curve_fit cannot
    quarter = df.loc[0.25]
    assert quarter.loc["forecast[auto]", "n_observed"] == 2
    assert not quarter.loc["forecast[auto]", "refused"]
    assert quarter.loc["curve_fit", "refused"]
    assert not quarter.loc["carry_last", "refused"]
    tab = bt.summary_table().set_index(["fraction", "method"])
    assert tab.loc[(0.15, "forecast[auto]"), "refused"] == 1
    assert "refused 1x (forecast[auto])" in bt.summary()


def test_the_smoothed_level_is_a_baseline_and_intervals_are_for_the_mean_of_three():
    # A noisy plateau: the smoothed level (a long average) beats the last value, and the
    # summary says how the forecast fared against both.
    rng = np.random.default_rng(0)
    c = np.linspace(100, 4000, 40)
    runs = [Run(c, 0.6 + rng.normal(0, 0.03, c.size), name=f"flat{k}") for k in range(12)]
    run = runs[0]
    bt = backtest(runs, fractions=(0.5,), progress=False, n_samples=400)
    tab = bt.summary_table().set_index("method")
    assert tab.loc["smoothed_level", "median_abs_error"] < tab.loc["carry_last", "median_abs_error"]
    df = bt.frame[bt.frame["run"] == "flat0"].set_index("method")
    obs = run.reward[c <= 0.5 * c.max()]
    alphas = np.linspace(0.05, 1.0, 20)  # the smoothed level's grid, scored one step ahead
    lv, sse = np.full(alphas.size, obs[0]), np.zeros(alphas.size)
    for v in obs[1:]:
        sse += (v - lv) ** 2
        lv = alphas * v + (1 - alphas) * lv
    assert df.loc["smoothed_level", "prediction"] == pytest.approx(lv[np.argmin(sse)])
    assert "the smoothed level (" in bt.summary()
    # the forecast's interval is for the mean of the three target evaluations: narrower than
    # the same forecast's interval for one evaluation
    from rlscaling import forecast

    one = forecast(run.select(c <= 0.5 * c.max()), budget=df.loc["carry_last", "target_compute"])
    lo, hi = one.interval(0.9)
    assert df.loc["forecast[auto]", "width_0.9"] < hi[0] - lo[0]


def test_target_last_and_json_and_plot():
    runs = synthetic_runs()[:2]
    bt = backtest(runs, fractions=(0.5,), target="last", progress=False, n_samples=100)
    assert bt.frame["truth"].iloc[0] == pytest.approx(runs[0].final_reward)
    json.dumps(bt.to_dict())
    ax = bt.plot()
    assert ax.get_xlabel().startswith("truth")


def test_same_seed_same_numbers():
    runs = synthetic_runs()[:1]
    a = backtest(runs, fractions=(0.5,), progress=False, n_samples=100, seed=4)
    b = backtest(runs, fractions=(0.5,), progress=False, n_samples=100, seed=4)
    assert a.frame.equals(b.frame)


def test_curve_fit_baseline_recovers_a_clean_curve():
    c = np.geomspace(100, 5000, 20)
    pred, iv = curve_fit_baseline(c, sigmoid(c, 0.6, 1.5, 1000, 0.2), 20000, levels=(0.9,))
    assert pred == pytest.approx(sigmoid([20000], 0.6, 1.5, 1000, 0.2)[0], abs=1e-4)
    assert iv[0.9][0] <= pred <= iv[0.9][1]
    with pytest.raises(InputError, match="at least 5"):
        curve_fit_baseline(c[:4], c[:4] / 1e4, 20000)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fractions": (0.5, 1.0)}, "fractions must lie in"),
        ({"levels": (95,)}, "level must be in"),
        ({"target": "final"}, "target must be"),
        ({"method": "magic"}, "method must be one of"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(InputError, match=match):
        backtest(synthetic_runs()[:1], progress=False, **kwargs)


def test_bad_runs():
    with pytest.raises(InputError, match="empty"):
        backtest([])
    with pytest.raises(InputError, match="must be Runs"):
        backtest([np.arange(5)])
    r = synthetic_runs()[0]
    with pytest.raises(InputError, match="distinct names"):
        backtest([r, r])


def test_errors_are_relative_to_each_runs_range_so_scales_can_be_pooled():
    """A pass rate and the same curve as a return in the thousands: pooled absolute errors were
    dominated by the large one (median 624 vs 4.67 in a user's backtest)."""
    small = synthetic_runs()[0]
    big = Run(small.compute, 1000.0 * small.reward + 50.0, name="big")
    bt = backtest([small, big], fractions=(0.5,), progress=False, n_samples=200)
    df = bt.frame.set_index(["run", "method"])
    for run in (small, big):
        assert df.loc[(run.name, "carry_last"), "range"] == pytest.approx(np.ptp(run.reward))
    a, b = df.loc[("run0", "carry_last")], df.loc[("big", "carry_last")]
    assert b["abs_error"] == pytest.approx(1000 * a["abs_error"])
    assert b["rel_error"] == pytest.approx(a["rel_error"])
    tab = bt.summary_table().set_index("method")
    assert tab.loc["carry_last", "median_rel_error"] == pytest.approx(a["rel_error"])
    ours = df.xs("forecast[auto]", level="method")
    assert (ours["rel_width_0.9"] == ours["width_0.9"] / ours["range"]).all()
    assert "range" in bt.summary()


def test_the_summary_compares_forecast_and_baselines_on_the_same_runs():
    """Carry-last answers from one evaluation where the forecast refuses; its median over all
    runs included those hard cases, so "the forecast beats carry-last" compared the forecast's
    easy runs with the baseline's hard ones (69% vs 26% on real GRPO runs; 50% paired)."""
    c = np.linspace(100, 4000, 30)
    long = Run(c, sigmoid(c, 0.6, 2.0, 800, 0.1), name="long")
    # its first evaluation is at 40% of its compute: at a half it has one to go on
    short = Run([400, 700, 800, 900, 1000], [0.1, 0.5, 0.6, 0.6, 0.6], name="short")
    bt = backtest([long, short], fractions=(0.5,), progress=False, n_samples=200)
    df = bt.frame.set_index(["run", "method"])
    assert df.loc[("short", "forecast[auto]"), "refused"]
    assert not df.loc[("short", "carry_last"), "refused"]
    ours, naive, n = bt.versus(0.5, "carry_last")
    assert n == 1
    assert ours == pytest.approx(df.loc[("long", "forecast[auto]"), "rel_error"])
    assert naive == pytest.approx(df.loc[("long", "carry_last"), "rel_error"])
    # the table's carry-last median is over both runs; the sentence is over the paired one
    tab = bt.summary_table().set_index("method")
    assert tab.loc["carry_last", "median_rel_error"] != pytest.approx(naive)
    assert f"vs {naive:.1%} of the run's range, on the 1 of 2 runs both answered" in bt.summary()
    with pytest.raises(InputError, match="baseline must be one of"):
        bt.versus(0.5, "forecast[auto]")
    with pytest.raises(InputError, match="fraction must be one of"):
        bt.versus(0.3)


def test_a_zero_width_interval_at_the_truth_covers_it_and_equal_errors_tie():
    """A flat run at 0.4: the truth is the mean of three 0.4s (0.4000000000000001) and an
    interval [0.4, 0.4] was scored as missing it; the summary said the perfect forecast
    "does NOT beat" carry-last (0.0% vs 0.0%)."""
    from rlscaling.decide.backtest import _beats, _row

    truth = float(np.mean([0.4, 0.4, 0.4]))
    assert truth != 0.4
    base = {"run": "flat", "recipe": None, "fraction": 0.5, "target_compute": 1.0}
    base |= {"truth": truth, "range": 1.0}
    row = _row(base, "forecast[auto]", (0.9,), pred=0.4, bounds={0.9: (0.4, 0.4)}, n_obs=5)
    assert row["covered_0.9"] is True
    row = _row(base, "forecast[auto]", (0.9,), pred=0.4, bounds={0.9: (0.3, 0.39)}, n_obs=5)
    assert row["covered_0.9"] is False
    assert _beats(0.0, 1e-16) == "ties with"
    assert _beats(0.01, 0.02) == "beats" and _beats(0.02, 0.01) == "does NOT beat"


def test_a_run_whose_evaluations_are_all_target_is_refused_with_one_reason():
    """A run of 3 evaluations with the last-3 target: nothing is left to observe; each method
    gave its own misleading reason ("needs at least 2 evaluations, got 0")."""
    three = Run([10, 20, 40], [0.1, 0.2, 0.3], name="three")
    bt = backtest([three], fractions=(0.5, 0.9), progress=False, n_samples=100)
    assert bt.frame["refused"].all()
    reasons = set(bt.frame["reason"])
    assert len(reasons) == 1 and "among the last 3 (the target)" in reasons.pop()
    text = bt.summary()
    assert "refused 2x (carry_last): no evaluation to forecast from" in text
    assert "nan" not in text


def test_a_runs_numbers_do_not_depend_on_its_place_among_the_runs():
    """Each run's draws were seeded by its position (seed + k): the same run, listed second
    or third (a table of runs is read recipe by recipe), got another forecast."""
    runs = synthetic_runs()[:3]
    kw = {"fractions": (0.5,), "progress": False, "n_samples": 100, "seed": 3}
    a = backtest(runs, **kw).frame.set_index(["run", "method"]).sort_index()
    b = backtest(runs[::-1], **kw).frame.set_index(["run", "method"]).sort_index()
    alone = backtest(runs[2:], **kw).frame.set_index(["run", "method"]).sort_index()
    for col in ("prediction", "lower_0.9", "upper_0.9"):
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy())
        np.testing.assert_array_equal(a.loc["run2", col].to_numpy(), alone[col].to_numpy())


def test_the_local_level_is_a_baseline_that_keeps_up_with_a_rising_run():
    # Noisy pass rates still rising along a line at the cut: the exponentially weighted level
    # lags (or is the last value), the local-linear level averages the noise and keeps up.
    from rlscaling.forecasting.ensemble import local_level

    rng = np.random.default_rng(3)
    c = np.linspace(100, 4000, 40)
    runs = [
        Run(c, 0.2 + 0.1 * c / 1000 + rng.normal(0, 0.02, c.size), name=f"r{k}") for k in range(12)
    ]
    bt = backtest(runs, fractions=(0.5,), target="last", progress=False, n_samples=200)
    df = bt.frame
    at = df[df["run"] == "r0"].set_index("method")
    obs = runs[0].reward[c <= 0.5 * c.max()]
    assert at.loc["local_level", "prediction"] == pytest.approx(local_level(obs)[0])
    # scored against the level the run has at its cut (not its end: a level is not a forecast
    # of further growth), the local level is closer than the last value and the smoothed one
    err = {m: [] for m in ("local_level", "smoothed_level", "carry_last")}
    for run in runs:
        obs_run = run.reward[c <= 0.5 * c.max()]
        true_now = 0.2 + 0.1 * c[c <= 0.5 * c.max()][-1] / 1000
        rows = df[df["run"] == run.name].set_index("method")
        assert rows.loc["carry_last", "prediction"] == obs_run[-1]
        for m in err:
            err[m].append(abs(rows.loc[m, "prediction"] - true_now))
    assert np.mean(err["local_level"]) < 0.85 * np.mean(err["carry_last"])
    assert np.mean(err["local_level"]) < np.mean(err["smoothed_level"])
