"""Comparison reports: plots, the self-contained HTML file, and the files `compare` writes."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser

import matplotlib.colors
import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.cli import to_toml
from transfercast.evaluation import Comparison, selection_regret
from transfercast.intervals import qcol
from transfercast.report import _names as _report_names
from transfercast.report import (
    choice_sentences,
    colors,
    evidence_table,
    forecast_intervals,
    forecasts_figure,
    forecasts_png,
    latest_selection,
    leaderboard_png,
    per_target_table,
    report_html,
    series_that_matter,
    write_report,
)
from transfercast.similarity import similarity

from .conftest import small_project, small_task

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def comparison():
    task = small_task(1.0)
    origin = task.evaluation_origins()[-1]
    comp = tc.compare(
        task,
        ["target_only", "source_only", "auto"],
        origins=[origin],
        params={"auto": {"candidates": ["target_only", "source_only"]}},
    )
    return comp, similarity(task, origin)


class _Collector(HTMLParser):
    """Images, external references and tables (as DataFrames) of an HTML page."""

    def __init__(self):
        super().__init__()
        self.images, self.tags, self.external = [], [], []
        self.tables, self._rows, self._cell = [], None, None

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            header, *body = self._rows
            self.tables.append(pd.DataFrame(body, columns=header))
            self._rows = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "table":
            self._rows = []
        elif tag == "tr":
            self._rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("href", "src"):
            if key in attrs and not str(attrs[key]).startswith("data:"):
                self.external.append(attrs[key])


def _decode(src: str) -> bytes:
    assert src.startswith("data:image/png;base64,")
    return base64.b64decode(src.split(",", 1)[1], validate=True)


def test_report_is_self_contained_and_every_image_decodes(comparison, tmp_path):
    comp, sim = comparison
    paths = write_report(comp, tmp_path, sim)
    names = {p.name for p in paths}
    expected = {"leaderboard.png", "forecasts.png", "weights.png", "report.html"}
    assert expected | {"similarity.csv", "regret.csv"} <= names
    page = (tmp_path / "report.html").read_text()
    parser = _Collector()
    parser.feed(page)
    assert len(parser.images) == 3 and not parser.external  # nothing to fetch
    for src in parser.images:
        data = _decode(src)
        assert data.startswith(PNG) and len(data) > 5000
    for name in ("leaderboard.png", "forecasts.png", "weights.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG)
    # the PNGs decode to real images of a plausible size
    from matplotlib.image import imread

    img = imread(tmp_path / "forecasts.png")
    assert img.shape[0] > 200 and img.shape[1] > 400


def test_report_reads_as_a_story_and_holds_every_table(comparison):
    comp, sim = comparison
    page = report_html(comp, sim)
    # leaderboard, what was chosen and why, forecasts, source replays, similarity: in order
    order = [
        "<h2>Leaderboard",
        "Per target",
        "<h2>Strategy selection",
        "Selection regret",
        "<h2>Forecasts",
        "<h2>Source replays",
        "<h2>Source/target similarity",
    ]
    at = [page.index(heading) for heading in order]
    assert at == sorted(at)
    parser = _Collector()
    parser.feed(page)
    tables = parser.tables
    assert len(tables) == 7
    board, per_target, regret, evidence, meta, replays, simtab = tables
    assert set(board["strategy"]) == {"target_only", "source_only", "auto"}
    assert {"wape_gap", "wape_gap_se"} <= set(board.columns)
    # the strategies the backtest cannot tell from the leader are named under the table
    from transfercast.evaluation import tied_with_leader

    tied = tied_with_leader(comp.leaderboard())
    assert ("No clear difference from" in page) == bool(tied)
    assert all(name in page.split("No clear difference from")[-1] for name in tied)
    # the target is a labelled first column: no empty column left by the pivot's index name
    assert list(per_target.columns) == ["target", "target_only", "source_only", "auto", "best"]
    assert list(per_target["target"]) == ["S06", "S07", "S08"]
    assert all(v != "" for v in per_target.to_numpy().ravel())
    assert (regret["regret"].astype(float) >= -1e-9).all()
    assert set(evidence["candidate"]) == {"target_only", "source_only", "last_value", "naive"}
    weights = evidence.assign(w=evidence["weight"].astype(float)).groupby("target")["w"].sum()
    np.testing.assert_allclose(weights, 1.0, atol=2e-3)
    assert list(meta["target"]) == ["S06", "S07", "S08"]
    assert set(replays["candidate"]) == {"target_only", "source_only", "last_value", "naive"}
    assert list(simtab["target"]) == ["S06", "S07", "S08"]
    assert re.search(r"<script", page) is None
    # one sentence per target names what auto chose and carries its reason
    sentences = choice_sentences(comp)
    assert len(sentences) == 3
    for sentence, (_, row) in zip(sentences, comp.selection.iterrows(), strict=True):
        assert sentence.startswith(f"<b>{row['target']}</b>: auto ")
        assert all(name in sentence for name in row["chosen"].split("+"))
        assert "Why: " in sentence and "In hindsight" in sentence


def test_without_auto_each_target_names_its_best_strategy(comparison):
    comp, _ = comparison
    scores = comp.scores[comp.scores["strategy"] != "auto"]
    plain = Comparison(scores=scores, forecasts=comp.forecasts.iloc[:0], task=comp.task)
    best = per_target_table(scores).set_index("target")["best"]
    sentences = choice_sentences(plain)
    assert [s.split("</b>")[0] for s in sentences] == [f"<b>{t}" for t in best.index]
    assert all(
        f": {best[t]} had the lowest mean WAPE" in s
        for t, s in zip(best.index, sentences, strict=True)
    )
    page = report_html(plain, images={"leaderboard.png": PNG, "forecasts.png": PNG})
    assert "auto was not part of this comparison" in page and "weights per target" not in page


def test_the_forecast_chart_shows_the_series_that_matter(comparison):
    comp, _ = comparison
    shown = series_that_matter(comp, 4)
    last = comp.forecasts[comp.forecasts["origin"] == comp.forecasts["origin"].max()]
    sales = last.drop_duplicates(["unique_id", "ds"]).groupby("unique_id")["actual"].sum()
    assert len(shown) == 4
    assert shown[0] == (sales.idxmax(), shown[0][1]) and "largest sales" in shown[0][1]
    assert any("largest error" in why for _, why in shown)
    page = report_html(comp, images={"leaderboard.png": PNG, "forecasts.png": PNG})
    assert f"{sales.idxmax()} ({shown[0][1]})" in page


def test_quantile_columns_draw_fan_charts(comparison):
    comp, _ = comparison
    fc = comp.forecasts.copy()
    for tau, z in ((0.1, -1.28), (0.9, 1.28), (0.025, -1.96), (0.975, 1.96)):
        fc[qcol(tau)] = fc["forecast"] * (1 + 0.1 * z)
    fan = replace(comp, forecasts=fc)
    png = forecasts_png(fan)
    assert png.startswith(PNG) and png != forecasts_png(comp)
    # one strategy's fans (auto's), not one per strategy blending into colours no line has
    fig = forecasts_figure(fan)
    auto = colors(_report_names(fan))["auto"]
    shades = {
        matplotlib.colors.to_hex(c.get_facecolor()[0][:3])
        for ax in fig.axes
        for c in ax.collections
        if len(c.get_paths())
    }
    assert shades == {auto}
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "80 % interval (auto)" in labels and "95 % interval (auto)" in labels
    page = report_html(fan, images={"leaderboard.png": PNG, "weights.png": PNG})
    parser = _Collector()
    parser.feed(page)
    assert all(_decode(src).startswith(PNG) for src in parser.images)
    assert "80 % interval" in page and "95 % interval" in page
    # the chart's alt text names the series and whose fans; the note too
    assert "fan charts of auto&#x27;s 80 % interval and 95 % interval'" in page
    assert "Shaded around auto's line" in page and "each strategy's line" not in page
    plain = report_html(comp, images={"leaderboard.png": PNG})
    assert "Shaded around" not in plain and "fan charts" not in plain


def test_names_with_dollar_signs_are_drawn_as_written(comparison):
    """A '$' in a strategy name is text, not the start of a formula, in every chart."""
    from matplotlib.text import Text

    comp, _ = comparison
    name = "src $5 and $6 off"
    fc = comp.forecasts.replace({"strategy": {"source_only": name}})
    fig = forecasts_figure(replace(comp, forecasts=fc))
    texts = [t for t in fig.findobj(Text) if t.get_text()]
    assert name in [t.get_text() for t in texts]
    assert not any(t.get_parse_math() for t in texts)
    board = comp.leaderboard().replace({"strategy": {"source_only": name}})
    assert leaderboard_png(board).startswith(PNG)


def test_per_target_table_names_the_best_strategy(comparison):
    comp, _ = comparison
    table = per_target_table(comp.scores).set_index("target")
    wape = comp.scores.pivot_table(index="target", columns="strategy", values="wape")
    # each best one's WAPE is the row's minimum; auto ties with the strategy it chose alone,
    # and both are named, as both count the target in the leaderboard's wins
    for t in wape.index:
        names = table.loc[t, "best"].split(", ")
        assert set(names) <= set(wape.columns)
        tied = wape.loc[t][np.isclose(wape.loc[t], wape.loc[t].min(), rtol=1e-12, atol=0)]
        assert sorted(names) == sorted(tied.index), (t, names)


def test_compare_command_writes_the_report_and_a_narrow_leaderboard(tmp_path):
    raw = small_project(
        tmp_path,
        1.0,
        horizon=6,
        target_history=13,
        windows=1,
        candidates=["target_only", "source_only"],
        output_dir="out",
    )
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = subprocess.run(
        [sys.executable, "-m", "transfercast.cli", "compare", str(tmp_path / "config.toml")],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "TRANSFERCAST_LOAD_PLUGINS": "", "COLUMNS": "80"},
    )
    assert res.returncode == 0, res.stderr
    table_lines = [line for line in res.stdout.splitlines() if "target_only" in line]
    path = f"results written to {tmp_path / 'out'}"
    assert path in res.stdout.splitlines()  # a path is printed whole, never folded
    lines = [line for line in res.stdout.splitlines() if line != path]
    assert table_lines and all(len(line) <= 80 for line in lines)
    assert "…" not in res.stdout  # nothing truncated at 80 columns
    for name in (
        "report.html",
        "leaderboard.png",
        "forecasts.png",
        "similarity.csv",
        "leaderboard.csv",
        "scores.csv",
    ):
        assert (tmp_path / "out" / name).is_file(), name
    page = (tmp_path / "out" / "report.html").read_text()
    parser = _Collector()
    parser.feed(page)
    assert all(_decode(src).startswith(PNG) for src in parser.images)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: written into the page's body once it has loaded, with every <details> opened first
PROBE = """<script>window.addEventListener('load', function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  var b = document.body, bad = [], scrolled = [];
  document.querySelectorAll('img').forEach(function (img, i) {
    if (!(img.complete && img.naturalWidth > 0)) bad.push(i);
  });
  document.querySelectorAll('.wide').forEach(function (w, i) {
    if (w.scrollWidth > w.clientWidth) scrolled.push(i);
  });
  b.setAttribute('data-scroll-width', document.documentElement.scrollWidth);
  b.setAttribute('data-images', document.images.length);
  b.setAttribute('data-bad-images', bad.join(','));
  b.setAttribute('data-scrolled-boxes', scrolled.join(','));
});</script>"""


def _measure(page: str, directory) -> dict[str, str]:
    """Load ``page`` in headless Chromium at 1280 px width; the probe's measurements."""
    probe = directory / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    res = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={directory / 'profile'}",
            "--window-size=1280,900",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    body = re.search(r"<body[^>]*>", res.stdout)
    assert body and "data-scroll-width" in body.group(0), res.stderr[-2000:]
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(0)))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium or chromium-browser binary on PATH")
def test_report_reads_at_1280px_in_a_browser_without_sideways_scrolling(comparison, tmp_path):
    comp, sim = comparison
    write_report(comp, tmp_path, sim)
    page = (tmp_path / "report.html").read_text()
    got = _measure(page, tmp_path)
    assert int(got["scroll-width"]) <= 1280, got  # the page does not scroll sideways
    assert got["scrolled-boxes"] == "", got  # nor does any table in its own box
    assert int(got["images"]) == 3 and got["bad-images"] == "", got  # every image decoded
    # the probe sees a table that is too wide
    wide = page.replace(
        "<th scope='row' class='text'>S06</th>", "<td><div style='width:3000px'></div></td>", 1
    )
    assert wide != page
    assert int(_measure(wide, tmp_path)["scroll-width"]) > 1280


def test_a_wape_worse_than_the_best_never_reads_as_equal_to_it(comparison):
    """auto a hair behind the best single strategy: the sentence shows digits enough to tell
    the two apart, and a table shows a tiny gap with significant digits, never as 0.000."""
    from transfercast.report import _table

    comp, _ = comparison
    scores = comp.scores.copy()
    others = scores[scores["strategy"] != "auto"]
    best = others.groupby(["target", "origin"])["wape"].min()
    mine = scores["strategy"] == "auto"
    keys = list(zip(scores.loc[mine, "target"], scores.loc[mine, "origin"], strict=True))
    scores.loc[mine, "wape"] = [best[k] + 0.0002 for k in keys]
    sentences = choice_sentences(replace(comp, scores=scores))
    for sentence in sentences:
        found = re.search(r"its WAPE was ([\d.]+) against ([\d.]+)", sentence)
        assert found and found.group(1) != found.group(2)
    assert "0.00019" in _table(pd.DataFrame({"regret": [0.00019, 0.5]}), "")


def test_every_chart_says_what_it_draws(comparison, monkeypatch):
    """The weights chart names the origin its weights are at, the forecast chart's values are
    the target column, and the leaderboard's whiskers are the paired gap's 95 % interval
    (what "no clear difference" reads; before: one unpaired standard deviation, which made a
    strategy clearly behind look tied), each bar in its strategy's colour of the report."""
    report = _figures(monkeypatch)
    comp, _ = comparison
    origin = pd.Timestamp(comp.selection["origin"].max()).date()
    weights = report.weights_png(comp)
    assert weights.axes[0].get_title() == f"auto's weights per target at origin {origin}"
    forecasts = forecasts_figure(comp)
    assert forecasts.axes[0].get_ylabel() == comp.task.target
    # one legend beside the charts, none over a chart; the actual drawn over the forecasts
    assert len(forecasts.legends) == 1 and all(ax.get_legend() is None for ax in forecasts.axes)
    for ax in [ax for ax in forecasts.axes if ax.get_visible()]:
        lines = {line.get_label(): line.get_zorder() for line in ax.get_lines()}
        assert lines["actual"] > max(z for k, z in lines.items() if k != "actual")
    table = comp.leaderboard()
    palette = colors(table["strategy"])
    board = report.leaderboard_png(table, palette=palette)
    ax = board.axes[0]
    assert "whiskers: 95 % interval of the paired gap to the leader" in ax.get_xlabel()
    bars = sorted(ax.patches, key=lambda p: -p.get_y())  # the best on top
    ranked = table.dropna(subset=["wape"]).sort_values("wape")
    for bar, (_, row) in zip(bars, ranked.iterrows(), strict=True):
        assert bar.get_width() == pytest.approx(row["wape"])
        assert matplotlib.colors.to_hex(bar.get_facecolor()) == palette[row["strategy"]]
    (whiskers,) = [c for c in ax.collections if len(c.get_segments()) == len(bars)]
    spans = sorted(abs(seg[1][0] - seg[0][0]) for seg in whiskers.get_segments())
    from transfercast.evaluation import noise_band

    cells = table["wape_gap_cells"].astype(float)
    band = pd.Series(noise_band(table["wape_gap_se"], cells), index=table.index)
    expected = sorted(2 * band.reindex(ranked.index).fillna(0).to_numpy())
    assert max(expected) > 0
    np.testing.assert_allclose(spans, expected)


def test_the_empty_cells_of_the_leaderboard_and_similarity_tables_are_explained(comparison):
    comp, sim = comparison
    page = report_html(comp, sim, images={"leaderboard.png": PNG, "forecasts.png": PNG})
    parser = _Collector()
    parser.feed(page)
    board = parser.tables[0]
    assert board.loc[0, "wape_gap_se"] == ""  # the leader's own gap has no standard error
    assert "wape_gap_se for the leader itself" in page
    assert "An empty cell could not be measured: season_corr needs" in page


def test_a_small_weight_reads_as_under_one_percent_not_zero(comparison):
    comp, _ = comparison
    sel = comp.selection.copy()
    sel["chosen"], sel["weights"] = "source_only+target_only", "0.997;0.003"
    sentences = choice_sentences(replace(comp, selection=sel))
    assert all("source_only (100 %) and target_only (&lt;1 %)" in s for s in sentences)


def test_a_strategy_skipped_at_an_origin_is_not_ranked_on_the_others_mean():
    """S08: source_only scored both origins (0.144, 0.050), target_only only the second
    (0.065, its first skipped): source_only is best though target_only's one mean is lower."""
    scores = pd.DataFrame(
        {
            "target": ["S08"] * 4,
            "strategy": ["source_only", "target_only"] * 2,
            "origin": pd.to_datetime(["2021-01-22"] * 2 + ["2021-03-05"] * 2),
            "status": ["ok", "skipped", "ok", "ok"],
            "wape": [0.144, np.nan, 0.050, 0.065],
        }
    )
    assert per_target_table(scores).set_index("target").loc["S08", "best"] == "source_only"
    plain = Comparison(scores=scores, forecasts=pd.DataFrame())
    (sentence,) = choice_sentences(plain)
    assert sentence == (
        "<b>S08</b>: source_only had the lowest mean WAPE, 0.097, ahead of target_only (0.065, "
        "over 1 of the 2 origins): one origin scored by both, so no telling whether the "
        "difference is more than noise."
    )


def test_writing_a_comparison_first_removes_every_earlier_result_file(comparison, tmp_path):
    """The report and charts of an earlier run go before the new tables are written, so a run
    interrupted between its tables and its report leaves no earlier report beside them."""
    from transfercast.results import COMPARISON_FILES, write_comparison

    comp, _ = comparison
    for name in [*COMPARISON_FILES, "notes.txt"]:
        (tmp_path / name).write_text("from an earlier run\n")
    written = {p.name for p in write_comparison(comp, tmp_path)}
    left = {p.name for p in tmp_path.iterdir()}
    assert left == written | {"notes.txt"} and "report.html" not in left
    assert "scores.csv" in written
    assert (tmp_path / "notes.txt").read_text() == "from an earlier run\n"


def test_a_comparison_in_a_script_writes_what_the_compare_command_writes(comparison, tmp_path):
    """``Comparison.write``: the tables, the report and its charts, the similarity diagnostics
    at the latest origin; an earlier run's files replaced, the user's own kept."""
    comp, sim = comparison
    out = tmp_path / "made" / "here"
    (tmp_path / "made").mkdir()
    (tmp_path / "made" / "here").mkdir()
    (out / "weights.png").write_bytes(b"from an earlier run")
    (out / "notes.txt").write_text("mine\n")
    written = {p.name for p in comp.write(out)}
    assert {
        "scores.csv",
        "forecasts.csv",
        "leaderboard.csv",
        "selection.csv",
        "replays.csv",
    } < written
    assert {"report.html", "leaderboard.png", "forecasts.png", "similarity.csv"} < written
    assert {p.name for p in out.iterdir()} == written | {"notes.txt"}
    assert (out / "notes.txt").read_text() == "mine\n"
    assert (out / "weights.png").read_bytes().startswith(PNG)  # auto's weights, drawn anew
    scores = pd.read_csv(out / "scores.csv")
    assert scores["wape"].tolist() == pytest.approx(comp.scores["wape"].tolist())
    table = pd.read_csv(out / "similarity.csv")
    assert table["domain_auc"].tolist() == pytest.approx(sim["domain_auc"].tolist())
    assert "source_only" in (out / "report.html").read_text()
    plain = tmp_path / "tables"
    assert (
        {p.name for p in comp.write(plain, report=False)}
        == {p.name for p in plain.iterdir()}
        == written
        - {
            "report.html",
            "leaderboard.png",
            "forecasts.png",
            "weights.png",
            "similarity.csv",
            "regret.csv",
        }
    )


def test_a_comparison_written_to_a_file_is_refused_before_anything_is_written(comparison, tmp_path):
    from transfercast.outputs import OutputError

    comp, _ = comparison
    (tmp_path / "results").write_text("a file\n")
    with pytest.raises(OutputError, match=r"^folder .*results is a file; choose another folder$"):
        comp.write(tmp_path / "results")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.html").mkdir()
    with pytest.raises(
        OutputError, match=r"report.html in it is a folder, .*choose another folder"
    ):
        comp.write(tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report.html"]


def test_compare_keeps_its_tables_and_says_so_when_the_report_fails(tmp_path, monkeypatch):
    from transfercast import report

    from .clirun import invoke

    def broken(*args, **kwargs):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(report, "write_report", broken)
    raw = small_project(tmp_path, horizon=4, target_history=13, windows=1, output_dir="out")
    (tmp_path / "config.toml").write_text(to_toml(raw))
    res = invoke("compare", tmp_path / "config.toml", "--strategies", "target_only")
    assert res.code == 0, res.err
    assert "warning: report not written: no fonts" in res.err.splitlines()
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"scores.csv", "leaderboard.csv"}
    assert not (tmp_path / "out" / "report.html").exists()


def test_auto_alone_is_scored_and_the_report_says_why_there_is_no_regret(comparison):
    """auto compared alone: no single strategy to measure it against (it read "auto was not
    scored", which was untrue)."""
    comp, _ = comparison
    alone = comp.scores[comp.scores["strategy"] == "auto"]
    plain = Comparison(scores=alone, forecasts=comp.forecasts.iloc[:0], selection=comp.selection)
    page = report_html(plain, images={"leaderboard.png": PNG})
    assert "no single strategy was compared beside auto" in page
    assert "auto was not scored" not in page


# the figures and sentences a reader takes at their word
IMAGES = {"leaderboard.png": PNG, "forecasts.png": PNG, "weights.png": PNG}


def _figures(monkeypatch):
    import transfercast.report as report

    monkeypatch.setattr(report, "_png", lambda fig: fig)
    return report


def _two_origins(comp):
    """The comparison with a copy of its forecasts and selection at an earlier origin, where
    the ranking of sales is reversed and auto chose target_only alone."""
    fc = comp.forecasts
    early = fc.assign(origin=fc["origin"] - pd.Timedelta(weeks=8))
    rank = fc.groupby("unique_id")["actual"].transform("sum").rank(method="dense")
    early["actual"] = 1e6 / rank  # the smallest series now sells the most
    sel = comp.selection
    early_sel = sel.assign(
        origin=sel["origin"] - pd.Timedelta(weeks=8), chosen="target_only", weights="1.000"
    )
    return replace(
        comp,
        forecasts=pd.concat([early, fc], ignore_index=True),
        selection=pd.concat([sel, early_sel], ignore_index=True),
    )


def test_the_leaderboard_chart_puts_the_best_strategy_on_top(comparison, monkeypatch):
    report = _figures(monkeypatch)
    comp, _ = comparison
    board = comp.leaderboard()
    ax = report.leaderboard_png(board).axes[0]
    top = max(ax.patches, key=lambda p: p.get_y())
    assert top.get_width() == pytest.approx(board["wape"].min())


def test_fan_chart_intervals_come_widest_first(comparison):
    comp, _ = comparison
    fc = comp.forecasts.copy()
    from transfercast.intervals import qcol

    for tau in (0.1, 0.9, 0.025, 0.975):
        fc[qcol(tau)] = fc["forecast"]
    assert [pct for _, _, pct in forecast_intervals(fc)] == ["95", "80"]


def test_the_largest_error_series_has_the_highest_mean_wape_over_strategies(comparison):
    comp, _ = comparison
    last = comp.forecasts[comp.forecasts["origin"] == comp.forecasts["origin"].max()]
    per = (
        last.assign(e=(last["forecast"] - last["actual"]).abs(), a=last["actual"].abs())
        .groupby(["unique_id", "strategy"])[["e", "a"]]
        .sum()
    )
    wape = (per["e"] / per["a"]).groupby(level=0).mean()
    shown = dict(series_that_matter(comp, 4))
    assert re.search(r"(^| and )largest error", shown[wape.idxmax()])


def test_the_report_shows_the_latest_origin(comparison, monkeypatch):
    comp, _ = comparison
    both = _two_origins(comp)
    latest = comp.forecasts["origin"].max()
    last = comp.forecasts[comp.forecasts["origin"] == latest]
    sales = last.drop_duplicates(["unique_id", "ds"]).groupby("unique_id")["actual"].sum()
    assert series_that_matter(both, 4)[0][0] == sales.idxmax()
    fig = forecasts_figure(both)
    assert fig._suptitle.get_text() == f"Forecasts from origin {pd.Timestamp(latest).date()}"
    assert (latest_selection(both.selection)["origin"] == latest).all()
    sentences = choice_sentences(both)
    sel = comp.selection[comp.selection["target"].astype(str) == "S07"]
    members = str(sel["chosen"].iloc[-1]).split("+")  # the latest origin's, not target_only alone
    assert sentences[1].startswith("<b>S07</b>: auto ") and "chose target_only" not in sentences[1]
    assert all(m in sentences[1] for m in members), (members, sentences[1])


def test_the_history_line_stops_at_the_origin(comparison):
    comp, _ = comparison
    origin = comp.forecasts["origin"].max()
    for ax in forecasts_figure(comp).axes:
        if not ax.get_visible():
            continue
        hist = next(line for line in ax.get_lines() if line.get_label() == "history")
        assert pd.to_datetime(hist.get_xdata()).max() <= origin


def test_the_weights_chart_stacks_each_targets_weights_to_one(comparison, monkeypatch):
    report = _figures(monkeypatch)
    comp, _ = comparison
    ax = report.weights_png(comp).axes[0]
    rights = pd.Series([p.get_x() + p.get_width() for p in ax.patches])
    rows = pd.Series([round(p.get_y() + p.get_height() / 2) for p in ax.patches])
    np.testing.assert_allclose(rights.groupby(rows).max(), 1.0, atol=2e-3)


def test_the_per_target_table_shows_the_mean_over_origins():
    scores = pd.DataFrame(
        {
            "target": ["S08"] * 4,
            "strategy": ["source_only", "target_only"] * 2,
            "origin": pd.to_datetime(["2021-01-22"] * 2 + ["2021-03-05"] * 2),
            "status": ["ok"] * 4,
            "wape": [0.144, 0.2, 0.050, 0.065],
        }
    )
    row = per_target_table(scores).set_index("target").loc["S08"]
    assert row["source_only"] == pytest.approx(0.097) and row["target_only"] == pytest.approx(
        0.1325
    )
    # the targets in their own order, not as text sorts them (S100 before S11)
    many = pd.concat([scores.assign(target=t) for t in ("S11", "S100", "S12", "S9")])
    assert list(per_target_table(many)["target"]) == ["S11", "S100", "S12", "S9"]


def test_hindsight_sentences_say_matched_only_at_zero_regret_and_name_the_right_wape(
    comparison,
):
    comp, _ = comparison
    regret = selection_regret(comp.scores).set_index("target")
    for sentence in choice_sentences(comp):
        target = re.match(r"<b>(\w+)</b>", sentence).group(1)
        r = regret.loc[target]
        assert ("matched or beat every single strategy compared" in sentence) == (
            r["regret"] <= 1e-9
        )
        if r["regret"] > 1e-9:
            assert f"its WAPE was {r['wape']:.3f} against {r['best_wape']:.3f}" in sentence


def test_a_zero_weight_candidate_is_not_named_as_blended(comparison):
    comp, _ = comparison
    sel = comp.selection.assign(chosen="source_only+target_only", weights="1.000;0.000")
    for sentence in choice_sentences(replace(comp, selection=sel)):
        assert "auto chose source_only (" in sentence and "blended" not in sentence


def test_the_evidence_table_keeps_replayed_and_inner_wape_apart(comparison):
    comp, _ = comparison
    ev = evidence_table(comp.selection).set_index(["target", "candidate"])
    for _, row in comp.selection.iterrows():
        for cand in ("target_only", "source_only"):
            got = ev.loc[(row["target"], cand)]
            assert got["replayed_wape"] == pytest.approx(row[f"replay_{cand}"])
            assert got["inner_wape"] == pytest.approx(row[f"inner_{cand}"])


def test_the_report_header_counts_targets_sources_and_origins(comparison):
    comp, sim = comparison
    page = report_html(comp, sim, images=IMAGES)
    assert "3 target domain(s), 5 source domain(s), horizon 8" in page
    assert ", 1 origin(s)." in page


def test_every_targets_sentence_is_in_the_page_when_some_fold_away(comparison, monkeypatch):
    import transfercast.report as report

    comp, sim = comparison
    monkeypatch.setattr(report, "MAX_SENTENCES", 2)
    page = report_html(comp, sim, images=IMAGES)
    assert "1 more target(s)" in page
    assert all(f"<li><b>{t}</b>: auto " in page for t in ("S06", "S07", "S08"))


def test_a_runner_up_scored_at_every_origin_gets_no_origin_count(comparison):
    comp, _ = comparison
    scores = comp.scores[comp.scores["strategy"] != "auto"]
    plain = Comparison(scores=scores, forecasts=comp.forecasts.iloc[:0], task=comp.task)
    assert not any(" origins)" in s for s in choice_sentences(plain))


def test_the_regime_columns_have_their_own_table_of_changed_targets_only(comparison):
    from transfercast.similarity import REGIME_COLUMNS

    from .test_report import _Collector

    comp, sim = comparison
    sim = sim.assign(
        regime_start=pd.Timestamp("2020-12-04"),
        old_regime=["", "S07 (before 2020-12-04)", ""],
        regime_level_ratio=[np.nan, 1.3, np.nan],
        regime_psi=[np.nan, 2.0, np.nan],
        regime_ks=[np.nan, 0.5, np.nan],
        regime_season_corr=[np.nan, 0.9, np.nan],
    )
    page = report_html(comp, sim, images=IMAGES)
    parser = _Collector()
    parser.feed(page)
    simtab, regimes = parser.tables[-2:]
    assert not set(REGIME_COLUMNS) & set(simtab.columns)
    assert list(regimes["target"]) == ["S07"]


def test_the_regime_sentence_gives_the_new_level_over_the_old():
    from types import SimpleNamespace

    from transfercast.report import regime_sentence

    task = SimpleNamespace(
        old_regimes={"S07": "S07 (before 2020-12-04)"},
        regime_start={"S07": pd.Timestamp("2020-12-04")},
        target_history=None,
    )
    sim = pd.DataFrame({"target": ["S07"], "regime_level_ratio": [1.3]})
    assert "Its new regime sells 1.30 times its old regime's level" in regime_sentence(
        task, "S07", sim
    )


def test_a_negative_regret_reads_negative_in_the_report(comparison):
    from .test_report import _Collector

    comp, _ = comparison
    scores = comp.scores.copy()
    best = scores[scores["strategy"] != "auto"].groupby("target")["wape"].min()
    mine = scores["strategy"] == "auto"
    scores.loc[mine, "wape"] = scores.loc[mine, "target"].map(best) - 0.01
    parser = _Collector()
    parser.feed(report_html(replace(comp, scores=scores), images=IMAGES))
    regret = next(t for t in parser.tables if "regret" in t.columns)
    np.testing.assert_allclose(regret["regret"].astype(float), -0.01, atol=1e-6)


def test_the_charts_do_not_follow_the_sessions_matplotlib_style(comparison):
    """A notebook that set a style (``plt.style.use("ggplot")``) gets the same report charts."""
    import matplotlib

    from transfercast.report import weights_png

    comp, _ = comparison
    drawn = [
        leaderboard_png(comp.leaderboard()),
        forecasts_png(comp),
        weights_png(comp),
    ]
    with matplotlib.rc_context({"axes.facecolor": "#ff0000", "lines.linewidth": 7.0}):
        again = [
            leaderboard_png(comp.leaderboard()),
            forecasts_png(comp),
            weights_png(comp),
        ]
    assert again == drawn


def test_a_float_column_keeps_its_decimals_when_its_values_happen_to_be_whole():
    """A gap of 0 and a weight of 1 (before launch, every strategy the same) print as 0.000 and
    1.000, as in any other report (before: 0 and 1); counts held as floats print whole."""
    from transfercast.report import _table

    frame = pd.DataFrame(
        {"strategy": ["a", "b"], "wape_gap": [0.0, 0.0], "weight": [1.0, 0.0],
         "cells": [12.0, np.nan], "meta_history": [0.0, 0.0], "wape": [0.1234, 0.2]}
    )  # fmt: skip
    body = _table(frame, "").split("<tbody>")[1]
    cells = re.findall(r"<t[dh][^>]*>([^<]*)</t[dh]>", body)  # the first column: row headers
    assert cells == [
        *("a", "0.000", "1.000", "12", "0", "0.123"),
        *("b", "0.000", "0.000", "", "0", "0.200"),
    ]


def test_the_selection_note_names_the_candidates_auto_weighed_but_the_run_did_not_score(
    comparison,
):
    """auto weighs the model-free references besides target_only and source_only; none of
    them was compared on its own, so the note says the hindsight figures cover the
    leaderboard's strategies only (before: "matched or beat every single strategy" read as
    covering strategies no cell scored)."""
    comp, sim = comparison
    page = report_html(comp, sim, images={"leaderboard.png": PNG, "forecasts.png": PNG})
    sel = comp.selection
    cands = [c[7:] for c in sel.columns if c.startswith("replay_") and sel[c].notna().any()]
    unscored = [c for c in cands if c not in {"target_only", "source_only", "auto"}]
    assert unscored and set(unscored) <= {"seasonal_naive", "last_value", "naive"}
    assert (
        f"its candidates {', '.join(unscored)} were weighed but not compared on their own, so "
        "the hindsight figures below cover the strategies of the leaderboard only;" in page
    )
    only_scored = replace(
        comp, selection=comp.selection.drop(columns=[f"replay_{c}" for c in unscored])
    )
    page = report_html(only_scored, sim, images={"leaderboard.png": PNG, "forecasts.png": PNG})
    assert "were weighed but not compared" not in page
    # a candidate without a replayed figure anywhere (before launch) was left out, not weighed
    assert len(unscored) > 1, unscored
    blank = replace(comp, selection=sel.assign(**{f"replay_{unscored[0]}": np.nan}))
    page = report_html(blank, sim, images={"leaderboard.png": PNG, "forecasts.png": PNG})
    assert f"its candidates {', '.join(unscored[1:])} were weighed but" in page


def test_a_target_won_within_the_noise_says_so():
    """T1: a leads b by 0.003 over three origins whose gaps scatter more than that: the
    sentence says there is no clear difference (the leaderboard's rule: its 95 % interval);
    T2: b is behind at every origin, and nothing is added (before: a winner named in both)."""
    rows = [
        ("T1", o, s, w)
        for o, wa, wb in [("o1", 0.10, 0.105), ("o2", 0.12, 0.118), ("o3", 0.11, 0.116)]
        for s, w in (("a", wa), ("b", wb))
    ] + [("T2", o, s, w) for o in ("o1", "o2", "o3") for s, w in (("a", 0.1), ("b", 0.2))]
    scores = pd.DataFrame(rows, columns=["target", "origin", "strategy", "wape"]).assign(
        status="ok"
    )
    one, two = choice_sentences(Comparison(scores=scores, forecasts=pd.DataFrame()))
    assert one == (
        "<b>T1</b>: a had the lowest mean WAPE, 0.110, ahead of b (0.113): no clear difference "
        "on this target (gap within its 95 % interval)."
    )
    assert two == "<b>T2</b>: a had the lowest mean WAPE, 0.100, ahead of b (0.200)."
    # one origin: no interval, and the sentence says so rather than name a clear winner
    (once,) = choice_sentences(Comparison(scores=scores[scores["origin"] == "o1"].iloc[:2],
                                          forecasts=pd.DataFrame()))  # fmt: skip
    assert once.endswith("ahead of b (0.105): one origin scored by both, so no telling whether "
                         "the difference is more than noise.")  # fmt: skip


def test_a_horizon_in_a_part_of_the_year_the_target_never_showed_is_said_in_its_sentence():
    """The similarity table's ``season_unseen`` (before: only in the raw table at the end of
    the page) is a sentence of the target's choice, with the least WAPE it implies."""
    rows = [(t, "o1", s, w) for t in ("T1", "T2") for s, w in (("a", 0.1), ("b", 0.2))]
    scores = pd.DataFrame(rows, columns=["target", "origin", "strategy", "wape"])
    sim = pd.DataFrame(
        {"target": ["T1", "T2"], "season_unseen": [True, False], "season_gap": [0.123, 0.0]}
    )
    comp = Comparison(scores=scores.assign(status="ok"), forecasts=pd.DataFrame())
    one, two = choice_sentences(comp, sim)
    assert one.endswith(
        "At the latest origin its horizon holds a part of the year its history never showed (a "
        "forecast held within its history's range makes at least 0.123 WAPE there): what the "
        "sources sold then is the only guide."
    )
    assert "never showed" not in two and "never showed" not in choice_sentences(comp)[0]


def test_the_report_names_the_cells_it_did_not_score(comparison):
    """A skipped or failed cell was in scores.csv only: the leaderboard's means leave it out,
    and a reader of the page could not tell."""
    from transfercast.report import unscored_cells

    comp, _ = comparison
    assert unscored_cells(comp.scores) == ""
    scores = comp.scores.copy()
    rows = scores.index[scores["strategy"] == "target_only"]
    scores.loc[rows, "status"] = "skipped"
    scores.loc[rows, "error"] = "strategy 'target_only' needs the target's own sales history"
    scores.loc[rows, "wape"] = np.nan
    said = unscored_cells(scores)
    n = len(rows)
    assert said == (
        f"target_only skipped in {n} cell{'s' if n > 1 else ''} (first: strategy "
        "'target_only' needs the target's own sales history)"
    )
    page = report_html(replace(comp, scores=scores), images={"leaderboard.png": PNG})
    assert "Cells not scored: target_only skipped in" in page


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) of linear-RGB rows."""
    to_xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                       [0.0193, 0.1192, 0.9505]])  # fmt: skip
    xyz = rgb @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def test_the_report_colours_stay_apart_under_colour_blindness_with_a_line_style_besides():
    """Every two colours of the palette differ by at least 15 (CIE76) as protanopes and
    deuteranopes see them (Machado et al. 2009, full severity); tab10's orange and green came
    to 4.6. The first 36 strategies each get a colour and line style no other has."""
    from transfercast.report import HATCHES, PALETTE, STYLES, styles

    srgb = np.array([[int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)] for h in PALETTE])
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    seen = {
        "protan": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
        "deutan": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                   [-0.011820, 0.042940, 0.968881]],
    }  # fmt: skip
    for kind, m in seen.items():
        lab = _lab(np.clip(linear @ np.array(m).T, 0, 1))
        gaps = np.linalg.norm(lab[:, None] - lab[None], axis=2)[np.triu_indices(len(PALETTE), 1)]
        assert gaps.min() >= 15, (kind, gaps.min())
    names = [f"s{i}" for i in range(36)]
    pairs = {(colors(names)[n], styles(names)[n]) for n in names}
    assert len(pairs) == 36 and len(set(styles(names, HATCHES).values())) == len(STYLES)


def test_a_printed_report_unfolds_its_wide_tables_and_folded_parts(comparison):
    """Print (or save as PDF) cut the scrolling tables at the page edge and left the folded
    evidence out: the print rules undo both."""
    comp, sim = comparison
    page = report_html(comp, sim, images={"leaderboard.png": PNG, "forecasts.png": PNG})
    rules = re.search(r"@media print\{(.*?)\n\}", page, re.S)
    assert rules and ".wide{overflow:visible}" in rules.group(1)
    assert "details::details-content{content-visibility:visible" in rules.group(1)
    title = re.search(r"<title>([^<]*)</title>", page).group(1)
    assert title.startswith("transfercast comparison: S06, S07, S08 at ")  # told apart in tabs


def _scores_by_hand(wapes: dict[str, list[float]]) -> pd.DataFrame:
    """A scores table of target T at three origins, each WAPE given (NaN: a failed cell)."""
    from transfercast.evaluation import METRICS, SCORE_COLUMNS

    origins = pd.to_datetime(["2020-01-03", "2020-02-14", "2020-03-27"])
    rows = []
    for name, values in wapes.items():
        for origin, w in zip(origins, values, strict=True):
            row = dict(target="T", strategy=name, origin=origin, error="", fit_seconds=0.0)
            row.update(status="ok" if np.isfinite(w) else "failed", predict_seconds=0.0)
            rows.append({**row, **dict.fromkeys(METRICS, w)})
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def test_the_leaderboard_charts_dotted_line_is_the_leaders(monkeypatch):
    # X missed a cell and ranks after L and M though its mean is lower: the whiskers are
    # read against L's value, not the board's lowest (before: X's 0.200)
    report = _figures(monkeypatch)
    from transfercast.evaluation import leaderboard

    board = leaderboard(
        _scores_by_hand({"L": [0.35, 0.36, 0.2], "M": [0.37, 0.4, 0.22], "X": [0.1, 0.3, np.nan]})
    )
    assert board["strategy"].iloc[0] == "L"
    lines = report.leaderboard_png(board).axes[0].get_lines()
    (dotted,) = [line for line in lines if line.get_linestyle() == ":"]
    assert dotted.get_xdata()[0] == pytest.approx(board["wape"].iloc[0])


def test_a_strategy_clearly_ahead_on_the_shared_origins_is_not_said_tied():
    scores = _scores_by_hand({"L": [0.35, 0.36, 0.2], "X": [0.1, 0.11, np.nan]})
    comp = Comparison(scores, pd.DataFrame(columns=["strategy", "origin", "unique_id", "ds"]))
    (sentence,) = choice_sentences(comp)
    assert "ahead of X (0.105, over 2 of the 3 origins)" in sentence
    assert "no clear difference" not in sentence


def test_the_report_writes_times_in_the_tasks_zone_as_the_csvs_do():
    """Hourly data read in New York: the report's title and tables give each origin as the
    CSVs do, local with its offset (before: UTC without one, a day later in its date)."""
    rng = np.random.default_rng(0)
    hours = pd.date_range("2021-04-01", periods=24 * 14, freq="h")
    frame = pd.DataFrame(
        [
            (store, hour, 10 + 8 * np.sin(k / 4) + rng.random())
            for store in ["A", "B", "T"]
            for k, hour in enumerate(hours)
            if store != "T" or k >= len(hours) - 24 * 5
        ],
        columns=["store", "time", "sales"],
    )
    features = {"lags": [1, 24], "windows": [24], "level_window": 24, "season_length": 1}
    features["source_window"] = 24 * 7
    task = tc.TransferTask(
        frame, series=["store"], time="time", target="sales", domain="store", targets=["T"],
        horizon=24, freq="h", timezone="America/New_York", features=features,
    )  # fmt: skip
    comp = tc.compare(task, ["naive", "last_value"], evaluate={"windows": 1})
    (utc,) = comp.scores["origin"].unique()  # naive UTC inside; local in the CSVs
    origin = str(pd.Timestamp(utc).tz_localize("UTC").tz_convert("America/New_York"))
    assert origin == "2021-04-13 23:00:00-04:00"
    page = report_html(comp, images={"leaderboard.png": PNG, "forecasts.png": PNG})
    assert f"T at {origin}</title>" in page
