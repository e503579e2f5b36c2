"""The shared table helper of the command line and the frames the commands render with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlscaling import fit_sigmoid, forecast
from rlscaling.cli.common import error_columns, fits_table, frame_table
from rlscaling.fit.result import fits_frame
from rlscaling.io.datasets import example_curves


def _cells(table) -> list[list[str]]:
    cols = [list(c.cells) for c in table.columns]
    return [list(row) for row in zip(*cols, strict=True)]


def test_frame_table_selects_renames_and_formats_columns():
    df = pd.DataFrame(
        {
            "method": ["forecast", "carry_last"],
            "share": [0.125, np.nan],
            "runs": [3, 4],
            "ok": [True, False],
            "unused": [1.0, 2.0],
        }
    )
    table = frame_table(
        df,
        "t",
        columns={"method": "method", "share": "error", "runs": "n", "ok": "ok?"},
        formats={"share": ".1%", "runs": "d"},
    )
    assert [c.header for c in table.columns] == ["method", "error", "n", "ok?"]
    assert _cells(table) == [["forecast", "12.5%", "3", "yes"], ["carry_last", "-", "4", "no"]]
    assert [c.justify for c in table.columns] == ["left", "right", "right", "right"]
    # Without columns: every column, numbers in fmt.
    assert _cells(frame_table(df[["method", "unused"]], "t", ".2f"))[1] == ["carry_last", "2.00"]
    with pytest.raises(KeyError, match="nope"):
        frame_table(df, "t", columns={"nope": "x"})


def test_error_columns_name_every_level_and_show_shares_as_percentages():
    spec = error_columns((0.8, 0.9), 0.9, counts=True)
    assert list(spec["columns"].values()) == [
        "fraction", "method", "refused", "runs", "median error", "mean error", "p90 error",
        "cover 0.8", "cover 0.9", "width 0.9",
    ]  # fmt: skip
    assert spec["formats"]["median_rel_error"] == spec["formats"]["rel_width_0.9"] == ".1%"
    assert spec["formats"]["coverage_0.8"] == ".2f"
    short = error_columns((0.9,), 0.9, counts=False)["columns"]
    assert "refused" not in short and "p90_rel_error" not in short


def test_fits_frame_is_one_row_per_fit_from_each_fits_to_frame():
    fits = [fit_sigmoid(r) for r in example_curves()[:2]]
    frame = fits_frame(fits)
    assert list(frame["run"]) == [f.data.name for f in fits]
    for row, f in zip(frame.itertuples(), fits, strict=True):
        for p in ("A", "B", "C_mid", "R0"):
            assert getattr(row, p) == f.params[p]
            assert getattr(row, f"{p}_stderr") == f.stderr[p]
        assert (row.n, row.r2, row.identified) == (f.n_used, f.r2, f.identified)
        assert row.identification_issues == "; ".join(f.identification_issues)
    # The table shows the same numbers, A to 3 decimals.
    cells = _cells(fits_table(fits, "t"))
    assert cells[0][:2] == [fits[0].data.name, f"{fits[0].A:.3f}"]


def test_forecast_frame_has_multiple_of_observed_and_the_probability_asked():
    run = example_curves()[0].truncate(0.5)
    c_obs = float(run.compute.max())
    fc = forecast(run, budget=[2 * c_obs, 4 * c_obs], n_samples=300, seed=0)
    frame = fc.to_frame(0.5)
    assert frame["x_observed"].tolist() == pytest.approx([2.0, 4.0])
    for k, b in enumerate(fc.budget):
        assert frame["prob_at_least_0.5"][k] == fc.prob_at_least(0.5, at=b)
        assert frame["prob_at_least_0.5"][k] == np.mean(fc.draws[:, k] >= 0.5)
    assert "prob_at_least_0.5" not in fc.to_frame().columns
