import json

import numpy as np
import pytest

from rlscaling import fit_sigmoid, load_example, sigmoid


@pytest.fixture(scope="module")
def fit():
    return fit_sigmoid(load_example("scalerl_like"), warn=False)


def test_example_fit_recovers_stored_parameters(fit):
    truth = load_example("scalerl_like").metadata
    assert abs(fit.A - truth["A"]) < 0.02
    assert abs(np.log(fit.C_mid / truth["C_mid"])) < 0.15


def test_to_dict_is_json_and_complete(fit):
    d = json.loads(json.dumps(fit.to_dict()))
    assert set(d["params"]) == {"A", "B", "C_mid", "R0"}
    assert d["n_used"] == len(load_example("scalerl_like"))
    assert d["identified"] is True


def test_summary_names_every_parameter(fit):
    text = fit.summary()
    for p in ("A", "B", "C_mid", "R0", "identified"):
        assert p in text


def test_plot_returns_axes_with_data_and_curve(fit):
    ax = fit.plot()
    assert ax.get_xscale() == "log"
    assert len(ax.lines) >= 1 and len(ax.collections) >= 1


def test_delta_band_contains_estimate_and_widens_outside_data(fit):
    band = fit.band([fit.compute.max(), 100 * fit.compute.max()], level=0.9)
    assert np.all(band["lower"] <= band["estimate"]) and np.all(band["estimate"] <= band["upper"])
    pred = fit.band([fit.compute.max()], kind="prediction")
    assert (pred["upper"] - pred["lower"]).iloc[0] > (band["upper"] - band["lower"]).iloc[0]


def test_interval_contains_estimate_and_orders_levels(fit):
    lo80, hi80 = fit.interval("A", 0.8)
    lo95, hi95 = fit.interval("A", 0.95)
    assert lo95 < lo80 < fit.A < hi80 < hi95
    lo, hi = fit.interval("C_mid", 0.9)
    assert lo < fit.C_mid < hi


def test_fixed_r0_has_zero_stderr():
    c = np.geomspace(100, 1e5, 30)
    f = fit_sigmoid(c, sigmoid(c, 0.6, 1.5, 2000, 0.2) + 1e-3 * np.sin(np.arange(30)), r0=0.2)
    assert f.R0 == 0.2 and f.stderr["R0"] == 0
