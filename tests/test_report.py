"""Comparison reports: plots, the self-contained HTML file, and the files `compare` writes."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.cli import to_toml
from transfercast.report import per_target_table, report_html, write_report
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
    expected = {"leaderboard.png", "forecasts.png", "report.html", "similarity.csv", "regret.csv"}
    assert expected <= names
    page = (tmp_path / "report.html").read_text()
    parser = _Collector()
    parser.feed(page)
    assert len(parser.images) == 2 and not parser.external  # nothing to fetch
    for src in parser.images:
        data = _decode(src)
        assert data.startswith(PNG) and len(data) > 5000
    for name in ("leaderboard.png", "forecasts.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG)
    # the PNGs decode to real images of a plausible size
    from matplotlib.image import imread

    img = imread(tmp_path / "forecasts.png")
    assert img.shape[0] > 200 and img.shape[1] > 400


def test_report_holds_every_table(comparison):
    comp, sim = comparison
    page = report_html(comp, sim)
    for heading in (
        "Leaderboard",
        "Per target",
        "Strategy selection",
        "Selection regret",
        "similarity",
    ):
        assert heading in page
    parser = _Collector()
    parser.feed(page)
    tables = parser.tables
    assert len(tables) == 6
    board, per_target, selection, replays, regret, simtab = tables
    assert set(board["strategy"]) == {"target_only", "source_only", "auto"}
    assert list(per_target["target"]) == ["S06", "S07", "S08"]
    chosen = {name for c in selection["chosen"] for name in c.split("+")}
    assert chosen <= {"target_only", "source_only", "naive"}
    assert set(replays["candidate"]) == {"target_only", "source_only", "naive"}
    assert "Source replays" in page
    assert (regret["regret"].astype(float) >= -1e-9).all()
    assert list(simtab["target"]) == ["S06", "S07", "S08"]
    assert re.search(r"<script", page) is None


def test_per_target_table_names_the_best_strategy(comparison):
    comp, _ = comparison
    table = per_target_table(comp.scores).set_index("target")
    wape = comp.scores.pivot_table(index="target", columns="strategy", values="wape")
    # the best one's WAPE is the row's minimum (auto can tie with the strategy it chose)
    best = [wape.loc[t, table.loc[t, "best"]] for t in wape.index]
    np.testing.assert_allclose(best, wape.min(axis=1).to_numpy())
    assert table.loc[wape.index, "best"].isin(wape.columns).all()


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
    assert table_lines and all(len(line) <= 80 for line in res.stdout.splitlines())
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
