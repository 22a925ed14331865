"""Reading data: CSV and Parquet give the same task; the cold-start cut keeps N periods."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest

import transfercast as tc
from transfercast.data import DataWarning, read_table
from transfercast.errors import DataError

from .conftest import small_frame


def test_csv_and_parquet_read_alike(tmp_path):
    frame = small_frame()
    frame.to_csv(tmp_path / "s.csv", index=False)
    frame.to_parquet(tmp_path / "s.parquet", index=False)
    a, b = read_table(tmp_path / "s.csv"), read_table(tmp_path / "s.parquet")
    assert len(a) == len(b) == len(frame)
    kw = dict(
        series=["store", "dept"],
        time="date",
        target="sales",
        domain="store",
        targets=["S08"],
        horizon=4,
    )
    ta, tb = tc.TransferTask(a, **kw), tc.TransferTask(b, **kw)
    np.testing.assert_array_equal(ta.panel.Y, tb.panel.Y)


def test_target_history_keeps_last_n_periods_before_each_origin():
    frame = small_frame()
    task = tc.TransferTask(
        frame,
        series=["store", "dept"],
        time="date",
        target="sales",
        domain="store",
        targets=["S08"],
        horizon=4,
        target_history=9,
    )
    origin = task.evaluation_origins()[0]
    data = task.at_origin(origin)
    rows = data.target_rows["S08"]
    observed = ~np.isnan(data.panel.Y[rows])
    assert observed.sum(axis=1).tolist() == [9, 9]
    last = np.flatnonzero(observed.any(axis=0)).max()
    assert data.panel.times[last] == origin
    # sources keep their whole history
    assert (~np.isnan(data.panel.Y[data.source_rows])).sum(axis=1).min() > 9


def test_sources_default_to_every_other_domain():
    frame = small_frame().groupby(["store", "date"], as_index=False)["sales"].sum()
    task = tc.TransferTask(
        frame,
        series="store",
        time="date",
        target="sales",
        domain="store",
        targets=["S07", "S08"],
        horizon=4,
    )
    assert sorted(map(str, task.sources)) == [f"S0{k}" for k in range(1, 7)]
    assert isinstance(task.panel.ids[0], str) and task.panel.n_series == 8
    fc = tc.TransferForecaster("source_only").fit(task).predict()
    assert list(fc.columns) == ["store", "date", "forecast"]
    assert len(fc) == 2 * 4 and pd.api.types.is_datetime64_any_dtype(fc["date"])


@pytest.mark.parametrize(
    ("cells", "read"),
    [
        (["1", " 2 ", "5.0"], [1, 2, 5]),  # whole numbers: integers, as pandas reads them
        (["01", "02"], ["01", "02"]),  # codes with a leading zero: as written
        ([" 1", "1", "X9"], ["1", "1", "X9"]),  # the same value, however spaced, is one value
        (["12345678901234567890", "1"], ["12345678901234567890", "1"]),  # beyond int64: text
        (["1", "2.5"], ["1", "2.5"]),
    ],
)
def test_csv_key_values_are_read_value_by_value(cells, read):
    from transfercast.data import key_values

    got = key_values(pd.Series(cells, dtype=object))
    assert got.tolist() == read
    assert pd.api.types.is_integer_dtype(got) == all(isinstance(v, int) for v in read)


def test_negative_sales_are_repaired_to_zero_not_only_warned():
    from transfercast.data import DataWarning, standardize

    frame = small_frame()
    frame.loc[frame.index[3], "sales"] = -5.0  # a return
    with pytest.warns(DataWarning, match="1 negative values"):
        out = standardize(
            frame,
            series=["store", "dept"],
            time="date",
            target="sales",
            domain="store",
            freq="W-FRI",
        )
    assert out["y"].min() == 0.0
    assert (out["y"] == 0).sum() == (frame["sales"] <= 0).sum()


def test_a_series_in_two_domains_is_refused():
    """Taken as it came, the series would be the domain of its first row: a target series filed
    once under a source store would train the source models on its whole history."""
    from transfercast.data import standardize
    from transfercast.errors import DataError

    frame = small_frame()
    frame["sid"] = frame["store"] + "-" + frame["dept"]
    frame.loc[frame.index[0], "store"] = "S02"  # one row of S01-D1 filed under another store
    with pytest.raises(
        DataError, match="series 'S01-D1' has more than one value in column 'store'"
    ):
        standardize(
            frame, series=["sid"], time="date", target="sales", domain="store", freq="W-FRI"
        )


KW = dict(series=["store", "dept"], time="date", target="sales", domain="store", horizon=6)


def test_a_missing_static_value_reads_as_missing_in_every_dtype(tmp_path):
    """A static text column empty for some stores forecasts alike whether it is held as
    object, ``category`` or ``string`` (before: pandas 3 crashed at the fit, and a bundle
    read the gap as 'None', 'nan' or '<NA>' by dtype, so it forecast differently and warned
    of a category 'nan' the model never saw)."""
    import warnings

    from transfercast.bundle import load_bundle, predict_bundle, write_bundle

    frame = small_frame()
    regions = {"S01": "north", "S02": None, "S06": "north", "S07": None}
    frame["region"] = frame["store"].map(regions).astype(object)
    kw = dict(KW, targets=["S06", "S07", "S08"], static=["region"], target_history=13)
    pooled = tc.TransferForecaster("pooled", target_weight=3.0)
    model = pooled.fit(tc.TransferTask(frame, **kw))
    assert model.tables_.builder.categories["region"] == ["north"]
    write_bundle(model, tmp_path / "model")
    bundle = load_bundle(tmp_path / "model")
    expected = predict_bundle(bundle, frame)
    for dtype in ["category", "string"]:
        held = frame.assign(region=frame["region"].astype(dtype))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = predict_bundle(bundle, held)
        pd.testing.assert_frame_equal(got, expected)
        assert not [w for w in caught if "region" in str(w.message)], dtype
        refit = tc.TransferForecaster("pooled", target_weight=3.0).fit(tc.TransferTask(held, **kw))
        np.testing.assert_allclose(refit.predict()["forecast"], model.predict()["forecast"])


@pytest.mark.parametrize("dtype", ["object", "string", "category"])
def test_a_blank_series_key_is_refused_in_every_text_dtype(dtype):
    """A blank department (" ") is an error whatever the column's dtype (before: only for
    object columns; as ``string`` or ``category``, and in pandas 3 for every CSV, it made a
    series 'S01| ' of its own)."""
    frame = small_frame()
    frame.loc[5, "dept"] = " "
    frame["dept"] = frame["dept"].astype(dtype)
    with pytest.raises(tc.TransfercastError, match=r"column 'dept' has an empty series key"):
        tc.TransferTask(frame, **KW, targets=["S08"])


def test_a_row_of_a_data_frame_is_named_by_its_place_not_a_csv_line(tmp_path):
    """An empty key or date at position 5 of a DataFrame is "row 6 of the table"; in a CSV file,
    the same row is line 7 (the header is line 1). Before, a DataFrame's row was named as the
    CSV line it would have been."""
    frame = small_frame()
    frame.loc[5, "dept"] = None
    with pytest.raises(tc.TransfercastError, match=r"\(first: row 6 of the table\)$"):
        tc.TransferTask(frame, **KW, targets=["S08"])
    frame = small_frame().astype({"date": object})
    frame.loc[5, "date"] = None
    with pytest.raises(tc.TransfercastError, match=r"has an empty date \(row 6 of the table\)$"):
        tc.TransferTask(frame, **KW, targets=["S08"])
    frame.to_csv(tmp_path / "sales.csv", index=False)
    with pytest.raises(tc.TransfercastError, match=r"sales\.csv: .* empty date \(row 7\)$"):
        tc.TransferTask(read_table(tmp_path / "sales.csv"), **KW, targets=["S08"],
                        source_name="sales.csv")  # fmt: skip


def test_pyarrow_dates_and_timestamps_read_as_dates():
    """Dates held by pyarrow (``read_csv(engine="pyarrow", dtype_backend="pyarrow")``) read
    as the same periods as NumPy dates (before: pandas 3 raised NotImplementedError)."""
    import pyarrow as pa

    frame = small_frame()
    expected = tc.TransferTask(frame, **KW, targets=["S08"]).frame["ds"]
    for kind in [pa.date32(), pa.timestamp("us"), pa.timestamp("ms", tz="UTC")]:
        held = frame.assign(date=frame["date"].astype(pd.ArrowDtype(kind)))
        got = tc.TransferTask(held, **KW, targets=["S08"]).frame["ds"]
        pd.testing.assert_series_equal(got.astype("M8[ns]"), expected.astype("M8[ns]"))


def test_day_first_dates_in_pandas_string_dtype_read_as_dates():
    """Dates written day first read the same whether pandas holds text as Python strings or in
    its pyarrow-backed string dtype (pandas 3's default, 2.x's ``future.infer_string``), whose
    regex engine refuses a back-reference (before: ``ArrowInvalid`` under pandas 2.3)."""
    frame = small_frame()
    expected = tc.TransferTask(frame, **KW, targets=["S08"]).frame["ds"]
    written = frame.assign(date=frame["date"].dt.strftime("%d/%m/%Y"))
    strings = (
        pd.option_context("future.infer_string", True)
        if int(pd.__version__.split(".")[0]) < 3
        else contextlib.nullcontext()
    )
    with strings:
        held = written.assign(date=written["date"].astype("str"))
        got = tc.TransferTask(held, **KW, targets=["S08"]).frame["ds"]
    pd.testing.assert_series_equal(got, expected)


def test_a_column_named_twice_or_multi_level_names_are_one_line_errors(tmp_path):
    """A needed column named twice (a merge's copy renamed back) and columns of several
    levels (a pivot's) name what is wrong (before: TypeError, AttributeError or KeyError
    tracebacks from the validation)."""
    frame = small_frame()
    twice = pd.concat([frame, frame[["price"]]], axis=1)
    with pytest.raises(tc.TransfercastError, match=r"^data: column 'price' appears 2 times"):
        tc.TransferTask(twice, **KW, targets=["S08"], known=["price"])
    # in a CSV file's header: pandas renamed the second copy 'price.1' and the first was used
    path = tmp_path / "twice.csv"
    frame.assign(stale=1.0).rename(columns={"stale": "price"}).to_csv(path, index=False)
    with pytest.raises(tc.TransfercastError, match=r"twice.csv: column 'price' appears 2 times"):
        tc.TransferTask(
            read_table(path), **KW, targets=["S08"], known=["price"], source_name="twice.csv"
        )
    assert list(read_table(path).columns).count("price") == 2
    levels = frame.copy()
    levels.columns = pd.MultiIndex.from_arrays([levels.columns, ["x"] * levels.shape[1]])
    with pytest.raises(tc.TransfercastError, match=r"^data: the column names have 2 levels"):
        tc.TransferTask(levels, **KW, targets=["S08"])


def test_blank_sales_text_is_empty_and_a_date_known_column_is_refused():
    """Sales held as text read a blank cell as an empty one, as a CSV's (before: "not
    numeric: value ''"); a known column of dates is refused by name (before: read as
    nanoseconds, about 1.6e18)."""
    frame = small_frame()
    as_text = frame.assign(sales=frame["sales"].map(repr).astype(object))
    as_text.loc[[3, 4], "sales"] = ["", " "]
    task = tc.TransferTask(as_text, **KW, targets=["S08"])
    expected = tc.TransferTask(frame.assign(sales=frame["sales"].where(~frame.index.isin([3, 4]))),
                               **KW, targets=["S08"])  # fmt: skip
    np.testing.assert_array_equal(task.panel.Y, expected.panel.Y)
    import pyarrow as pa

    opened = pd.Series(pd.Timestamp("2020-01-01"), index=frame.index)
    for held in [
        opened,
        opened.dt.to_period("W-FRI"),
        opened - pd.Timestamp("2019-01-01"),
        opened.astype(pd.ArrowDtype(pa.timestamp("us"))),
        opened.astype(pd.ArrowDtype(pa.date32())),
    ]:
        with pytest.raises(tc.TransfercastError, match=r"^data: known column 'opened' holds da"):
            tc.TransferTask(frame.assign(opened=held), **KW, targets=["S08"], known=["opened"])


def test_one_static_or_known_column_named_alone_is_that_column():
    """``static="store_type"`` and ``known="price"`` are those columns, as ``series="store"``
    is (before: "missing column 'p'", the name read as its letters)."""
    frame = small_frame()
    alone = tc.TransferTask(frame, **KW, targets=["S08"], static="store_type", known="price")
    listed = tc.TransferTask(frame, **KW, targets=["S08"], static=["store_type"], known=["price"])
    assert (alone.static, alone.known) == (["store_type"], ["price"])
    np.testing.assert_array_equal(alone.panel.known["price"], listed.panel.known["price"])


def test_only_the_output_columns_a_command_writes_are_refused_as_key_names():
    """``q0.1`` is a quantile column of the forecasts, ``q1`` (a quarter, say) is not; a key
    ``origin`` clashes with ``compare``'s forecasts only (a model fitted with one before the
    check came in still forecasts)."""
    from transfercast.data import refuse_output_names

    refuse_output_names(["store", "q1", "q10", "qnan"], "date", "data")
    refuse_output_names(["store", "origin", "actual"], "date", "data", ("forecast",))
    with pytest.raises(DataError, match=r"series column 'q0\.5': the forecasts hold a column"):
        refuse_output_names(["store", "q0.5"], "date", "data", ("forecast",))
    with pytest.raises(DataError, match=r"^data: \[data\] time column 'origin': the forecasts"):
        refuse_output_names(["store"], "origin", "data")


def test_a_frames_own_unique_id_column_is_said_to_be_unread():
    """A Nixtla frame's ``unique_id`` was dropped without a word, and joins on it matched
    nothing: the outputs name series ``S05|D1``."""
    frame = small_frame().assign(unique_id=lambda f: f["store"] + "_" + f["dept"])
    said = r"column 'unique_id' is not read: each series is named by its \[data\] series "
    with pytest.warns(DataWarning, match=said + r"columns joined by '\|' \(store \| dept\)"):
        tc.TransferTask(frame, series=["store", "dept"], time="date", target="sales",
                        domain="store", targets=["S06"], horizon=4)  # fmt: skip


def test_a_compressed_file_not_in_utf8_is_named_by_its_text_not_its_compressed_bytes(tmp_path):
    import gzip

    text = "store,dept,date,sales\nK\u00f6ln,D1,2020-01-03,5\n".encode("cp1252")
    path = tmp_path / "sales.csv.gz"
    path.write_bytes(gzip.compress(text))
    with pytest.raises(DataError, match=r"byte 0xf6 on line 2 \('K\u00f6ln,D1,2020-01-03,5' in "):
        read_table(path)
