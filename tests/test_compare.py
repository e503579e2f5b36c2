import json
import warnings

import numpy as np
import pytest
from scipy.optimize import brentq

from rlscaling import Comparison, Run, compare, fit_sigmoid, sigmoid
from rlscaling.decide.compare import A_MARGIN, last_crossing, prob_greater
from rlscaling.io.checks import InputError
from rlscaling.model.simulate import simulate_curve

C = np.geomspace(100, 40000, 40)


def run(a, b=1.8, c_mid=2500.0, *, seed, name, noise=0.006, recipe=None):
    meta = {} if recipe is None else {"recipe": recipe}
    return simulate_curve(
        a, b, c_mid, 0.2, compute=C, noise=noise, seed=seed, name=name, metadata=meta
    )


@pytest.fixture(scope="module")
def clear():
    return compare([run(0.60, seed=1, name="low"), run(0.70, seed=2, name="high")], n=300)


def test_clearly_different_asymptotes(clear):
    assert isinstance(clear, Comparison)
    p = clear.pairwise.iloc[0]
    assert (p["recipe_i"], p["recipe_j"]) == ("low", "high")
    assert p["P_A"] < 0.01
    assert p["P_reward"] < 0.01
    assert not p["A_within_margin"]
    assert "high has the higher asymptote" in p["verdict"]
    t = clear.table.set_index("recipe")
    for name, a in (("low", 0.60), ("high", 0.70)):
        assert t.loc[name, "A_lower"] < a < t.loc[name, "A_upper"]
        assert t.loc[name, "A_lower"] <= t.loc[name, "A"] <= t.loc[name, "A_upper"]
    assert clear.budget == pytest.approx(4 * C.max())


def test_identical_data_gives_one_half_and_equal_a_compares_b():
    r = run(0.6, seed=3, name="x")
    twin = Run(r.compute, r.reward, name="y")
    cmp = compare([r, twin], n=400, seed=5)
    p = cmp.pairwise.iloc[0]
    assert abs(p["P_A"] - 0.5) < 0.08
    assert p["A_within_margin"]
    assert f"within {A_MARGIN}" in p["verdict"] and "compare B" in p["verdict"]
    assert "Khatri" in p["verdict"]


def test_equal_asymptotes_different_noise_are_not_called():
    cmp = compare([run(0.6, seed=11, name="s1"), run(0.6, seed=12, name="s2")], n=300)
    assert 0.05 < cmp.pairwise.iloc[0]["P_A"] < 0.95


def _true_crossing(p1, p2, lo, hi):
    def gap(lc):
        return float(sigmoid([np.exp(lc)], *p1)[0] - sigmoid([np.exp(lc)], *p2)[0])

    return brentq(gap, lo, hi)


def test_crossing_found_within_its_interval():
    fast, slow = (0.50, 2.5, 500.0, 0.1), (0.65, 1.2, 3000.0, 0.1)
    truth = np.exp(_true_crossing(fast, slow, np.log(1000), np.log(1e5)))
    c = np.geomspace(50, 5e4, 40)
    r1 = simulate_curve(*fast, compute=c, noise=0.005, seed=1, name="fast")
    r2 = simulate_curve(*slow, compute=c, noise=0.005, seed=2, name="slow")
    x = compare([r1, r2], n=400).crossovers.iloc[0]
    assert x["P_cross"] > 0.9
    assert x["crossing_lower"] < truth < x["crossing_upper"]
    assert (x["leader_early"], x["leader_late"]) == ("fast", "slow")
    assert "slow overtakes fast" in x["statement"]


def test_no_crossing_is_reported_with_its_probability(clear):
    x = clear.crossovers.iloc[0]
    assert x["P_cross"] < 0.5
    assert np.isnan(x["crossing"])
    assert x["statement"].startswith("no crossing within [")
    assert "P(crossing)" in x["statement"]


def test_last_crossing_by_hand():
    grid = np.log(np.array([1.0, 10.0, 100.0, 1000.0]))
    diff = np.array(
        [
            [0.1, 0.05, -0.05, -0.1],  # i leads, then j: crossing halfway between 10 and 100
            [0.1, 0.2, 0.3, 0.4],  # i always leads
            [0.001, -0.001, 0.2, 0.3],  # a wiggle below the margin, then i leads: no crossing
        ]
    )
    out, final = last_crossing(diff, grid, margin=0.01)
    assert np.exp(out[0]) == pytest.approx(np.sqrt(10 * 100))
    assert final[0] == -1
    assert np.isnan(out[1]) and np.isnan(out[2])


def test_prob_greater_counts_ties_as_half():
    assert prob_greater(np.array([1.0]), np.array([1.0])) == 0.5
    assert prob_greater(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0


def test_pooling_seeds_widens_intervals():
    seeds = [run(a, seed=20 + k, name=f"seed{k}", recipe="r") for k, a in enumerate((0.58, 0.64))]
    other = run(0.5, seed=30, name="other")
    pooled = compare([*seeds, other], n=400).table.set_index("recipe")
    assert pooled.loc["r", "n_runs"] == 2
    assert pooled.loc["r", "runs"] == "seed0, seed1"
    single = compare([seeds[0], other], n=400).table.set_index("recipe")
    width = lambda t, k: t.loc[k, "A_upper"] - t.loc[k, "A_lower"]  # noqa: E731
    assert width(pooled, "r") > 2 * width(single, "r")  # seed0 alone is recipe "r" too
    assert pooled.loc["r", "A_lower"] < 0.6 < pooled.loc["r", "A_upper"]


def test_dict_input_fits_and_group_by():
    a, b = run(0.6, seed=1, name="a"), run(0.7, seed=2, name="b")
    cmp = compare({"base": a, "new": fit_sigmoid(b, warn=False)}, n=100)
    assert cmp.recipes == ["base", "new"]
    tagged = [
        Run(a.compute, a.reward, name="a", metadata={"arm": "x"}),
        Run(b.compute, b.reward, name="b", metadata={"arm": "y"}),
    ]
    assert compare(tagged, n=100, group_by="arm").recipes == ["x", "y"]


def test_reporting(clear):
    text = clear.summary()
    assert "low vs high" in text and "P(A_i > A_j)" in text
    d = clear.to_dict()
    json.dumps(d)
    assert (
        len(d["recipes"]) == 2
        and len(d["pairwise"]) == 1
        and d["crossovers"][0]["crossing"] is None
    )
    ax = clear.plot()
    assert ax.get_xscale() == "log"
    assert len(ax.collections) >= 4  # two data scatters and two bands


def test_same_seed_same_numbers():
    runs = [run(0.6, seed=1, name="a"), run(0.65, seed=2, name="b")]
    x, y = compare(runs, n=100, seed=3), compare(runs, n=100, seed=3)
    assert x.table.equals(y.table)


def test_mcmc_method():
    runs = [run(0.6, seed=1, name="a"), run(0.7, seed=2, name="b")]
    cmp = compare(runs, n=200, method="mcmc", sampler_options={"n_steps": 300, "extend": False})
    assert cmp.method == "MCMC"
    assert cmp.pairwise.iloc[0]["P_A"] < 0.01


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ([], {}, "at least two recipes"),
        ([[1, 2, 3]], {}, "must hold Runs"),
        ("a string", {}, "must be a list"),
        (None, {"n": 3}, "n must be an integer"),
        (None, {"budget": -1.0}, "budget must be"),
        (None, {"method": "laplace"}, "method must be"),
        (None, {"level": 90}, "level must be in"),
        (None, {"group_by": "arm"}, "group_by='arm'"),
    ],
)
def test_bad_input(args, kwargs, match):
    runs = [run(0.6, seed=1, name="a"), run(0.7, seed=2, name="b")]
    data = runs if args is None else args
    with pytest.raises(InputError, match=match):
        compare(data, **kwargs)


def test_duplicate_names_and_mixed_units_are_refused():
    a = run(0.6, seed=1, name="a")
    with pytest.raises(InputError, match="several runs are named"):
        compare([a, run(0.7, seed=2, name="a"), run(0.5, seed=3, name="c")], n=50)
    u1 = Run(a.compute, a.reward, name="x", metadata={"compute_unit": "FLOPs"})
    u2 = Run(a.compute, a.reward, name="y", metadata={"compute_unit": "GPU-hours"})
    with pytest.raises(InputError, match="different units"):
        compare([u1, u2], n=50)


def test_compare_reports_the_calibrated_forecast_at_the_budget():
    from rlscaling import compare, load_example

    cmp = compare([load_example("scalerl_like"), load_example("moe_like")], n=200, budget=16000)
    t = cmp.table.set_index("recipe")
    for name in ("scalerl_like", "moe_like"):
        lo, mid, hi = (t.loc[name, f"forecast_at_budget{s}"] for s in ("_lower", "", "_upper"))
        assert lo < mid < hi
    # moe_like (A = 0.71) ends well above scalerl_like (A = 0.61) at this budget
    assert t.loc["moe_like", "forecast_at_budget"] > t.loc["scalerl_like", "forecast_at_budget"]
    p = cmp.pairwise.iloc[0]
    assert p["P_forecast"] < 0.05 if p["recipe_i"] == "scalerl_like" else p["P_forecast"] > 0.95


# ---------------------------------------------------------------- verdicts follow probabilities


def test_verdicts_on_real_runs_follow_their_probabilities():
    """The bundled calibration runs: some recipes within seed noise of each other, some apart,
    one with A not identified: every verdict follows its probability.

    Before: "grpo is more efficient (P(B higher) = 0.51)" and "A agree within 0.02" for A that
    are not identified, and "X leads at ..." with P(reward_X higher) below one half.
    """
    from rlscaling.decide.compare import CLEAR
    from rlscaling.io.datasets import calibration_runs

    cmp = compare(calibration_runs(), n=200, seed=0)
    # "No leader" is None, not NaN (pandas 3 turns None into NaN in a text column; NaN is
    # truthy and `is not None`, so a reader's `if leader:` named a leader that is not there).
    for col, frame in (("leader", cmp.pairwise), ("leader_at_end", cmp.crossovers)):
        assert all(v is None or isinstance(v, str) for v in frame[col]), frame[col].tolist()
    for (_, p), (_, x) in zip(cmp.pairwise.iterrows(), cmp.crossovers.iterrows(), strict=True):
        if not p["A_identified"]:
            assert p["verdict_on"] != "A"
            assert "higher asymptote" not in p["verdict"] and "A agree" not in p["verdict"]
            assert p["verdict"].startswith("no asymptote verdict")
        if "is more efficient" in p["verdict"]:
            assert max(p["P_B"], 1 - p["P_B"]) >= CLEAR
        elif p["verdict_on"] in ("B", "reward"):  # an A verdict does not speak of B
            assert "no clear difference in B" in p["verdict"]
        if p["leader"] is not None:
            prob = {"A": p["P_A"], "B": p["P_B"], "reward": p["P_reward"]}[p["verdict_on"]]
            assert (prob if p["leader"] == p["recipe_i"] else 1 - prob) >= CLEAR
        if x["leader_at_end"] is not None:
            share = x["P_i_ahead_at_end"]
            assert (share if x["leader_at_end"] == x["recipe_i"] else 1 - share) >= CLEAR
            assert f"{x['leader_at_end']} leads at" in x["statement"]
        else:
            assert "no clear leader at" in x["statement"]
        if x["c_hi"] == cmp.budget:  # same compute: the same probability as the table's
            assert x["P_i_ahead_at_end"] == pytest.approx(p["P_reward"])


@pytest.mark.parametrize(
    ("probs", "on", "leader"),
    [
        ({"p_a": 0.55, "a_gap": 0.05}, "A", None),
        ({"p_a": 0.9, "a_gap": 0.05}, "A", None),  # 9:1 is not clear (CLEAR = 0.95)
        ({"p_a": 0.96, "a_gap": 0.05}, "A", "a"),
        ({"p_a": 0.04, "a_gap": -0.05}, "A", "b"),
        ({"p_a": 0.7, "a_gap": 0.01, "p_b": 0.51}, "B", None),
        ({"p_a": 0.7, "a_gap": 0.01, "p_b": 0.97}, "B", "a"),
        ({"p_a": 0.99, "a_gap": 0.2, "p_reward": 0.6, "identified": (True, False)}, "reward", None),
        ({"p_a": 0.99, "a_gap": 0.2, "p_reward": 0.03, "identified": (False, True)}, "reward", "b"),
    ],
)
def test_pair_verdict_names_a_leader_only_outside_the_clear_band(probs, on, leader):
    from rlscaling.decide.compare import pair_verdict

    kw = {"p_a": 0.5, "p_b": 0.5, "p_reward": 0.5, "a_gap": 0.0, "identified": (True, True)}
    text, got_on, got = pair_verdict("a", "b", **{**kw, **probs}, budget=1e4)
    assert (got_on, got) == (on, leader)
    if leader is None:
        assert "no clear difference" in text
    if on == "reward":
        assert "no asymptote verdict" in text and "not identified" in text
        assert "higher asymptote" not in text


def test_leader_at_the_end_is_read_from_all_draws_not_from_the_crossing_ones():
    """96% of j's draws stay below i; 4% overtake i late. Before: those 4% named j the
    leader at the end ("no crossing ...; b leads at ...")."""
    from rlscaling.decide.compare import _crossover

    n = 200
    ti = np.tile([0.70, 1.5, np.log(1000.0), 0.1], (n, 1))
    tj = np.tile([0.60, 1.5, np.log(1000.0), 0.1], (n, 1))
    tj[: int(0.04 * n)] = [0.95, 1.5, np.log(20000.0), 0.1]  # below i early, above it late
    c = np.geomspace(100, 10000, 20)
    pts = {"a": [(c, c * 0)], "b": [(c, c * 0)]}
    row = _crossover("a", "b", ti, tj, pts, budget=1e6, level=0.9, margin=0.005)
    assert row["P_cross"] == pytest.approx(0.04)
    assert row["P_i_ahead_at_end"] == pytest.approx(0.96)
    assert row["leader_at_end"] == "a"
    assert "a leads at" in row["statement"] and "b leads" not in row["statement"]


def test_to_frame_gives_the_numbers_of_the_table():
    # The command line prints the table's numbers from to_frame(): they must be the same.
    from rlscaling.io.datasets import example_curves

    cmp = compare(example_curves()[:3], n=200, seed=0)
    frame = cmp.to_frame().set_index(["recipe", "param"])
    for _, row in cmp.table.iterrows():
        for p in ("A", "B", "C_mid", "reward_at_budget"):
            want = [row[p], row[f"{p}_lower"], row[f"{p}_upper"]]
            got = frame.loc[(row["recipe"], p), ["estimate", "lower", "upper"]].to_numpy(float)
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_table_of_runs_compares_as_the_runs_do():
    import pandas as pd

    runs = [run(0.62, seed=s, name=f"a{s}", recipe="a") for s in (1, 2)]
    runs += [run(0.70, seed=s, name=f"b{s}", recipe="b") for s in (3, 4)]
    df = pd.concat([r.to_frame().assign(run=r.name, recipe=r.metadata["recipe"]) for r in runs])
    by_run = compare(df.drop(columns="recipe"), n=200, seed=0)
    assert by_run.to_frame()["recipe"].unique().tolist() == [r.name for r in runs]
    pooled = compare(df, n=200, seed=0, group_by="recipe")
    same = compare(runs, n=200, seed=0, group_by="recipe")
    a, b = pooled.to_frame(), same.to_frame()
    assert a["recipe"].tolist() == b["recipe"].tolist() == ["a"] * 5 + ["b"] * 5
    np.testing.assert_allclose(a["estimate"], b["estimate"])


def test_eval_logs_read_with_pandas_compare_as_their_runs_do():
    import pandas as pd

    runs = {"a": run(0.62, seed=1, name="a"), "b": run(0.70, seed=2, name="b")}
    # logs as a user reads them: a step column and a metric, not compute/reward
    logs = {
        k: pd.DataFrame({"global_step": r.compute, "eval/accuracy": r.reward})
        for k, r in runs.items()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "using the step column as compute"
        from_logs = compare(logs, n=200, seed=0)
        from_list = compare([logs["a"].assign(run="a"), logs["b"].assign(run="b")], n=200, seed=0)
    want = compare(runs, n=200, seed=0).to_frame()
    for got in (from_logs, from_list):
        assert got.recipes == ["a", "b"]
        np.testing.assert_allclose(got.to_frame()["estimate"], want["estimate"])
    # two unnamed logs in a list cannot be told apart: said, with the way out
    with pytest.raises(InputError, match=r"several runs are named \['run'\].*pass a dict"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compare(list(logs.values()), n=200)


def test_a_run_that_cannot_be_fitted_is_named():
    short = Run([1, 2, 3], [0.1, 0.2, 0.25], name="short")
    with pytest.raises(InputError, match=r"run 'short' could not be fitted: need at least 4 poi"):
        compare([short, run(0.6, seed=1, name="long")], n=50)


def test_asymptote_margin_is_in_the_rewards_unit(capsys):
    # A of 0.60 and 0.61 agree within the paper's 0.02, so the pair is judged on B. The same
    # runs in percent gave "b has the higher asymptote (A by 1.076)": the margin stayed 0.02.
    c = np.geomspace(100, 20000, 30)
    rng = np.random.default_rng(1)
    ya = sigmoid(c, 0.60, 1.5, 2000.0, 0.1) + rng.normal(0, 0.005, 30)
    yb = sigmoid(c, 0.61, 2.5, 2000.0, 0.1) + rng.normal(0, 0.005, 30)
    out = {}
    for scale in (1.0, 100.0):
        runs = {"a": Run(c, scale * ya, name="a"), "b": Run(c, scale * yb, name="b")}
        out[scale] = compare(runs, n=200, progress=False)
    assert out[1.0].a_margin == 0.02 and out[100.0].a_margin == 2.0
    for cmp in out.values():
        p = cmp.pairwise.iloc[0]
        assert p["A_within_margin"] and p["verdict_on"] == "B" and p["leader"] == "b"
    assert any("percentages" in n for n in out[100.0].notes)
    # a 0-10 grade is not a percentage (forecast's reading too): 2% of its observed range
    grade = compare(
        {"a": Run(c, 10 * ya, name="a"), "b": Run(c, 10 * yb, name="b")}, n=100, progress=False
    )
    span = float(np.ptp(np.concatenate([10 * ya, 10 * yb])))
    assert grade.a_margin == pytest.approx(0.02 * span)
    assert not any("percentages" in n for n in grade.notes)
    assert compare(runs, n=200, a_margin=0.5, progress=False).pairwise.iloc[0]["verdict_on"] == "A"
    assert capsys.readouterr().err == ""  # progress=False: no bar, not even the samplers'
    with pytest.raises(InputError, match="a_margin must be"):
        compare(runs, n=200, a_margin=-1.0)
