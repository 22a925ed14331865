"""Comparison reports: ``leaderboard.png``, ``forecasts.png`` and a self-contained ``report.html``.

The HTML file holds everything a planner needs in one file that can be mailed around: the
leaderboard, the per-target table, ``auto``'s selection and regret tables, the similarity table,
and both plots embedded as base64 PNG ``data:`` URIs (no external file, script or stylesheet).
Plots are drawn with matplotlib's object API (no pyplot state), so reports can be written from
worker threads.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from transfercast.evaluation import Comparison, selection_regret
from transfercast.outputs import write_bytes, write_csv, write_text

MAX_SERIES = 4


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def leaderboard_png(board: pd.DataFrame, metric: str = "wape") -> bytes:
    """A horizontal bar chart of each strategy's mean ``metric`` with its standard deviation."""
    from matplotlib.figure import Figure

    board = board.dropna(subset=[metric]).sort_values(metric, ascending=False)
    fig = Figure(figsize=(7, 0.5 * max(len(board), 2) + 1.2))
    ax = fig.subplots()
    std = board.get(f"{metric}_std")
    err = None if std is None else std.fillna(0).to_numpy()
    colors = ["#d62728" if s == "target_only" else "#1f77b4" for s in board["strategy"]]
    ax.barh(board["strategy"].astype(str), board[metric], xerr=err, color=colors, capsize=3)
    for y, v in enumerate(board[metric]):
        ax.text(v, y, f" {v:.3f}", va="bottom", fontsize=8)
    ax.set_xlabel(f"mean {metric.upper()} over targets and origins (bars: one standard deviation)")
    ax.set_title("Leaderboard")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def forecasts_png(comp: Comparison, max_series: int = MAX_SERIES) -> bytes:
    """Actual versus forecast for a few target series at the latest origin, one line per
    strategy, with the recent history the models saw."""
    from matplotlib.figure import Figure

    fc = comp.forecasts
    if fc.empty:
        fig = Figure(figsize=(6, 2))
        fig.text(0.5, 0.5, "no forecasts", ha="center")
        return _png(fig)
    origin = fc["origin"].max()
    last = fc[fc["origin"] == origin]
    ids = list(dict.fromkeys(last["unique_id"]))[:max_series]
    ncols = 2 if len(ids) > 1 else 1
    nrows = int(np.ceil(len(ids) / ncols))
    fig = Figure(figsize=(6.5 * ncols, 3.2 * nrows))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    task = comp.task
    for ax, uid in zip(axes, ids, strict=False):
        cell = last[last["unique_id"] == uid]
        if task is not None:
            hist = task.frame[(task.frame["unique_id"] == uid) & (task.frame["ds"] <= origin)]
            hist = hist.tail(2 * task.horizon)
            ax.plot(hist["ds"], hist["y"], color="0.5", lw=1, label="history")
        act = cell.drop_duplicates("ds").sort_values("ds")
        ax.plot(act["ds"], act["actual"], color="black", lw=2, label="actual")
        for name, g in cell.groupby("strategy", sort=False):
            g = g.sort_values("ds")
            ax.plot(
                g["ds"], g["forecast"], lw=1.2, label=str(name), ls="--" if name == "auto" else "-"
            )
        ax.axvline(origin, color="0.7", ls=":")
        ax.set_title(str(uid), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(ids) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"Forecasts from origin {pd.Timestamp(origin).date()}")
    return _png(fig)


def per_target_table(scores: pd.DataFrame, metric: str = "wape") -> pd.DataFrame:
    """Mean ``metric`` per target (rows) and strategy (columns), with the best strategy."""
    ok = scores[scores["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame()
    table = ok.pivot_table(index="target", columns="strategy", values=metric, aggfunc="mean")
    table = table[[s for s in dict.fromkeys(scores["strategy"]) if s in table.columns]]
    table["best"] = table.idxmin(axis=1)
    return table.reset_index()


def replay_summary(replays: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """Per origin and history length: each candidate's mean replayed WAPE (``candidate``,
    ``replayed_wape``, ``domain_cuts``) and the mean weight ``auto`` gave it over the targets
    (0 where it was never chosen)."""
    cols = ["origin", "n", "candidate", "replayed_wape", "domain_cuts", "mean_weight"]
    if replays is None or not len(replays):
        return pd.DataFrame(columns=cols)
    out = (
        replays.groupby(["origin", "n", "candidate"], sort=False)
        .agg(replayed_wape=("wape", "mean"), domain_cuts=("wape", "count"))
        .reset_index()
    )
    weights: dict[tuple[str, str], list[float]] = {}
    for _, row in selection.iterrows() if len(selection) else []:
        pairs = zip(str(row["chosen"]).split("+"), str(row["weights"]).split(";"), strict=False)
        for name, w in pairs:
            weights.setdefault((str(pd.Timestamp(row["origin"])), name), []).append(float(w))
    targets = selection.groupby("origin").size() if len(selection) else pd.Series(dtype=int)
    out["mean_weight"] = [
        sum(weights.get((str(pd.Timestamp(o)), c), [])) / max(int(targets.get(o, 1)), 1)
        for o, c in zip(out["origin"], out["candidate"], strict=True)
    ]
    return out[cols]


def _table(frame: pd.DataFrame | None, empty: str) -> str:
    if frame is None or frame.empty:
        return f"<p class='empty'>{html.escape(empty)}</p>"
    frame = frame.copy()
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            frame[col] = frame[col].dt.date
    return frame.to_html(
        index=False, float_format=lambda v: f"{v:.3f}", na_rep="", border=0, classes="t"
    )


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'/>"


CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table.t{border-collapse:collapse;font-size:0.85em}
table.t th,table.t td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
table.t th{background:#f4f4f4}table.t td:first-child,table.t th:first-child{text-align:left}
img{max-width:100%}.empty{color:#888}.note{color:#555;font-size:0.9em}
"""


def report_html(
    comp: Comparison,
    similarity: pd.DataFrame | None = None,
    images: dict[str, bytes] | None = None,
    title: str = "transfercast comparison",
) -> str:
    """The self-contained HTML report (plots embedded as base64 PNG)."""
    images = (
        images
        if images is not None
        else {
            "leaderboard.png": leaderboard_png(comp.leaderboard()),
            "forecasts.png": forecasts_png(comp),
        }
    )
    regret = selection_regret(comp.scores)
    task = comp.task
    facts = ""
    if task is not None:
        facts = (
            f"{len(task.targets)} target domain(s), {len(task.sources)} source domain(s), "
            f"horizon {task.horizon}, target history "
            f"{task.target_history or 'all'} periods, "
            f"{comp.scores['origin'].nunique()} origin(s)."
        )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p class='note'>{html.escape(facts)}</p>",
        "<h2>Leaderboard</h2>",
        "<p class='note'>Mean and spread of each metric over targets and origins; wins: targets "
        "on which the strategy has the lowest mean WAPE; wape_vs_target_only below 1 means "
        "transfer helped.</p>",
        _table(comp.leaderboard(), "no scores"),
        _img(images["leaderboard.png"], "leaderboard"),
        "<h2>Per target (mean WAPE)</h2>",
        _table(per_target_table(comp.scores), "no scores"),
        "<h2>Forecasts</h2>",
        _img(images["forecasts.png"], "forecasts"),
        "<h2>Strategy selection (auto)</h2>",
        _table(comp.selection, "auto was not part of this comparison"),
        "<h2>Source replays (auto's evidence)</h2>",
        "<p class='note'>The source domains replayed being new with the targets' history "
        "length, before each origin: each candidate's mean replayed WAPE over the replayed "
        "domain-cuts, and the mean weight auto gave it over the targets (replays.csv holds "
        "every row).</p>",
        _table(replay_summary(comp.replays, comp.selection), "no replays"),
        "<h2>Selection regret (auto against the best single strategy in hindsight)</h2>",
        _table(regret, "auto was not part of this comparison"),
        "<h2>Source/target similarity</h2>",
        "<p class='note'>domain_auc: 0.5 = the domains cannot be told apart, 1 = fully "
        "separable; psi/ks: per-feature drift; season_corr: correlation of the seasonal "
        "profiles (by week of year, month or quarter, as the frequency has it; none for "
        "yearly data); scale_ratio: target size over the median source; season_unseen: the "
        "horizon holds a season (by the sources' seasonal index) the target never showed; "
        "season_gap: the WAPE a forecast within the target's seen range must lose to it; "
        "season_shown: the sources' index moves over the target's periods (where it does not, "
        "season_corr measures noise).</p>",
        _table(similarity, "not computed"),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(
    comp: Comparison, directory: Path, similarity: pd.DataFrame | None = None
) -> list[Path]:
    """Write ``leaderboard.png``, ``forecasts.png``, ``report.html`` and, when available,
    ``regret.csv`` and ``similarity.csv`` into ``directory``."""
    directory = Path(directory)
    images = {
        "leaderboard.png": leaderboard_png(comp.leaderboard()),
        "forecasts.png": forecasts_png(comp),
    }
    paths = [write_bytes(data, directory / name) for name, data in images.items()]
    regret = selection_regret(comp.scores)
    if len(regret):
        paths.append(write_csv(regret, directory / "regret.csv"))
    if similarity is not None and len(similarity):
        paths.append(write_csv(similarity, directory / "similarity.csv"))
    paths.append(write_text(report_html(comp, similarity, images), directory / "report.html"))
    return paths
