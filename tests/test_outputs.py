"""Output files: written whole (atomically), with the usual permissions, in the format their
name says."""

from __future__ import annotations

import gzip
import os
import stat

import pandas as pd
import pytest

from transfercast.outputs import OutputError, table_format, write_table, write_text


def test_output_files_get_the_permissions_of_the_umask_at_the_time(tmp_path):
    """Not mkstemp's 0600: a shared run folder's readers can read the forecasts; and the
    umask the process has when it writes, not at import (a service that tightens its umask
    after importing transfercast wrote world-readable sales data)."""
    before = os.umask(0o022)
    try:
        path = write_text("x", tmp_path / "out.txt")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        os.umask(0o077)
        path = write_text("x", tmp_path / "private.txt")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        os.umask(before)


@pytest.mark.parametrize(
    "name, fmt",
    [("f.csv", "csv"), ("F.TXT", "csv"), ("f.csv.gz", "csv.gz"), ("f.parquet", "parquet")],
)
def test_a_table_is_written_in_the_format_its_name_says(tmp_path, name, fmt):
    frame = pd.DataFrame({"store": ["S01", "S02"], "forecast": [1.5, 2.25]})
    assert table_format(tmp_path / name) == fmt
    path = write_table(frame, tmp_path / name)
    if fmt == "parquet":
        back = pd.read_parquet(path)
    else:
        opener = gzip.open if fmt == "csv.gz" else open
        with opener(path, "rt") as f:
            back = pd.read_csv(f)
    pd.testing.assert_frame_equal(back, frame)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_a_compressed_name_other_than_csv_gz_is_refused(tmp_path):
    with pytest.raises(OutputError, match=r"unsupported file type '\.gz'"):
        table_format(tmp_path / "f.json.gz")


def test_text_outputs_and_messages_do_not_depend_on_the_locale(tmp_path):
    """Under an ASCII locale (LC_ALL=C without UTF-8 mode, as a bare container or an old
    Windows console has it) the report, manifests and model files are still UTF-8, as the
    report declares, and a message naming a file the terminal cannot spell prints with '?'
    (before: exit 1 on a UnicodeEncodeError, and report.html written in the locale's encoding)."""
    import subprocess
    import sys

    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0"}
    env.pop("PYTHONUTF8", None)
    target = tmp_path / "report.html"
    text = "Z\\u00fcrich \\u20ac \\u0141\\u00f3d\\u017a"  # escaped: the -c line is ASCII
    code = "from pathlib import Path; from transfercast.outputs import write_text; "
    code += f"write_text('{text}', Path({str(target)!r}))"
    res = subprocess.run([sys.executable, "-X", "utf8=0", "-c", code], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert target.read_bytes() == "Z\u00fcrich \u20ac \u0141\u00f3d\u017a".encode()
    res = subprocess.run(
        [sys.executable, "-X", "utf8=0", "-m", "transfercast", "run", "n\u00f6pe.toml"],
        env=env, capture_output=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2 and b"config file not found: n" in res.stderr, res.stderr
    assert b"Traceback" not in res.stderr and b"UnicodeEncodeError" not in res.stderr


def test_a_non_ascii_output_folder_under_an_ascii_locale_is_a_line_saying_what_to_do(tmp_path):
    """The file system's encoding under LC_ALL=C cannot spell 'Ergebnisse_ü': exit 2 with one
    line naming the path and the fix (before: an internal UnicodeEncodeError, exit 1)."""
    import subprocess
    import sys

    from transfercast.cli import to_toml

    from .conftest import small_project

    raw = small_project(tmp_path, output_dir="Ergebnisse_\u00fc", horizon=4, target_history=13)
    raw["strategy"]["name"] = "last_value"
    (tmp_path / "config.toml").write_text(to_toml(raw))
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0"}
    env.pop("PYTHONUTF8", None)
    res = subprocess.run(
        [sys.executable, "-X", "utf8=0", "-m", "transfercast", "run", "config.toml"],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Ergebnisse_" in lines[0], res.stderr
    assert lines[0].endswith("cannot write: use a UTF-8 locale (export LANG=C.UTF-8)"), res.stderr
