"""Comparison reports: ``leaderboard.png``, ``forecasts.png``, ``weights.png`` and a
self-contained ``report.html``.

The HTML file holds everything a planner needs in one file that can be mailed around, read top
to bottom as a short story: the leaderboard (and the per-target table under it); what was
chosen for each target and why (one sentence per target and a chart of ``auto``'s weights);
the forecasts of the series that matter most (largest sales, largest error), with fan charts
of the central intervals when the forecasts carry quantile columns; the summary of ``auto``'s
source replays; the similarity diagnostics. Plots are embedded as base64 PNG ``data:`` URIs (no
external file, script or stylesheet) and long text wraps, so the page reads at laptop width
without sideways scrolling. Plots are drawn with matplotlib's object API (no pyplot state), so
reports can be written from worker threads.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from transfercast.data import in_task_zone, period_text
from transfercast.evaluation import (
    Comparison,
    gap_to_leader,
    interval_columns,
    noise_band,
    same_forecasts,
    selection_regret,
    target_leaders,
    tied_with_leader,
    unmeasured,
)
from transfercast.forecaster import in_zone
from transfercast.intervals import central_intervals, quantile_columns
from transfercast.outputs import write_bytes, write_csv, write_text
from transfercast.process_state import MATPLOTLIB, gathered_warnings
from transfercast.similarity import REGIME_COLUMNS

if TYPE_CHECKING:
    from transfercast.task import TransferTask

MAX_SERIES = 4
#: targets whose selection sentence shows before the rest fold away
MAX_SENTENCES = 12
#: text columns wrapped anywhere (a long reason never widens its table)
LONG_TEXT = 60
#: the colour of the regime-change marker
REGIME_COLOR = "#8b0000"
#: Paul Tol's "muted" scheme, whose colours stay apart under red-green colour blindness, the
#: light ones last
PALETTE = [
    "#332288",
    "#cc6677",
    "#117733",
    "#882255",
    "#44aa99",
    "#999933",
    "#aa4499",
    "#88ccee",
    "#ddcc77",
]
#: line styles and bar hatches, a second cue beside the colour; as their count (4) and the
#: palette's (9) share no factor, the first 36 names each get their own pair
STYLES = ["-", "--", "-.", ":"]
HATCHES = ["", "//", "..", "xx"]


def _own_style(draw: Callable) -> Callable:
    """``draw`` in matplotlib's default style, whatever style the session set (the same
    comparison draws the same charts), with its texts shown as written: a ``$`` in a series or
    strategy name does not start a formula."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        import matplotlib
        import matplotlib.style

        with (
            MATPLOTLIB,  # rcParams are the process's: one chart at a time
            matplotlib.style.context("default"),
            matplotlib.rc_context({"text.parse_math": False}),
        ):
            return draw(*args, **kwargs)

    return wrapper


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _names(comp: Comparison) -> list[str]:
    """Every strategy and ``auto`` candidate of a comparison, in a stable order (for colours):
    ``auto`` first, so that the forecast the report is about gets the first, darkest colour
    and a solid line."""
    names = [str(s) for s in dict.fromkeys(comp.scores.get("strategy", []))]
    sel = comp.selection
    if len(sel) and "chosen" in sel:
        for chosen in sel["chosen"].astype(str):
            names += chosen.split("+")
        names += [c[len("replay_") :] for c in sel.columns if str(c).startswith("replay_")]
    return sorted(dict.fromkeys(names), key=lambda n: n != "auto")


def colors(names: Iterable[str]) -> dict[str, str]:
    """One colour per name, the same in every chart of a report."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(dict.fromkeys(names))}


def styles(names: Iterable[str], cues: Sequence[str] = STYLES) -> dict[str, str]:
    """One line style (or, with ``cues=HATCHES``, bar hatch) per name, in the order of
    :func:`colors`: with its colour, a pair no other of the first 36 names has."""
    return {n: cues[i % len(cues)] for i, n in enumerate(dict.fromkeys(names))}


@_own_style
def leaderboard_png(
    board: pd.DataFrame, metric: str = "wape", palette: dict[str, str] | None = None
) -> bytes:
    """A horizontal bar chart of each strategy's mean ``metric``, in the report's colours
    (``palette``), in the board's order with the leader on top; for WAPE, whiskers of the
    95 % interval of each strategy's paired gap to the leader
    (:func:`~transfercast.evaluation.noise_band`), and the leader's value as a dotted line: a
    whisker that reaches it is no clear difference."""
    from matplotlib.figure import Figure

    se = board.get(f"{metric}_gap_se")
    if se is not None and "wape_gap_cells" in board:
        board = board.assign(_band=noise_band(se, board["wape_gap_cells"].astype(float)))
    # in the board's order, its first row (the leader) on top: a strategy that missed cells
    # ranks after those that did not, whatever its mean
    board = board.dropna(subset=[metric]).iloc[::-1]
    fig = Figure(figsize=(7, 0.5 * max(len(board), 2) + 1.2))
    ax = fig.subplots()
    err = np.nan_to_num(board.get("_band", pd.Series(0.0, index=board.index)).to_numpy(float))
    palette = palette or colors(board["strategy"].astype(str))
    names = board["strategy"].astype(str)
    shade = [palette.get(n, PALETTE[0]) for n in names]
    ax.barh(names, board[metric], xerr=err if err.any() else None, color=shade, capsize=3)
    for y, (v, e) in enumerate(zip(board[metric], err, strict=True)):
        ax.text(v + e, y, f" {v:.3f}", va="center", fontsize=8)
    said = f"mean {metric.upper()} over targets and origins"
    if err.any():
        ax.axvline(board[metric].iloc[-1], color="#555", linestyle=":", linewidth=1)
        said += "; whiskers: 95 % interval of the paired gap to the leader (dotted)"
    ax.set_xlabel(said, fontsize=8)
    ax.set_xlim(0, float((board[metric] + err).max()) * 1.18 if len(board) else 1)
    ax.set_title("Leaderboard")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def forecast_intervals(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The central intervals a forecasts frame can draw: ``(lo column, hi column, %)``, widest
    first."""
    cols = quantile_columns(frame)
    pairs = central_intervals(list(cols)) if cols else []
    widest = sorted(pairs, key=lambda p: -float(p[2]))
    return [(cols[lo], cols[hi], pct) for lo, hi, pct in widest]


def series_that_matter(comp: Comparison, max_series: int = MAX_SERIES) -> list[tuple[str, str]]:
    """Up to ``max_series`` series of the latest origin, each with why it is shown: by turns
    the largest sales (sum of actuals over the horizon) and the largest error (WAPE, the mean
    over strategies)."""
    fc = comp.forecasts
    if fc.empty:
        return []
    last = fc[fc["origin"] == fc["origin"].max()]
    sales = (
        last.drop_duplicates(["unique_id", "ds"])
        .groupby("unique_id", sort=False)["actual"]
        .sum()
        .sort_values(ascending=False, kind="stable")
    )
    abs_err = (last["forecast"] - last["actual"]).abs()
    per = (
        last.assign(_e=abs_err, _a=last["actual"].abs())
        .groupby(["unique_id", "strategy"], sort=False)[["_e", "_a"]]
        .sum()
    )
    wape = (per["_e"] / per["_a"].where(per["_a"] > 0)).groupby(level=0, sort=False).mean()
    wape = wape.dropna().sort_values(ascending=False, kind="stable")
    why: dict[str, list[str]] = {}
    rankings = [(list(sales.index), "largest sales"), (list(wape.index), "largest error")]
    for rank in range(max(len(sales), len(wape))):
        if len(why) >= max_series:
            break
        for ids, label in rankings:
            if rank >= len(ids):
                continue
            nth = {0: "", 1: "2nd ", 2: "3rd "}.get(rank, f"{rank + 1}th ")
            if ids[rank] in why:
                why[ids[rank]].append(nth + label)
            elif len(why) < max_series:
                why[ids[rank]] = [nth + label]
    for uid in list(dict.fromkeys(last["unique_id"])):
        if len(why) >= max_series:
            break
        why.setdefault(uid, [])
    return [(str(u), " and ".join(w) or "shown") for u, w in list(why.items())[:max_series]]


def regime_changes(task) -> dict[str, tuple[pd.Timestamp, str]]:
    """Each series of a target domain with a change of regime (``[task] regime_start``), by
    ``unique_id``: the regime start and the ``unique_id`` of its old regime's series."""
    if task is None or not getattr(task, "old_regimes", None):
        return {}
    from transfercast.task import old_regime_suffix

    keys = task.frame[["unique_id", "domain"]].drop_duplicates("unique_id")
    out = {}
    for dom in task.old_regimes:
        suffix = old_regime_suffix(task.regime_start[dom])
        for uid in keys.loc[keys["domain"].astype(str) == str(dom), "unique_id"]:
            out[str(uid)] = (pd.Timestamp(task.regime_start[dom]), f"{uid}{suffix}")
    return out


def _first_read(task, origin: pd.Timestamp) -> pd.Timestamp:
    """The first period of a target's own history the models read at ``origin``: the last
    ``[task] target_history`` periods (none at 0; all without one)."""
    n = getattr(task, "target_history", None)
    if n is None:
        return pd.Timestamp.min
    if n == 0:
        return pd.Timestamp.max
    times = task.panel.times
    return times[max(times.get_loc(pd.Timestamp(origin)) - n + 1, 0)]


def _history(task, uid: str, origin: pd.Timestamp, change) -> pd.DataFrame:
    """The recent history of a series up to ``origin`` (two horizons); with a change of regime,
    joined to its old regime's series and reaching back a horizon before the change."""
    frame = task.frame
    ids = frame["unique_id"].astype(str)
    hist = frame[(ids == uid) & (frame["ds"] <= origin)]
    n = 2 * task.horizon
    if change is not None:
        start, old = change
        hist = pd.concat([frame[(ids == old) & (frame["ds"] <= origin)], hist]).sort_values("ds")
        n = max(n, int((hist["ds"] >= start).sum()) + task.horizon)
    return hist.tail(n)


@_own_style
def forecasts_figure(comp: Comparison, max_series: int = MAX_SERIES):
    """The matplotlib figure of :func:`forecasts_png`."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fc = comp.forecasts
    if fc.empty:
        fig = Figure(figsize=(6, 2))
        fig.text(0.5, 0.5, "no forecasts", ha="center")
        return fig
    origin = fc["origin"].max()
    last = fc[fc["origin"] == origin]
    shown = series_that_matter(comp, max_series)
    bands = forecast_intervals(last)
    alphas = np.linspace(0.12, 0.3, len(bands)) if bands else []
    banded = _banded(comp) if bands else None  # one fan: overlapping ones blend into mud
    palette, lines = colors(_names(comp)), styles(_names(comp))
    ncols = 2 if len(shown) > 1 else 1
    nrows = int(np.ceil(len(shown) / ncols))
    # narrow enough that the page shows it near its own size: 8-point text stays legible
    fig = Figure(figsize=(5.2 * ncols + 1.8, 3.0 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    task = comp.task
    changes = regime_changes(task)
    for ax, (uid, why) in zip(axes, shown, strict=False):
        cell = last[last["unique_id"].astype(str) == uid]
        if task is not None:
            hist = _history(task, uid, origin, changes.get(uid))
            start = _first_read(task, origin)
            hidden = (hist["unique_id"].astype(str) == uid) & (hist["ds"] < start)
            if hidden.any():  # cut by [task] target_history: the models never read these
                # up to the first period read, so that the two lines meet without a gap
                upto = hidden | hidden.shift(1, fill_value=False)
                h = hist[upto & (hist["unique_id"].astype(str) == uid)]
                ax.plot(h["ds"], h["y"], color="0.75", lw=1, ls=":", label="history not read")
            h = hist[~hidden]
            if len(h):  # before launch nothing was read: no empty "history" line
                ax.plot(h["ds"], h["y"], color="0.5", lw=1, label="history")
        if uid in changes:
            start = changes[uid][0]
            ax.axvline(start, color=REGIME_COLOR, ls="--", lw=1.2, label="regime change")
            ax.annotate(
                "regime change",
                xy=(start, 0.98),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=8,
                color=REGIME_COLOR,
            )
        act = cell.drop_duplicates("ds").sort_values("ds")  # on top of the forecasts
        ax.plot(act["ds"], act["actual"], color="black", lw=2, label="actual", zorder=5)
        for name, g in cell.groupby("strategy", sort=False):
            g = g.sort_values("ds")
            color = palette.get(str(name))
            for (lo, hi, _), alpha in zip(bands if name == banded else [], alphas, strict=False):
                lower, upper = g[lo].to_numpy(float), g[hi].to_numpy(float)
                if np.isfinite(lower).any() and np.isfinite(upper).any():
                    ax.fill_between(g["ds"], lower, upper, color=color, alpha=alpha, lw=0)
            ax.plot(
                g["ds"],
                g["forecast"],
                lw=1.8 if name == "auto" else 1.2,
                color=color,
                label=str(name),
                ls=lines.get(str(name), "-"),
            )
        ax.axvline(origin, color="0.7", ls=":")
        ax.set_title(f"{uid} ({why})", fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    legend: dict[str, object] = {}
    for ax in axes[: len(shown)]:  # every chart's lines: one may hold what another lacks
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    handles, labels = list(legend.values()), list(legend)
    for (_, _, pct), alpha in zip(bands, alphas, strict=True):
        handles.append(Patch(color=palette.get(str(banded), "0.3"), alpha=alpha, lw=0))
        labels.append(f"{pct} % interval ({banded})")
    # one legend for the figure, beside the charts: never over a line
    fig.legend(handles, labels, fontsize=8, loc="outside right upper")
    if task is not None:  # every chart's values are the task's target column
        for ax in axes[::ncols][:nrows]:
            ax.set_ylabel(str(task.target), fontsize=8)
    fig.suptitle(f"Forecasts from origin {period_text(origin)}")
    return fig


def _banded(comp: Comparison) -> str | None:
    """The strategy whose intervals the forecast charts shade: ``auto`` where it ran, else the
    leaderboard's leader."""
    names = [str(n) for n in dict.fromkeys(comp.forecasts["strategy"])]
    if "auto" in names:
        return "auto"
    board = comp.leaderboard().dropna(subset=["wape"])
    leaders = [str(n) for n in board["strategy"] if str(n) in names]
    return leaders[0] if leaders else (names[0] if names else None)


@_own_style
def forecasts_png(comp: Comparison, max_series: int = MAX_SERIES) -> bytes:
    """Actual versus forecast for the series that matter most (:func:`series_that_matter`) at
    the latest origin, one line per strategy, with the recent history the models saw. When the
    forecasts carry quantile columns, each central interval of one strategy (:func:`_banded`)
    is shaded around its line (lighter for wider): a fan chart. A series whose target domain
    changed regime (``[task] regime_start``) shows its old regime's last periods too, and a
    dashed vertical line labelled "regime change" at the change."""
    return _png(forecasts_figure(comp, max_series))


def latest_selection(selection: pd.DataFrame) -> pd.DataFrame:
    """``auto``'s selection at each target's latest origin, one row per target."""
    if selection is None or not len(selection) or "target" not in selection:
        return pd.DataFrame()
    sel = selection.sort_values("origin", kind="stable") if "origin" in selection else selection
    return sel.drop_duplicates("target", keep="last").reset_index(drop=True)


def _weights(row: pd.Series) -> list[tuple[str, float]]:
    names = str(row.get("chosen", "")).split("+")
    raw = str(row.get("weights", "")).split(";")
    out = []
    for i, name in enumerate(names):
        try:
            w = float(raw[i]) if len(raw) == len(names) else 1.0 / len(names)
        except ValueError:
            w = np.nan
        if name:
            out.append((name, w))
    return out


def _at_origin(sel: pd.DataFrame) -> str:
    """Which origin a latest selection (:func:`latest_selection`) is at: ``at origin <date>``
    when all its targets share one, else ``at each target's latest origin``."""
    origins = sorted({pd.Timestamp(o) for o in sel["origin"]}) if "origin" in sel else []
    if len(origins) == 1:
        return f"at origin {period_text(origins[0])}"
    return "at each target's latest origin"


@_own_style
def weights_png(comp: Comparison) -> bytes | None:
    """``auto``'s weights per target at its latest origin as horizontal stacked bars (one
    colour per candidate); ``None`` when ``auto`` was not part of the comparison."""
    from matplotlib.figure import Figure

    sel = latest_selection(comp.selection)
    if sel.empty:
        return None
    palette, hatches = colors(_names(comp)), styles(_names(comp), HATCHES)
    rows = [(str(r["target"]), _weights(r)) for _, r in sel.iterrows()]
    fig = Figure(figsize=(7, 0.32 * len(rows) + 1.3))
    ax = fig.subplots()
    seen: set[str] = set()
    for y, (_, ws) in enumerate(rows):
        left = 0.0
        for name, w in ws:
            if not np.isfinite(w) or w <= 0:
                continue
            label = None if name in seen else name
            seen.add(name)
            ax.barh(
                y, w, left=left, color=palette.get(name, "0.6"), label=label, height=0.7,
                hatch=hatches.get(name, ""), edgecolor="white", lw=0.5,
            )  # fmt: skip
            if w >= 0.12:
                ax.text(
                    left + w / 2, y, f"{w:.0%}", ha="center", va="center", fontsize=7,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
                )  # fmt: skip
            left += w
    ax.set_yticks(range(len(rows)), [t for t, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("weight in auto's forecast")
    ax.set_title(f"auto's weights per target {_at_origin(sel)}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(fig)


def per_target_table(scores: pd.DataFrame, metric: str = "wape") -> pd.DataFrame:
    """Mean ``metric`` per target (rows, in the targets' order; column ``target``) and strategy
    (columns), with the
    best strategies (:func:`~transfercast.evaluation.target_leaders`: the lowest mean among
    those that scored the most origins of that target; tied ones joined by ``", "``), the
    rule of the leaderboard's ``wins``."""
    ok = scores[scores["status"] == "ok"].dropna(subset=[metric])
    if ok.empty:
        return pd.DataFrame()
    table = ok.pivot_table(index="target", columns="strategy", values=metric, aggfunc="mean")
    table = table[[s for s in dict.fromkeys(scores["strategy"]) if s in table.columns]]
    table = table.reindex([t for t in dict.fromkeys(ok["target"]) if t in table.index])
    table["best"] = [
        ", ".join(_leaders(ranked_strategies(ok, str(t), metric))) for t in table.index
    ]
    table.columns.name = None  # else the columns' name heads an empty first column
    return table.reset_index()


def _leaders(ranked: pd.DataFrame) -> list[str]:
    """The strategies that lead one target's :func:`ranked_strategies`, in its order."""
    return list(target_leaders(ranked.reset_index().assign(target=0))["strategy"])


def ranked_strategies(scores: pd.DataFrame, target: str, metric: str = "wape") -> pd.DataFrame:
    """The strategies scored on ``target``: ``mean`` ``metric`` and ``cells`` (origins
    scored), those with the most cells first, each group by its mean."""
    ok = scores[(scores["status"] == "ok") & (scores["target"].astype(str) == target)]
    ok = ok.dropna(subset=[metric])
    out = ok.groupby("strategy", sort=False)[metric].agg(mean="mean", cells="count")
    return out.sort_values(["cells", "mean"], ascending=[False, True])


def replay_summary(replays: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """Per origin and history length: each candidate's mean replayed WAPE over the replayed
    domain-cuts that ``auto``'s weights read (``candidate``, ``replayed_wape``,
    ``domain_cuts``; a cut left out of the weights, replayed for prediction intervals only,
    is not counted, as in ``selection.csv``'s ``replay_<candidate>``) and the mean weight
    ``auto`` gave it over the targets of that origin and history length (0 where it was never
    chosen; missing for a strategy that was not one of ``auto``'s candidates there, replayed
    for its prediction intervals, and without ``auto``)."""
    cols = ["origin", "n", "candidate", "replayed_wape", "domain_cuts", "mean_weight"]
    if replays is None or not len(replays):
        return pd.DataFrame(columns=cols)
    if "left_out" in replays:
        kept = replays[~replays["left_out"].fillna(False).astype(bool)]
        replays = kept if len(kept) else replays
    out = (
        replays.groupby(["origin", "n", "candidate"], sort=False)
        .agg(replayed_wape=("wape", "mean"), domain_cuts=("wape", "count"))
        .reset_index()
    )
    selection = selection if selection is not None else pd.DataFrame()
    by_n = "n" in selection

    def key(origin, n) -> tuple[str, int | None]:
        return str(pd.Timestamp(origin)), int(n) if by_n and pd.notna(n) else None

    weights: dict[tuple[str, int | None], dict[str, float]] = {}
    targets: dict[tuple[str, int | None], int] = {}
    candidates: dict[tuple[str, int | None], set[str]] = {}
    for _, row in selection.iterrows() if len(selection) else []:
        k = key(row["origin"], row["n"] if by_n else 0)
        targets[k] = targets.get(k, 0) + 1
        named = {c[len("replay_") :] for c in row.index if str(c).startswith("replay_")}
        candidates.setdefault(k, set()).update(n for n in named if pd.notna(row[f"replay_{n}"]))
        for name, w in _weights(row):
            weights.setdefault(k, {})[name] = weights.get(k, {}).get(name, 0.0) + w
    mean = []
    for o, n, c in zip(out["origin"], out["n"], out["candidate"], strict=True):
        k = key(o, n)
        chosen = weights.get(k, {})
        known = candidates.get(k, set()) | set(chosen)
        mean.append(chosen.get(c, 0.0) / targets[k] if k in targets and c in known else np.nan)
    out["mean_weight"] = mean
    return out[cols]


def _no_regret(scores: pd.DataFrame) -> str:
    """Why a comparison has no selection regret: no single strategy beside ``auto``, or
    ``auto`` scored no cell."""
    ok = scores[scores["status"] == "ok"]
    if (ok["strategy"] == "auto").any():
        return "no single strategy was compared beside auto: nothing to measure it against"
    return "auto was not scored"


def season_sentence(target: str, similarity: pd.DataFrame | None = None) -> str:
    """An HTML sentence when the ``similarity`` table (at the latest origin) finds that the
    target's horizon holds a part of the year its history never showed (``season_unseen``),
    with the least WAPE a forecast held within its history's range makes there; else ""."""
    if similarity is None or "season_unseen" not in similarity:
        return ""
    row = similarity[similarity["target"].astype(str) == target]
    if not len(row) or not bool(row["season_unseen"].iloc[0]):
        return ""
    gap = float(row["season_gap"].iloc[0]) if "season_gap" in row else np.nan
    least = f" (a forecast held within its history's range makes at least {gap:.3f} WAPE there)"
    return (
        " At the latest origin its horizon holds a part of the year its history never showed"
        f"{least if np.isfinite(gap) else ''}: what the sources sold then is the only guide."
    )


def regime_sentence(task, target: str, similarity: pd.DataFrame | None = None) -> str:
    """An HTML sentence on a target's change of regime (empty without one): when its regime
    changed, that its old regime is a source domain of its own, and (from the ``similarity``
    table) its new level against its old one."""
    if task is None or not getattr(task, "old_regimes", None):
        return ""
    by_str = {str(d): d for d in task.old_regimes}
    if target not in by_str:
        return ""
    dom = by_str[target]
    day = period_text(task.regime_start[dom])
    n = getattr(task, "target_history", None)
    read = "" if n is None else f" (the models read at most its last {n} periods)"
    if n == 0:
        read = " (forecast before launch: the models read none of it)"
    text = (
        f" Its regime changed on {day}: its periods before then are its old regime, used as a "
        f"source domain of its own ({html.escape(str(task.old_regimes[dom]))}), and its "
        f"history as a target starts at the change{read}."
    )
    if similarity is not None and "regime_level_ratio" in similarity:
        row = similarity[similarity["target"].astype(str) == target]
        ratio = float(row["regime_level_ratio"].iloc[0]) if len(row) else np.nan
        if np.isfinite(ratio):
            text += (
                f" Its new regime sells {ratio:.2f} times its old regime's level in the same "
                "periods of the year before the change."
            )
    return text


def choice_sentences(comp: Comparison, similarity: pd.DataFrame | None = None) -> list[str]:
    """One HTML sentence per target: what ``auto`` chose at the latest origin, why (its
    reason) and how it turned out against the best single strategy in hindsight; without
    ``auto``, which strategy had the lowest mean WAPE. A target with a change of regime gets
    :func:`regime_sentence` too."""
    esc = html.escape
    sel = latest_selection(comp.selection)
    if sel.empty:
        out = []
        for target in dict.fromkeys(comp.scores["target"].astype(str)):
            ranked = ranked_strategies(comp.scores, target)
            if ranked.empty:
                continue
            leaders, most = _leaders(ranked), int(ranked["cells"].iloc[0])
            names = " and ".join(esc(str(n)) for n in leaders)
            tied = " (the same)" if len(leaders) > 1 else ""
            text = f"<b>{esc(target)}</b>: {names} had the lowest mean WAPE{tied}, "
            text += f"{ranked['mean'].iloc[0]:.3f}"
            if len(ranked) > len(leaders):
                k = len(leaders)
                second, cells = ranked.index[k], int(ranked["cells"].iloc[k])
                text += f", ahead of {esc(str(second))} ({ranked['mean'].iloc[k]:.3f}"
                text += f", over {cells} of the {most} origins)" if cells < most else ")"
                text += _within_noise(comp.scores, target, leaders[0], str(second))
            said = regime_sentence(comp.task, target, similarity)
            out.append(text + "." + said + season_sentence(target, similarity))
        return out
    regret = selection_regret(comp.scores)
    hindsight = {}
    for _, r in regret.iterrows():
        hindsight[(str(r["target"]), pd.Timestamp(r["origin"]))] = r
    out = []
    for _, row in sel.iterrows():
        target = str(row["target"])
        ws = [(n, w) for n, w in _weights(row) if not np.isfinite(w) or w > 0]
        if len(ws) == 1:
            chose = f"auto chose {esc(ws[0][0])}"
        else:
            named = [f"{esc(n)} ({esc(_percent(w))})" if np.isfinite(w) else esc(n) for n, w in ws]
            chose = "auto blended " + ", ".join(named[:-1]) + " and " + named[-1]
        text = f"<b>{esc(target)}</b>: {chose}"
        if "method" in row and pd.notna(row["method"]):
            text += f" (method {esc(str(row['method']))})"
        text += "."
        if "reason" in row and pd.notna(row["reason"]) and str(row["reason"]):
            reason = str(row["reason"])
            text += f" <span class='why'>Why: {esc(reason[0].upper() + reason[1:])}.</span>"
        key = (target, pd.Timestamp(row["origin"])) if "origin" in row else None
        r = hindsight.get(key)
        if r is not None:
            mine, best = _distinct(r["wape"], r["best_wape"])
            if r["regret"] <= 1e-9:
                text += (
                    f" In hindsight its WAPE, {mine}, matched or beat every single "
                    f"strategy compared (best: {esc(str(r['best']))}, {best})."
                )
            else:
                text += (
                    f" In hindsight its WAPE was {mine} against {best} "
                    f"for the best single strategy compared, {esc(str(r['best']))}."
                )
        said = regime_sentence(comp.task, target, similarity)
        out.append(text + said + season_sentence(target, similarity))
    return out


def _within_noise(scores: pd.DataFrame, target: str, leader: str, other: str) -> str:
    """``": no clear difference ..."`` where ``other``'s paired WAPE gap to ``leader`` over
    the target's origins lies within its 95 % interval (the leaderboard's rule), ``": one
    origin, ..."`` where a single origin gives no interval, else ``""``."""
    ok = scores[(scores["status"] == "ok") & (scores["target"].astype(str) == target)]
    ok = ok.dropna(subset=["wape"])
    gap = gap_to_leader(ok, leader)
    if other not in gap.index:
        return ""
    cells = int(gap.loc[other, "wape_gap_cells"])
    if cells < 2:
        shared = "one origin scored by both" if cells else "no origin scored by both"
        return f": {shared}, so no telling whether the difference is more than noise"
    band = float(noise_band(gap.loc[other, "wape_gap_se"], cells))
    if abs(gap.loc[other, "wape_gap"]) > band:  # behind it, or ahead on the shared origins
        return ""
    return ": no clear difference on this target (gap within its 95 % interval)"


def _history_said(task: TransferTask) -> str:
    """The target history of the report's header: all periods, the last N, none (before
    launch), or those since a regime change."""
    if task.target_history == 0:
        return "0 periods (before launch)"
    since = " since the regime change" if task.old_regimes else ""
    if task.target_history is None:
        return f"all periods{since}"
    return f"{task.target_history} periods" + (f" at most,{since}" if since else "")


def _unscored_candidates(comp: Comparison) -> str:
    """The note naming ``auto``'s candidates that the comparison did not score on their own
    (weighed, but not in the leaderboard nor in "every single strategy compared"), or ""."""
    sel, scored = comp.selection, set(comp.scores.get("strategy", []))
    cands = [  # those with a replayed figure somewhere (before launch, some have none)
        str(c)[len("replay_") :]
        for c in sel.columns
        if str(c).startswith("replay_") and pd.to_numeric(sel[c], errors="coerce").notna().any()
    ]
    unscored = [c for c in cands if c not in scored]
    if not unscored:
        return ""
    return (
        f"its candidates {', '.join(unscored)} were weighed but not compared on their own, so "
        "the hindsight figures below cover the strategies of the leaderboard only; "
    )


def _percent(w: float) -> str:
    """A weight as a whole percentage; a weight under half a percent as ``<1 %``, not 0."""
    return "<1 %" if 0 < w < 0.005 else f"{w * 100:.0f} %"


def _distinct(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` to three decimals, or as many more (up to six) as tell them apart: a
    WAPE worse than the best never reads as equal to it."""
    for digits in range(3, 7):
        x, y = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if x != y or a == b:
            break
    return x, y


def evidence_table(selection: pd.DataFrame) -> pd.DataFrame:
    """``auto``'s evidence in long form, one row per target, origin and candidate: the weight
    it got, its mean replayed WAPE and the target's own inner WAPE (narrow however many
    candidates there are); a candidate without weight or figures for a target (the seasonal
    naive for a history shorter than a season) has no row."""
    if selection is None or not len(selection):
        return pd.DataFrame()
    cands = [c[len("replay_") :] for c in selection.columns if str(c).startswith("replay_")]
    rows = []
    for _, row in selection.iterrows():
        ws = dict(_weights(row))
        for cand in cands or list(ws):
            figures = [row.get(f"{k}_{cand}", np.nan) for k in ("replay", "inner")]
            if cand not in ws and pd.isna(figures).all():
                continue
            rows.append(
                {
                    "target": row["target"],
                    "origin": row.get("origin"),
                    "candidate": cand,
                    "weight": ws.get(cand, 0.0),
                    "replayed_wape": row.get(f"replay_{cand}", np.nan),
                    "inner_wape": row.get(f"inner_{cand}", np.nan),
                }
            )
    return pd.DataFrame(rows).dropna(axis=1, how="all")


def meta_table(selection: pd.DataFrame) -> pd.DataFrame:
    """The target meta-features ``auto`` saw (the selection's ``meta_*`` columns)."""
    if selection is None or not len(selection):
        return pd.DataFrame()
    meta = [c for c in selection.columns if str(c).startswith("meta_")]
    if not meta:
        return pd.DataFrame()
    keep = [c for c in ("target", "origin") if c in selection]
    out = selection[keep + meta].rename(columns=lambda c: str(c).removeprefix("meta_"))
    return out.dropna(axis=1, how="all")


def _number(v: float) -> str:
    """A table's number: three decimals below 100, fewer above; one that three decimals would
    show as 0 (a gap or regret of 0.0002) with two significant digits, so it never reads as
    an exact 0."""
    if not np.isfinite(v):
        return ""
    if v != 0 and abs(v) < 0.0005:
        return f"{v:.2g}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.3f}"


def _cell(v, long: bool, whole: bool = False) -> tuple[str, str]:
    """A cell's text and class (``whole``: a float column whose values are all whole)."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "", "num"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower(), "num"
    if isinstance(v, (int, np.integer)):
        return str(int(v)), "num"
    if isinstance(v, (float, np.floating)):
        return (f"{v:,.0f}" if whole and np.isfinite(v) else _number(float(v))), "num"
    if isinstance(v, pd.Timestamp):
        return period_text(v), "num"
    return str(v), "long" if long else "text"


def _header(name) -> str:
    """A column header that may break after its underscores."""
    return "_<wbr>".join(html.escape(part) for part in str(name).split("_"))


#: columns of the report's tables that count (cells, targets, periods): printed whole
COUNT_COLUMNS = {
    "cells", "failed", "wins", "replayed", "n", "history", "domain_cuts", "wape_gap_cells"
}  # fmt: skip


def _table(frame: pd.DataFrame | None, empty: str, wide: bool = False) -> str:
    """An HTML table: numbers right-aligned and unbroken, long text wrapped; ``wide`` (tables
    whose columns plugins may add) puts it in a container that scrolls sideways, as a last
    resort, instead of the page."""
    if frame is None or frame.empty:
        return f"<p class='empty'>{html.escape(empty)}</p>"
    long = {
        c
        for c in frame.columns
        if frame[c].dtype == object and frame[c].astype(str).str.len().max() > LONG_TEXT
    }
    whole = set()
    for c in frame.columns:
        if pd.api.types.is_float_dtype(frame[c]):
            finite = frame[c].to_numpy(float)
            finite = finite[np.isfinite(finite)]
            # counts held as floats (a missing value among them): by name, or by values of 2
            # and more; a column of 0s and 1s is else a weight, a ratio or a gap, kept decimal
            if not len(finite) or (finite != np.round(finite)).any():
                continue
            if str(c).removeprefix("meta_") in COUNT_COLUMNS or np.abs(finite).max() >= 2:
                whole.add(c)
    head = "".join(
        f"<th scope='col' class='{'text' if frame[c].dtype == object else 'num'}'>{_header(c)}</th>"
        for c in frame.columns
    )
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for k, (col, v) in enumerate(zip(frame.columns, row, strict=True)):
            text, cls = _cell(v, col in long, col in whole)
            tag = "th scope='row'" if k == 0 else "td"  # what the row is about: its header
            cells.append(f"<{tag} class='{cls}'>{html.escape(text)}</{tag.split()[0]}>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    table = f"<table class='t'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f"<div class='wide'>{table}</div>" if wide else table


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'/>"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1.5em 2em;max-width:1100px;
color:#222;line-height:1.45}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:1.2em 0 0.4em}
p,li{max-width:80ch;overflow-wrap:anywhere}
table.t{border-collapse:collapse;font-size:0.85em;max-width:100%;table-layout:auto;
margin:0.4em 0 0.8em}
table.t th,table.t td{padding:3px 8px;border-bottom:1px solid #eee;vertical-align:top}
table.t thead th{background:#f4f4f4;vertical-align:bottom;text-align:right}
table.t tbody th{font-weight:normal}
table.t th.text,table.t td.text{text-align:left}
table.t td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
table.t td.long{text-align:left;min-width:16em;max-width:40em;overflow-wrap:anywhere}
.wide{max-width:100%;overflow-x:auto}
img{display:block;max-width:100%;height:auto;margin:0.5em 0}
ul.choice li{margin-bottom:0.5em}.why{color:#444}
details{margin:0.6em 0}summary{cursor:pointer;color:#1f4e79}
.empty{color:#666}.note{color:#555;font-size:0.9em}
@media print{
body{max-width:none;padding:0;font-size:10pt}
.wide{overflow:visible}
table.t{font-size:7pt}table.t th,table.t td{padding:1px 3px}
h2,h3{break-after:avoid}img,tr{break-inside:avoid}
details::details-content{content-visibility:visible;display:block}
summary{color:#222}
}
"""


def _images(comp: Comparison, images: dict[str, bytes] | None) -> dict[str, bytes]:
    images = dict(images) if images is not None else {}
    if "leaderboard.png" not in images:
        images["leaderboard.png"] = leaderboard_png(
            comp.leaderboard(), palette=colors(_names(comp))
        )
    if "forecasts.png" not in images:
        images["forecasts.png"] = forecasts_png(comp)
    if "weights.png" not in images:
        weights = weights_png(comp)
        if weights is not None:
            images["weights.png"] = weights
    return images


def unscored_cells(scores: pd.DataFrame) -> str:
    """The cells a comparison did not score, per strategy and status with the first reason
    (``target_only skipped in 3 cells (first: ...)``); empty when every cell scored."""
    if "status" not in scores:
        return ""
    out = []
    for (name, status), cells in scores[scores["status"] != "ok"].groupby(
        ["strategy", "status"], sort=False
    ):
        n = len(cells)
        first = str(cells["error"].iloc[0]) if "error" in cells else ""
        out.append(f"{name} {status} in {n} cell{'s' if n > 1 else ''} (first: {first})")
    return "; ".join(out)


@in_task_zone("comp.task")
def report_html(
    comp: Comparison,
    similarity: pd.DataFrame | None = None,
    images: dict[str, bytes] | None = None,
    title: str | None = None,
) -> str:
    """The self-contained HTML report (plots embedded as base64 PNG); ``images`` (by file name)
    saves drawing the plots again; ``title`` defaults to one naming the targets and origins,
    so that reports open side by side can be told apart."""
    images = _images(comp, images)
    title = title or _title(comp)
    esc = html.escape
    task = comp.task
    facts = ""
    if task is not None:
        facts = (
            f"{len(task.targets)} target domain(s), {len(task.sources)} source domain(s), "
            f"horizon {task.horizon}, target history {_history_said(task)}, "
            f"{comp.scores['origin'].nunique()} origin(s)."
        )
        if task.old_regimes:
            starts = sorted({pd.Timestamp(t) for t in task.regime_start.values()})
            facts += (
                f" Regime change (regime_start) in {len(task.old_regimes)} target domain(s), "
                f"from {', '.join(period_text(t) for t in starts)}: their periods before it are "
                "source domains of their own (old regimes)."
            )
    board = comp.leaderboard()
    qcols = interval_columns(board)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1><p class='note'>{esc(facts)}</p>",
        # 1. the leaderboard
        "<h2>Leaderboard</h2>",
        "<p class='note'>Mean and spread of each metric over targets and origins. WAPE: the "
        "absolute errors over a target's series and steps divided by its sales (0.10: off by "
        "a tenth); MAE and RMSE in sales units; MASE and RMSSE: errors over the one-step naive "
        "error of the history the model saw (below 1: better than repeating the last period); "
        "bias: positive means over-forecasting. wins: targets on which the strategy has the "
        "lowest mean WAPE of those that scored all the target's cells; wape_vs_target_only "
        "below 1 means transfer helped; wape_gap (paired, over the wape_gap_cells both scored) "
        "within its 95 % interval (Student's t: 12.7 wape_gap_se at 2 cells, 2.26 at 10) means "
        "the leader's lead is within the noise. An empty cell "
        "has no figure: wape_gap_se for the leader itself and over fewer than two shared "
        "cells, wape_vs_target_only when target_only scored none of the strategy's cells (it "
        "was not compared, or was skipped before launch), MASE, RMSSE and sql before launch "
        "(no history to scale by).</p>",
        _table(board.drop(columns=qcols), "no scores", wide=True),  # plugins add metrics
    ]
    tied, alone = tied_with_leader(board), unmeasured(board)
    if tied:
        parts.append(
            f"<p class='note'>No clear difference from {esc(board['strategy'].iloc[0])} "
            f"(gap within its 95 % interval): {esc(', '.join(tied))}.</p>"
        )
    if alone:
        parts.append(
            f"<p class='note'>One cell shared with {esc(board['strategy'].iloc[0])}, no "
            f"standard error: the backtest cannot tell {esc(', '.join(alone))} from it.</p>"
        )
    for group in same_forecasts(comp.forecasts):
        parts.append(
            f"<p class='note'>The same forecasts in every cell (one forecast, not "
            f"{len(group)}): {esc(', '.join(group))}.</p>"
        )
    unscored = unscored_cells(comp.scores)
    if unscored:
        parts.append(f"<p class='note'>Cells not scored: {esc(unscored)}.</p>")
    if qcols:  # the scores of the whole forecast, then each level's: two narrow tables
        levels = [c for c in qcols if c.startswith("pinball_")]
        whole = [c for c in qcols if c not in levels]
        parts += [
            "<h3>Quantile forecasts</h3>",
            _table(board[["strategy", *whole]], "no quantile scores", wide=True),
        ]
        if levels:
            parts.append(_table(board[["strategy", *levels]], "", wide=True))
    parts += [
        _img(images["leaderboard.png"], "leaderboard: mean WAPE per strategy"),
        "<h3>Per target (mean WAPE)</h3>",
        _table(per_target_table(comp.scores), "no scores"),
    ]
    # 2. what was chosen for each target, and why
    sentences = choice_sentences(comp, similarity)
    sel = latest_selection(comp.selection)
    if sel.empty:
        parts += [
            "<h2>What was chosen for each target</h2>",
            "<p class='note'>auto was not part of this comparison: the strategy with the "
            "lowest mean WAPE per target, in hindsight.</p>",
        ]
    else:
        parts += [
            "<h2>Strategy selection (auto): what was chosen for each target, and why</h2>",
            f"<p class='note'>auto weighs its candidates per target from source replays "
            f"{esc(_at_origin(sel))}; {esc(_unscored_candidates(comp))}"
            "selection.csv holds every origin.</p>",
        ]
    if not sentences:
        parts.append("<p class='empty'>no scores</p>")
    else:
        first, rest = sentences[:MAX_SENTENCES], sentences[MAX_SENTENCES:]
        parts.append("<ul class='choice'>" + "".join(f"<li>{s}</li>" for s in first) + "</ul>")
        if rest:
            more = "<ul class='choice'>" + "".join(f"<li>{s}</li>" for s in rest) + "</ul>"
            parts.append(_details(f"{len(rest)} more target(s)", more))
    if "weights.png" in images:
        parts.append(_img(images["weights.png"], "auto's weights per target"))
    if len(comp.selection):
        parts += [
            "<h3>Selection regret (auto against the best single strategy in hindsight)</h3>",
            _table(selection_regret(comp.scores), _no_regret(comp.scores)),
            _details(
                "auto's evidence per candidate: weight, mean replayed WAPE, inner WAPE",
                _table(evidence_table(comp.selection), "no evidence"),
            ),
        ]
        meta = meta_table(comp.selection)
        if len(meta):
            parts.append(
                _details("the targets' meta-features auto saw", _table(meta, "", wide=True))
            )
    # 3. the forecasts of the series that matter
    shown = series_that_matter(comp)
    bands = forecast_intervals(comp.forecasts) if len(comp.forecasts) else []
    pcts = sorted((p for _, _, p in bands), key=float)
    shaded = " and ".join(f"{p} % interval" for p in pcts)
    banded = _banded(comp) if pcts else None
    alt = "forecasts of the latest origin against the actual sales: " + ", ".join(
        uid for uid, _ in shown
    )
    alt += f"; fan charts of {banded}'s {shaded}" if pcts else ""
    parts.append("<h2>Forecasts</h2>")
    if shown:
        listed = "; ".join(f"{esc(uid)} ({esc(why)})" for uid, why in shown)
        parts.append(f"<p class='note'>The series that matter most at the latest origin: {listed}.")
        if pcts:
            parts.append(
                f" Shaded around {esc(str(banded))}'s line (auto's where it ran, else the "
                f"leader's), lighter for wider, its central {shaded}."
            )
        if regime_changes(task):
            parts.append(
                " A dashed vertical line marks a target's regime change; the history before it "
                "is the old regime, a source domain of its own."
            )
        parts.append("</p>")
    parts.append(_img(images["forecasts.png"], alt))
    # 4. the source replays
    summary = replay_summary(comp.replays, comp.selection)
    if len(comp.selection):
        parts += [
            "<h2>Source replays (auto's evidence)</h2>",
            "<p class='note'>The source domains replayed being new with the targets' history "
            "length (n), before each origin: each candidate's mean replayed WAPE over the replayed "
            "domain-cuts auto's weights read, and the mean weight auto gave it over the targets "
            "of that origin and history length (empty for a strategy auto did not weigh there: "
            "one replayed for the prediction intervals only, or one that needs the target's "
            "history, before launch; replays.csv holds every row).</p>",
        ]
    elif not len(summary):
        parts.append("<h2>Source replays</h2>")
    else:
        summary = summary.drop(columns="mean_weight")
        parts += [
            "<h2>Source replays (the prediction intervals' evidence)</h2>",
            "<p class='note'>The source domains replayed being new with the targets' history "
            "length (n), before each origin, to calibrate the prediction intervals: each "
            "strategy's mean replayed WAPE over the replayed domain-cuts, and the naive level's, "
            "the scale the intervals are measured on, compared or not (replays.csv holds every "
            "row).</p>",
        ]
    parts += [
        _table(
            summary,
            "no replays"
            + ("" if len(comp.selection) else ": neither auto nor prediction intervals ran"),
        ),
        # 5. the similarity diagnostics
        "<h2>Source/target similarity</h2>",
        "<p class='note'>domain_auc: 0.5 = the domains cannot be told apart, 1 = fully "
        "separable (a target like its sources scores about 0.6-0.8); psi/ks: per-feature "
        "drift; season_corr: correlation of the seasonal "
        "profiles (by week of year, month or quarter, as the frequency has it; none for "
        "yearly data); scale_ratio: target size over the median source; season_unseen: the "
        "horizon holds a season (by the sources' seasonal index) the target never showed; "
        "season_gap: the WAPE a forecast within the target's seen range must lose to it; "
        "season_shown: the sources' index moves over the target's periods (where it does not, "
        "season_corr measures noise). An empty cell could not be measured: season_corr needs "
        "the target to have sold in several periods of the year (8 weeks or months, all 4 "
        "quarters), domain_auc and psi/ks at least 4 training rows of the target.</p>",
        _table(_drop(similarity, REGIME_COLUMNS), "not computed", wide=True),
    ]
    if similarity is not None and "regime_level_ratio" in similarity:
        regimes = similarity[similarity["old_regime"].fillna("").astype(str) != ""]
        parts += [
            "<h3>New regime against old regime</h3>",
            "<p class='note'>Each target with a regime change against its own old regime, on "
            "measures that need no shared date: regime_level_ratio: the new regime's mean total "
            "per period over the old regime's in the same weeks (months, quarters) of the year "
            "before the change; regime_psi/regime_ks: distribution shift of the sales, each "
            "series over its old-regime mean there; regime_season_corr: correlation of the two "
            "regimes' seasonal profiles.</p>",
            _table(regimes[["target", *REGIME_COLUMNS]], "no old regime", wide=True),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def _title(comp: Comparison) -> str:
    """``transfercast comparison: <up to 3 targets> at <origins>``."""
    targets = [str(t) for t in dict.fromkeys(comp.scores.get("target", []))]
    said = ", ".join(targets[:3]) + (f" and {len(targets) - 3} more" if len(targets) > 3 else "")
    origins = sorted({pd.Timestamp(o) for o in comp.scores.get("origin", [])})
    if origins:
        span = period_text(origins[0])
        span += f" to {period_text(origins[-1])}" if len(origins) > 1 else ""
        said += f" at {span}"
    return f"transfercast comparison: {said}" if targets else "transfercast comparison"


def _drop(frame: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame | None:
    """``frame`` without those of ``columns`` it has."""
    if frame is None:
        return None
    return frame.drop(columns=[c for c in columns if c in frame])


@in_task_zone("comp.task")
def write_compare_report(
    comp: Comparison,
    directory: Path,
    origin: Any = None,
    plugins: Sequence[str] | None = None,
) -> list[Path]:
    """Write what :func:`write_report` writes, with ``similarity.csv`` from the diagnostics at
    ``origin`` (default: the comparison's latest) and the similarity hooks of ``plugins``
    (default: the modules the comparison loaded). The comparison's own tables are written
    already: a failure here is a warning, never an error, and loses nothing."""
    from transfercast.data import DataWarning
    from transfercast.similarity import similarity
    from transfercast.strategy import PluginError

    plugins = comp.plugins if plugins is None else plugins
    sim = None
    if comp.task is not None and len(comp.scores):
        origin = pd.Timestamp(comp.scores["origin"].max() if origin is None else origin)
        try:
            with gathered_warnings() as said:  # the comparison said its data's, at this origin
                try:
                    sim = similarity(comp.task, origin, plugins=plugins)
                except PluginError as exc:  # a plugin's columns are lost, not the built-in ones
                    warnings.warn(f"{exc}; similarity.csv is written without them", stacklevel=2)
                    sim = similarity(comp.task, origin, plugins=plugins, hooks=False)
            for w in said or []:
                if not issubclass(w.category, DataWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        except Exception as exc:  # noqa: BLE001 - diagnostics are optional in a report
            warnings.warn(f"similarity diagnostics failed: {exc}", stacklevel=2)
    try:
        return write_report(comp, directory, sim)
    except Exception as exc:  # noqa: BLE001
        warnings.warn(f"report not written: {exc}", stacklevel=2)
        return []


@in_task_zone("comp.task")
def write_report(
    comp: Comparison, directory: Path, similarity: pd.DataFrame | None = None
) -> list[Path]:
    """Write ``leaderboard.png``, ``forecasts.png``, ``report.html`` and, when available,
    ``weights.png``, ``regret.csv`` and ``similarity.csv`` into ``directory``."""
    directory = Path(directory)
    images = _images(comp, None)
    paths = [write_bytes(data, directory / name) for name, data in images.items()]
    regret = selection_regret(comp.scores)
    if len(regret):
        paths.append(write_csv(in_zone(regret, comp.task, []), directory / "regret.csv"))
    if similarity is not None and len(similarity):
        paths.append(write_csv(in_zone(similarity, comp.task, []), directory / "similarity.csv"))
    paths.append(write_text(report_html(comp, similarity, images), directory / "report.html"))
    return paths
