"""Render an :class:`~rlscaling.decide.report.EarlyFitReport` as one self-contained HTML page.

Figures are embedded as base64 PNG (and also written to ``figures/``) so the page can be
mailed or attached to a ticket and still show everything; tables are pandas HTML with a little
CSS. No JavaScript, no external fonts or stylesheets.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from rlscaling.decide.report import EarlyFitReport

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 1280px; color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.verdicts li { margin: 0.3rem 0; } .note { color: #666; font-size: 0.85rem; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.4rem 0; }
figure { margin: 0 0 1rem; } figcaption { color: #555; font-size: 0.85rem; max-width: 60rem; }
.ours { background: #eef6ff; } td.t { text-align: left; }
"""


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _table(df: pd.DataFrame, floatfmt: str = "{:.3f}", highlight: str | None = None) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "-" if not math.isfinite(v) else floatfmt.format(v)
        if v is None:
            return "-"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cls = ' class="ours"' if highlight and any(str(v) == highlight for v in r.values) else ""
        cells = "".join(
            f"<td class='t'>{fmt(v)}</td>" if isinstance(v, str) else f"<td>{fmt(v)}</td>"
            for v in r.values
        )
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _accuracy(rep: EarlyFitReport) -> pd.DataFrame:
    tab = rep.accuracy_table()
    keep = ["fraction", "method", "runs", "refused", "median_rel_error", "mean_rel_error"]
    for lv in rep.backtest.levels:
        keep += [f"coverage_{lv:g}", f"rel_width_{lv:g}"]
    keep += [c for c in ("kendall_tau", "top1_correct") if c in tab.columns]
    names = {"median_rel_error": "median error / range", "mean_rel_error": "mean error / range"}
    names.update({f"rel_width_{lv:g}": f"width_{lv:g} / range" for lv in rep.backtest.levels})
    return tab[keep].rename(columns=names)


def _fractions(rep: EarlyFitReport) -> str:
    """``"25/50/75%"``: the fractions the backtest observed (not always the defaults)."""
    return "/".join(f"{100 * f:g}" for f in rep.backtest.fractions) + "%"


def _target(rep: EarlyFitReport) -> str:
    return rep.backtest._target_text()


def _refusals(rep: EarlyFitReport) -> list[str]:
    """A list of why methods refused (method, count, reason); nothing when none did."""
    df = rep.backtest.frame
    refused = df[df["refused"]]
    if refused.empty:
        return []
    items = [
        f"<li>{html.escape(str(meth))}, {count}x: {html.escape(str(reason))}</li>"
        for (meth, reason), count in refused.groupby(["method", "reason"]).size().items()
    ]
    return ["<p>Refused (run x fraction cases):</p><ul class='note'>", *items, "</ul>"]


def _recipes(rep: EarlyFitReport) -> pd.DataFrame | None:
    if rep.comparison is None:
        return None
    t = rep.comparison.table
    lv = rep.level
    out = pd.DataFrame({"recipe": t["recipe"], "runs": t.get("n_runs", np.nan)})
    for p in ("A", "B"):
        out[p] = t[p]
        out[f"{p} {lv:.0%} interval"] = [
            f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(t[f"{p}_lower"], t[f"{p}_upper"], strict=True)
        ]
    if "identified" in t:
        out["identified"] = t["identified"].map({True: "yes", False: "no"})
    return out


def _pairs(rep: EarlyFitReport) -> pd.DataFrame | None:
    if rep.comparison is None:
        return None
    p = rep.comparison.pairwise
    names = ("recipe_i", "recipe_j", "P_A", "P_B", "P_reward", "P_forecast", "verdict")
    cols = [c for c in names if c in p]
    # Name the compute the reward probabilities are at: the console of another comparison of
    # the same runs (``rlscaling compare``, default budget 4x the data) gives other numbers.
    at = f" at {rep.comparison.budget:.3g}"
    return p[cols].rename(columns={"P_reward": "P_reward" + at, "P_forecast": "P_forecast" + at})


def figure_caption(recipe: str, level: float) -> str:
    """What a recipe's figure shows, for the caption under it."""
    return (
        f"{recipe}: one panel per observed fraction of compute. Filled points were seen by the "
        "fit, open grey points came later; the solid line is the sigmoid fitted to the seen "
        "points and the dashed line its extrapolation; the diamond and bar at the end are the "
        f"forecast of the final reward and its {level:.0%} interval. Colours are seeds."
    )


def render(rep: EarlyFitReport, figures: dict[str, bytes]) -> str:
    """The HTML text of the report, with ``figures`` (name -> PNG bytes) embedded."""
    lv = rep.level
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>rlscaling early-fit report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Early-fit report</h1>",
        f"<p>{len(rep.runs)} runs, {len(rep.recipes)} recipes: "
        f"{html.escape(', '.join(rep.recipes))}. Each run is cut at {_fractions(rep)} of its "
        f"compute; the cut part is fitted and its final reward ({_target(rep)}) forecast, then "
        "checked against what the run showed.</p>",
        "<h2>What the evidence says</h2><ul class='verdicts'>",
        *[f"<li>{html.escape(v)}</li>" for v in rep.verdicts()],
        "</ul>",
        "<h2>Forecast of the final reward from part of the run</h2>",
        "<p>Error of the final-reward forecast and coverage of its intervals, beside "
        "the baselines it has to beat (carry the last value, a smoothed level of the observed "
        "rewards, mean of the last three, a plain curve_fit of the sigmoid). Errors "
        "(|forecast - truth|) and interval widths are divided by each run's range of reward "
        "(max - min), so runs on different scales pool. Each method's numbers are over the runs "
        "it answered (<b>refused</b> counts the others; the reasons are below the table).</p>",
        _table(_accuracy(rep), highlight=rep.backtest.forecast_method),
        *_refusals(rep),
    ]
    rk = rep.backtest.ranking
    if not rk.empty:
        parts += [
            "<h2>Was the final ranking of recipes predicted?</h2>",
            _table(rk, floatfmt="{:.2f}", highlight=rep.backtest.forecast_method),
        ]
    rec = _recipes(rep)
    if rec is not None:
        parts += [
            f"<h2>Recipes: A and B, seeds pooled ({lv:.0%} intervals)</h2>",
            "<p>Fitted on the full runs; a recipe's draws mix its seeds in equal shares, so the "
            "spread between seeds is inside these intervals.</p>",
            _table(rec),
            "<h3>Pairs</h3><p>P_A = P(A_i &gt; A_j), P_B = P(B_i &gt; B_j), P_reward = "
            f"P(reward_i &gt; reward_j) at compute {rep.comparison.budget:.3g} (the largest "
            "compute of the runs) from the fitted curves, P_forecast the same from the "
            "calibrated forecasts (which are less sure when extrapolating). A leader is named "
            "only when its probability is at least 0.8.</p>",
            _table(_pairs(rep), floatfmt="{:.2f}"),
        ]
    parts += ["<h2>Seed variance</h2>"]
    if rep.seed_table.empty:
        parts.append("<p>No recipe has two or more seeds.</p>")
    else:
        parts += [
            "<p>Spread of A across seeds of one recipe against a single run's "
            f"{lv:.0%} interval width for A. <b>seed_wider</b> means 2 x 1.645 x (sd of A across "
            "seeds) exceeds the median single-run width: a single run's interval is then too "
            "narrow for a statement about the recipe. Pool seeds (<code>compare</code> does), or "
            "widen a forecast by the between-seed spread: <code>seed_spread(runs).inflate("
            "forecast(run))</code>.</p>",
            _table(rep.seed_table.reset_index(), floatfmt="{:.4f}"),
        ]
        if rep.seeds is not None:
            parts.append(f"<p>{html.escape(rep.seeds.summary()).replace(chr(10), '<br>')}</p>")
    parts.append("<h2>Runs</h2>")
    lv_fig = max(rep.backtest.levels)
    for name, png in figures.items():
        b64 = base64.b64encode(png).decode("ascii")
        caption = figure_caption(name, lv_fig)
        parts.append(
            f"<h3>{html.escape(name)}</h3><figure><img alt='{html.escape(caption)}' "
            f"src='data:image/png;base64,{b64}'><figcaption>{html.escape(caption)}"
            "</figcaption></figure>"
        )
    cols = ["run", "recipe", "seed", "n_evals", "final_reward", "A", "A_lower", "A_upper", "B"]
    cols += ["B_lower", "B_upper", "identified"]
    parts += [
        "<h3>Full-run fits</h3>",
        _table(rep.per_run[[c for c in cols if c in rep.per_run.columns]]),
    ]
    parts += [f"<p class='note'>note: {html.escape(n)}</p>" for n in rep.notes]
    from rlscaling.version import __version__

    parts.append(f"<p class='note'>rlscaling {__version__}</p></body></html>")
    return "\n".join(parts)


def write_report(rep: EarlyFitReport, out: Path) -> dict[str, Path]:
    """Write ``index.html``, ``report.json`` and ``figures/<recipe>.png`` under ``out``."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    figures: dict[str, bytes] = {}
    paths: dict[str, Path] = {}
    for recipe in rep.recipes:
        fig = rep.recipe_figure(recipe)
        png = _png(fig)
        plt.close(fig)
        figures[recipe] = png
        path = fig_dir / f"{_safe(recipe)}.png"
        path.write_bytes(png)
        paths[f"figure:{recipe}"] = path
    paths["html"] = out / "index.html"
    paths["html"].write_text(render(rep, figures), encoding="utf-8")
    paths["json"] = out / "report.json"
    paths["json"].write_text(json.dumps(rep.to_dict(), indent=2, default=_default) + "\n")
    return paths


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _default(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, np.bool_):
        return bool(v)
    return str(v)


def screenshot(
    html_path: str | Path,
    png_path: str | Path,
    width: int = 1300,
    height: int = 4000,
    browser: str | None = None,
) -> Path:
    """Render a report page to PNG with headless Chromium (to check it, or for slides).

    Parameters
    ----------
    html_path, png_path : the page and where to write the screenshot.
    width, height : window size in pixels (the page is cut at ``height``).
    browser : Chromium/Chrome executable; default the first of ``chromium``,
        ``chromium-browser``, ``google-chrome`` on the PATH.

    Raises ``FileNotFoundError`` naming what to install when no browser is found, and
    ``RuntimeError`` with the browser's output when it fails.
    """
    import shutil
    import subprocess
    import tempfile

    exe = browser or next(
        (b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
    )
    if exe is None:
        raise FileNotFoundError(
            "no Chromium found on the PATH: install it (Debian: apt-get install chromium) or pass "
            "browser="
        )
    png = Path(png_path).resolve()
    with tempfile.TemporaryDirectory() as profile:
        # Flags: no sandbox (often run as root in containers), no GPU, and no background
        # network traffic, which a machine without internet access answers with errors.
        cmd = [
            exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", f"--window-size={width},{height}",
            "--hide-scrollbars", f"--screenshot={png}", Path(html_path).resolve().as_uri(),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0 or not png.is_file():
        raise RuntimeError(f"{exe} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return png
