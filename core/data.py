"""Reading and validating the long-format sales table.

One row per series and period. Every problem is reported in one line that names the file and
the column or value at fault; fixable problems are repaired with a warning that counts the rows
affected (see the bad-input catalogue in the docs).
"""

from __future__ import annotations

import functools
import inspect
import re
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES

from transfercast.errors import DataError, closest

UID = "unique_id"
DS = "ds"
Y = "y"
DOMAIN = "domain"


#: The largest magnitude the engines can hold: LightGBM, XGBoost and torch work in float32, so a
#: larger finite value (or an infinite covariate) overflows to ``inf`` inside them.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: A positive target value more than this many times its series' median positive value gets a
#: warning naming it: it dominates the series' level and the models' squared-error fit.
EXTREME_RATIO = 1e4


class DataWarning(UserWarning):
    """A data problem that was repaired; the message counts the rows affected."""


#: the file names read as CSV (a compressed CSV too)
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.zip", ".txt")


#: the ``[data] timezone`` of the task at work (``None``: none), in which :func:`period_text`
#: writes times: a message gives them as the output files do (see :func:`in_task_zone`)
MESSAGE_ZONE: ContextVar[str | None] = ContextVar("transfercast_message_zone", default=None)


F = TypeVar("F", bound=Callable[..., Any])


def in_task_zone(path: str) -> Callable[[F], F]:
    """A decorator: the function runs with :data:`MESSAGE_ZONE` set to the zone its argument
    ``path`` gives (``"task"``, ``"self.task_"``: an object's ``timezone``, or the zone's name
    itself), and back to what it was after."""
    name, *attrs = path.split(".")

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            found = signature.bind_partial(*args, **kwargs).arguments.get(name)
            for attr in attrs:
                found = getattr(found, attr, None)
            zone = found if isinstance(found, str) else getattr(found, "timezone", None)
            token = MESSAGE_ZONE.set(zone if isinstance(zone, str) else None)
            try:
                return fn(*args, **kwargs)
            finally:
                MESSAGE_ZONE.reset(token)

        return wrapper  # type: ignore[return-value]

    return decorate


def period_text(stamp: Any, zone: str | None = None) -> str:
    """A period for a message or a label: the date, or the full timestamp when it has a time
    of day (hourly data); with a zone (``zone``, else :data:`MESSAGE_ZONE`), a naive UTC time
    as the zone's time with its offset, as the output files write it."""
    stamp = pd.Timestamp(stamp)
    zone = zone or MESSAGE_ZONE.get()
    if zone:
        return str((stamp if stamp.tzinfo else stamp.tz_localize("UTC")).tz_convert(zone))
    return str(stamp.date()) if stamp == stamp.normalize() else str(stamp)


def _refuse_unrepresentable(
    values: pd.Series, uid: pd.Series, ds: pd.Series, what: str, source: str, *, inf: bool = True
) -> None:
    """Raise a :class:`DataError` naming the column, series and period of the first value beyond
    the float32 range (with ``inf = False`` infinite values are left to the caller; NaN always
    passes). ``what`` names the column (``column 'sales'``, ``known column 'price'``)."""
    arr = values.to_numpy(dtype=float)
    bad = np.abs(arr) > FLOAT32_MAX
    if not inf:
        bad &= np.isfinite(arr)
    if not bad.any():
        return
    k = int(np.flatnonzero(bad)[0])
    raise DataError(
        f"{source}: {what} has a value the engines cannot represent (beyond float32, "
        f"|x| > {FLOAT32_MAX:.3g}): {float(values.iloc[k]):g} for series {uid.iloc[k]!r} at "
        f"{period_text(ds.iloc[k])} ({int(bad.sum())} rows)"
    )


def _warn_extreme(y: pd.Series, uid: pd.Series, ds: pd.Series, target: str, source: str) -> None:
    """Warn about positive target values more than :data:`EXTREME_RATIO` times their series'
    median positive value, naming the largest; they are kept as they are."""
    positive = y.where(y > 0)
    ratio = (positive / positive.groupby(uid).transform("median")).to_numpy()
    extreme = ratio > EXTREME_RATIO
    if not extreme.any():
        return
    k = int(np.nanargmax(np.where(extreme, ratio, np.nan)))
    warnings.warn(
        f"{source}: column '{target}': {int(extreme.sum())} values more than {EXTREME_RATIO:g} "
        f"times their series' median, largest {float(y.iloc[k]):g} for series {uid.iloc[k]!r} "
        f"at {period_text(ds.iloc[k])} ({ratio[k]:.3g} times); kept as they are, but such a value "
        "dominates its series' level and the models' fit: check it",
        DataWarning,
        stacklevel=3,
    )


def name_form(value: Any) -> str:
    """A name as text in one Unicode form (NFC): ``Zürich`` written with a combining
    diaeresis, as macOS tools write it, and with the composed letter are one name."""
    return unicodedata.normalize("NFC", str(value))


def _warn_two_unicode_forms(frame: pd.DataFrame, cols: Sequence[str], source: str) -> None:
    """Warn, per column of ``cols``, of a text value written in two Unicode forms within the
    data (``Zürich`` with a combining diaeresis in rows a macOS tool wrote, with the composed
    letter in the others): the two are two values, two series or two domains that print
    alike, as a config or ``predict`` would not read them."""
    for col in cols:
        if col not in frame.columns or pd.api.types.is_numeric_dtype(frame[col]):
            continue
        written = pd.Series(frame[col].dropna().unique())
        written = written[[isinstance(v, str) for v in written]]
        forms = written.map(name_form)
        twice = forms.duplicated(keep=False)
        if not twice.any():
            continue
        names = list(dict.fromkeys(forms[twice]))
        more = f" (and {len(names) - 1} more)" * (len(names) > 1)
        warnings.warn(
            f"{source}: column '{col}' writes {names[0]!r}{more} in two Unicode forms, composed "
            f"and decomposed (as macOS tools write it): they are read as two values; write "
            f"them alike if they are one",
            DataWarning,
            stacklevel=3,
        )


def refuse_unordered_date(when: Any, ts: pd.Timestamp, key: str, error: type[Exception]) -> None:
    """Raise ``error`` naming ``key`` when ``when`` is text that is not an ISO date
    (``YYYY-MM-DD``, a time after it allowed): ``05.06.2021`` reads as 6 May, which a writer of
    day-first dates did not mean. ``ts`` is how it was read."""
    if isinstance(when, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T].*)?", when.strip()):
        raise error(
            f"{key} {when!r}: write the date as YYYY-MM-DD (a TOML date, or text such as "
            f"'{period_text(ts)}' if that is the day meant)"
        )


def _text_bytes(path: Path) -> bytes:
    """The bytes of a (possibly compressed: ``.gz``, ``.bz2``, ``.xz``, ``.zip``) text file."""
    import bz2
    import gzip
    import lzma
    import zipfile

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower())
    if opener is not None:
        with opener(path, "rb") as fh:
            return fh.read()
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            return zf.read(zf.namelist()[0])
    return path.read_bytes()


def not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    """Why a file's bytes ``raw`` did not decode as UTF-8 (``exc``), in words a spreadsheet
    user can act on: UTF-16 (Excel's "Unicode text"), or the first byte that is not UTF-8,
    its line and that line as Windows' cp1252 reads it."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "is UTF-16 text (Excel's 'Unicode text'): save it as UTF-8 (Excel: 'CSV UTF-8')"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        exc = err
    at = exc.start
    begin = raw.rfind(b"\n", 0, at) + 1
    end = raw.find(b"\n", at)
    line = raw[begin : end if end >= 0 else len(raw)].decode("cp1252", errors="replace").strip()
    number = raw.count(b"\n", 0, at) + 1
    return (
        f"is not UTF-8 text: byte 0x{raw[at]:02x} on line {number} "
        f"({line[:60]!r} in Windows' cp1252); save it as UTF-8 (Excel: 'CSV UTF-8')"
    )


def read_table(
    path: str | Path, text_columns: Sequence[str] = (), target: str | None = None
) -> pd.DataFrame:
    """Read a CSV or Parquet file; a missing, empty or unreadable file is a :class:`DataError`.
    In a CSV file's ``text_columns`` (series keys, the domain) only an empty cell is missing:
    ``NA`` (North America) and ``null`` are values there; and each value is read by itself
    (:func:`key_values`), so that no row, of any date, changes how another is read. A CSV
    file's ``target`` column that looks like whole numbers grouped by ``.`` (``1.219`` for
    1219) gets a warning (:func:`_warn_grouped_thousands`)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir() and not any(path.rglob("*.parquet")) and not any(path.rglob("*.pq")):
        raise DataError(
            f"{path}: is a folder without Parquet files; name a .csv or .parquet file, or a "
            f"folder of Parquet files"
        )
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if path.suffix.lower() in (".parquet", ".pq") or path.is_dir():
            frame = pd.read_parquet(path)
        elif suffix.endswith(CSV_SUFFIXES):
            header = pd.read_csv(path, nrows=0).columns
            first = str(header[0]) if len(header) else ""
            if first.startswith("sep=") and len(header) <= 2:  # sep=; or sep=, (two "columns")
                first += "," * (len(header) - 1)  # the line as written
                raise DataError(
                    f"{path}: the first line {first!r} is Excel's separator hint, not a header: "
                    f"delete that line (and save the file with commas)"
                )
            if "\t" in first and len(header) == 1:
                raise DataError(
                    f"{path}: reads as one column {first[:60]!r}: the file is separated by "
                    f"tabs; save it with commas"
                )
            keep = {c: [""] for c in text_columns if c in header}
            na = {c: keep.get(c, sorted(STR_NA_VALUES)) for c in header}
            text = {c: str for c in text_columns if c in header}
            frame = pd.read_csv(path, keep_default_na=False, na_values=na, dtype=text)
            for col in text:
                frame[col] = key_values(frame[col])
            frame.columns = _header_as_written(path, list(frame.columns))
            if len(frame.columns) == 1 and ";" in str(frame.columns[0]):
                raise DataError(
                    f"{path}: reads as one column {str(frame.columns[0])[:60]!r}: the file is "
                    f"separated by ';'; save it with commas"
                )
            if target in frame.columns and pd.api.types.is_float_dtype(frame[target]):
                _warn_grouped_thousands(path, target, frame[target])
        else:
            raise DataError(f"{path}: unsupported file type '{path.suffix}' (use .csv or .parquet)")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except DataError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: {not_utf8(_text_bytes(path), exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a parser's error becomes one line
        raise DataError(f"{path}: cannot be read: {type(exc).__name__}: {exc}") from None
    if frame.empty:
        raise DataError(f"{path}: the file has no rows")
    return frame


def _warn_grouped_thousands(path: Path, col: str, values: pd.Series) -> None:
    """Warn where every value of ``col`` written with a ``.`` has groups of three digits after
    it (``1.219``, ``12.345.678``) and no value written without one reaches 1000: whole
    numbers with ``.`` between their thousands, as German exports write them, that read as
    1000 times too small. The file's text is read again only when the numbers allow it."""
    v = values.to_numpy(float)
    v = np.abs(v[np.isfinite(v)])
    part = v != np.round(v)
    milli = v[part] * 1000
    if not part.any() or (v >= 1000).any() or not np.allclose(milli, np.round(milli)):
        return
    text = pd.read_csv(path, usecols=[col], dtype=str, keep_default_na=False)[col].str.strip()
    dotted = text[text.str.contains(".", regex=False)]
    if dotted.empty or not dotted.str.fullmatch(r"-?[1-9]\d{0,2}(?:\.\d{3})+").all():
        return
    warnings.warn(
        f"{path}: column '{col}': every value written with a '.' has three digits after it "
        f"({len(dotted)} values, first {dotted.iloc[0]!r}, read as {float(dotted.iloc[0]):g}) and "
        f"none written without one reaches 1000: if these are whole numbers with '.' between "
        f"the thousands, they read 1000 times too small; export them without separators",
        DataWarning,
        stacklevel=3,
    )


#: a whole number as a CSV cell holds it (``5``, ``-3``, `` 5.0``), within int64; ``05`` is a
#: code, not 5
_WHOLE = r"\s*-?(?:0|[1-9]\d{0,17})(?:\.0*)?\s*"


def key_values(text: pd.Series) -> pd.Series:
    """A key column read as text, value by value: a whole number (``5``, ``5.0``) as the text
    of its integer, any other value (``05``, ``X9``, ``2.5``) as written; integers when every
    value is a whole number. A value reads the same whatever the other rows hold, so the
    series ids never depend on rows after an origin."""
    filled = text.fillna("")  # an empty cell: refused later, as a missing key
    whole = filled.str.fullmatch(_WHOLE).to_numpy(dtype=bool)
    canon = text.where(~whole, filled.str.strip().str.replace(r"\.0*$", "", regex=True))
    return canon.astype("int64") if len(text) and whole.all() else canon


def _refuse_ambiguous_ids(frame: pd.DataFrame, series: Sequence[str], source: str) -> None:
    """Raise a :class:`DataError` when two different series keys read as the same
    ``unique_id`` (a key value holding the ``|`` that joins them)."""
    if len(series) < 2:
        return
    keys = frame[list(series)].astype(str).drop_duplicates()
    ids = series_ids(keys, series)
    clash = ids[ids.duplicated(keep=False)]
    if len(clash):
        a, b = keys.loc[clash.index[clash == clash.iloc[0]][:2]].itertuples(index=False)
        raise DataError(
            f"{source}: series keys {tuple(a)} and {tuple(b)} both read {clash.iloc[0]!r}: "
            f"a value in columns {', '.join(series)} contains '|'"
        )


def series_ids(frame: pd.DataFrame, series: Sequence[str]) -> pd.Series:
    """The ``unique_id`` of each row: the series key columns as text, joined by ``|``."""
    key = frame[list(series)].astype(str)
    if len(series) == 1:
        return key.iloc[:, 0]
    return key.iloc[:, 0].str.cat([key[c] for c in key.columns[1:]], sep="|")


#: A date written day and month first, in either order (``04/01/2019``, ``4.1.19``,
#: ``04-01-2019``), with an optional time after it: groups day-or-month, separator,
#: day-or-month, year, rest.
#: (no regex flags: pandas 3.0's ``str.match`` refuses any, so the rest is ``[\s\S]*``)
_DAY_MONTH = r"^\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?=$|[\sT])([\s\S]*)$"


def _day_month_order(
    text: pd.Series, rows: np.ndarray, column: str, source: str, freq: str | None = None
) -> pd.Series:
    """``text`` (distinct dates written ``dd/mm/yyyy`` or ``mm/dd/yyyy``; with a 2-digit last
    field also ``yy/mm/dd``; any of ``/ . -``, ``rows`` rows each) rewritten as ISO dates, the
    whole column read in one order: the one that reads every value. Where several do and they
    differ, the one whose dates all lie on the ``freq`` grid (a year's months written
    day-first read month-first as twelve January days); else the one whose dates span the
    shortest time by far (a year-first reading of daily dates spans decades); else the dates
    are ambiguous and refused."""
    parts = text.str.extract(_DAY_MONTH)

    def century(field: pd.Series) -> pd.Series:
        n = field.astype(int)
        return n.where(field.str.len() == 4, n + np.where(n < 69, 2000, 1900))

    fields = {"day-first": (3, 2, 0), "month-first": (3, 0, 2)}  # (year, month, day) fields
    if (parts[3].str.len() == 2).all():
        fields["year-first"] = (0, 2, 3)
    readings = {}
    for order, (y, m, d) in fields.items():
        iso = (
            century(parts[y]).astype(str).str.zfill(4)
            + "-"
            + parts[m].str.zfill(2)
            + "-"
            + parts[d].str.zfill(2)
            + parts[4]
        )
        parsed = pd.to_datetime(iso, errors="coerce", format="mixed")
        readings[order] = (iso, parsed)
    whole = {o: r for o, r in readings.items() if r[1].notna().all()}
    if not whole:  # none reads every value: the one that reads the most rows
        best = min(readings, key=lambda o: rows[readings[o][1].isna().to_numpy()].sum())
        return readings[best][0]
    distinct = {}
    for order, (iso, parsed) in whole.items():
        if not any((iso == other).all() for other, _ in distinct.values()):
            distinct[order] = (iso, parsed)
    on_grid = {o: r for o, r in distinct.items() if _readable_on(r[1], freq)}
    if not on_grid and len(distinct) > 1:  # none on [data] freq's: name the grids they lie on
        grids = {o: inferred_grid(p) for o, (_, p) in distinct.items()}
        if len(set(grids.values()) - {None}) > 1:
            first, second, differ = _two_readings(distinct)
            raise DataError(
                f"{source}: column '{column}' has ambiguous dates: {text[differ].iloc[0]!r} "
                f"reads {first} (dates on the '{grids[first]}' grid) or {second} (on the "
                f"'{grids[second]}' grid), neither [data] freq '{freq}'; set [data] freq to the "
                "one meant, or write ISO dates (YYYY-MM-DD)"
            )
    distinct = on_grid or distinct
    if len(distinct) == 1:
        return next(iter(distinct.values()))[0]
    spans = {o: p.max() - p.min() for o, (_, p) in distinct.items()}
    shortest = sorted(spans, key=spans.get)
    if spans[shortest[0]] * 4 < spans[shortest[1]]:
        return distinct[shortest[0]][0]
    first, second, differ = _two_readings(distinct)
    raise DataError(
        f"{source}: column '{column}' has ambiguous dates: {text[differ].iloc[0]!r} reads "
        f"{first} or {second}, and every value reads both ways "
        f"({int(rows[differ].sum())} rows differ); write ISO dates (YYYY-MM-DD)"
    )


def _two_readings(distinct: dict[str, tuple[pd.Series, pd.Series]]) -> tuple[str, str, np.ndarray]:
    """The first two of several readings of day/month dates, and where they read apart."""
    (first, (iso_a, _)), (second, (iso_b, _)) = list(distinct.items())[:2]
    return first, second, (iso_a != iso_b).to_numpy()


def _readable_on(dates: pd.Series, freq: str | None) -> bool:
    """Whether every date lies on the grid of ``freq`` (``True`` without one or where it is
    not an alias: the grid is checked later, with its own error)."""
    try:
        with warnings.catch_warnings():  # a deprecated alias is named by the grid check
            warnings.simplefilter("ignore")
            offset = pd.tseries.frequencies.to_offset(freq) if freq else None
    except ValueError:
        return True
    return offset is None or all(offset.is_on_offset(d) for d in dates.drop_duplicates())


def _years(values: pd.Series, rows: np.ndarray, column: str, source: str) -> pd.Series:
    """Numbers (``2019``, ``2019.0``; distinct values, ``rows`` rows each) read as 1 January
    of that year; any other number, one outside 1000..9999 or with a fraction, is refused."""
    numbers = pd.to_numeric(values.astype(object), errors="coerce")
    bad = ~((numbers >= 1000) & (numbers <= 9999) & (numbers == np.floor(numbers))).to_numpy()
    if bad.any():
        raise DataError(
            f"{source}: column '{column}' has a number that is not a year (1000..9999): "
            f"{values[bad].tolist()[0]!r} ({int(rows[bad].sum())} rows); write dates as "
            "YYYY-MM-DD, or years as 4-digit numbers"
        )
    return pd.to_datetime(numbers.astype(int).astype(str), format="%Y")


def _parse_distinct(
    values: pd.Series, rows: np.ndarray, column: str, source: str, freq: str | None = None
) -> pd.Series:
    """Distinct values of a time column (``rows`` rows each, no missing value) as timestamps,
    read in one format for the whole column: numbers and 4-digit text as years, day/month
    dates in the one order that reads every value (that puts them on the ``freq`` grid where
    several do; ambiguous ones refused), the rest (ISO text above all) as pandas reads it."""
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "boolean":
        raise DataError(
            f"{source}: column '{column}' holds true/false values, not dates: {values.iloc[0]!r}"
        )
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return _years(values, rows, column, source)
    # Python strings (object dtype): pyarrow's regex engine, which pandas' string dtype uses
    # (pandas 3, or 2.x with future.infer_string), refuses the back-reference of _DAY_MONTH
    text = values.astype(str).astype(object)
    if text.str.fullmatch(r"\s*\d{4}\s*").all():
        return _years(text, rows, column, source)
    # R's yearquarter as written out ("1998 Q1", tsibble / fpp3): pandas reads "1998Q1"
    text = text.str.replace(r"^\s*(\d{4})\s+(Q[1-4])\s*$", r"\1\2", regex=True)
    # day or month first, or a 2-digit year first (19-01-04): one order for the column
    day_month = text.str.match(_DAY_MONTH)
    if day_month.any():
        text = text.copy()
        order = _day_month_order(text[day_month], rows[day_month.to_numpy()], column, source, freq)
        text[day_month] = order
    with warnings.catch_warnings():  # pandas warns (later raises) on mixed offsets
        warnings.simplefilter("ignore", FutureWarning)
        try:
            parsed = pd.to_datetime(text, errors="coerce", format="mixed")
        except (ValueError, TypeError) as exc:
            if "zone" not in str(exc) and "offset" not in str(exc):
                raise DataError(f"{source}: column '{column}' cannot be parsed: {exc}") from None
            parsed = pd.Series(text.map(_stamp).to_numpy(), index=text.index, dtype=object)
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise DataError(
            f"{source}: column '{column}' has an unparseable date {values[bad].iloc[0]!r} "
            f"({int(rows[bad].sum())} rows): write dates as YYYY-MM-DD"
        )
    if parsed.dtype == object:  # several UTC offsets (a summer time): Timestamps, one each
        parsed = pd.Series([pd.Timestamp(v) for v in parsed], index=parsed.index, dtype=object)
        naive = np.array([v.tzinfo is None for v in parsed])
        if naive.any() and not naive.all():
            one, other = values[naive].iloc[0], values[~naive].iloc[0]
            raise DataError(
                f"{source}: column '{column}' mixes dates with and without a time zone ({one!r}, "
                f"{other!r}); write them all one way"
            )
    return parsed


def _stamp(value: str) -> pd.Timestamp:
    """One date read alone (NaT when it does not read)."""
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        return pd.NaT


def daily_periods(freq: str) -> bool:
    """Whether periods of ``freq`` are a day or longer (a bad freq reads as shorter: standardize
    names it)."""
    try:
        return not sub_daily(pd.tseries.frequencies.to_offset(freq))
    except ValueError:
        return False


def has_zone(values: pd.Series) -> bool:
    """Whether a time column's values carry a time zone or UTC offset (its first value decides:
    :func:`standardize` refuses a column that mixes both)."""
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return True
    if isinstance(dtype, pd.ArrowDtype):
        return bool(getattr(dtype.pyarrow_dtype, "tz", None))
    if pd.api.types.is_datetime64_dtype(dtype) or not len(values.dropna()):
        return False
    first = values.dropna().iloc[0]
    if isinstance(first, str):
        first = _stamp(first)
    return getattr(first, "tzinfo", None) is not None


def naive_time(stamp: pd.Timestamp, freq: str) -> pd.Timestamp:
    """A timestamp as the data's periods read it (see :func:`_wall_or_utc`): one with a time
    zone made naive, for daily and coarser periods at the date where it was written, for shorter
    ones at its time in UTC."""
    if stamp.tzinfo is None:
        return stamp
    if daily_periods(freq):
        return stamp.tz_localize(None)
    return stamp.tz_convert("UTC").tz_localize(None)


def local_to_utc(clock: pd.Series, timezone: str, column: str, source: str) -> pd.Series:
    """Naive clock times of ``timezone`` as naive UTC times; a time that a daylight-saving
    change makes occur twice or never there is a one-line error naming it."""
    at = clock.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    bad = at.isna().to_numpy() & clock.notna().to_numpy()
    if bad.any():
        raise DataError(
            f"{source}: column '{column}' has {clock[bad].iloc[0]}, a clock time "
            f"that occurs twice or never in {timezone} (a daylight-saving change): write the "
            f"times with their UTC offset ({int(bad.sum())} rows)"
        )
    return at.dt.tz_convert("UTC").dt.tz_localize(None)


def read_periods(
    values: pd.Series, column: str, source: str, freq: str, timezone: str | None = None
) -> pd.Series:
    """A column of dates or times read as :func:`standardize` reads the time column."""
    return _parse_times(values, column, source, freq, timezone)


def _wall_or_utc(parsed: pd.Series, freq: str) -> pd.Series:
    """Time-zone-aware periods made naive: for daily and coarser periods the date where they
    were written (``2020-03-27T00:00+01:00`` is 27 March, whatever its offset), for shorter
    ones the time in UTC; naive ones unchanged."""
    daily = daily_periods(freq)
    if parsed.dtype == object:  # several offsets
        stamps = [naive_time(v, freq) for v in parsed]
        return pd.Series(pd.to_datetime(stamps), index=parsed.index)
    if getattr(parsed.dt, "tz", None) is None:
        return parsed
    return (parsed if daily else parsed.dt.tz_convert("UTC")).dt.tz_localize(None)


def _row(position: int, source: str) -> str:
    """How a message names the row at ``position`` (from 0) of the data read from ``source``:
    its line in a CSV file (the header is line 1), else its place in the table (a DataFrame or
    a Parquet file)."""
    if str(source).lower().endswith(CSV_SUFFIXES):
        return f"row {position + 2}"
    return f"row {position + 1} of the table"


def _parse_times(
    values: pd.Series, column: str, source: str, freq: str = "D", timezone: str | None = None
) -> pd.Series:
    """The time column read as timestamps (time-zone-aware ones made naive, see
    :func:`_wall_or_utc`; naive ones of shorter-than-daily periods with a ``timezone`` read as
    its clock times, :func:`local_to_utc`);
    text and numbers are read in one format for the whole column (see :func:`_parse_distinct`);
    pandas periods as the date ``freq`` labels them by (the end of a month for ``ME``, its
    start for ``MS``, a week's last day for ``W-FRI``)."""
    if isinstance(values.dtype, pd.ArrowDtype):  # pyarrow dates and timestamps: NumPy ones
        import pyarrow as pa

        kind = values.dtype.pyarrow_dtype
        if pa.types.is_date(kind):
            values = pd.to_datetime(values.astype(object))
        elif pa.types.is_timestamp(kind):
            values = values.astype(pd.DatetimeTZDtype("ns", kind.tz) if kind.tz else "M8[ns]")
    if isinstance(values.dtype, pd.PeriodDtype):
        try:
            offset = pd.tseries.frequencies.to_offset(freq)
        except ValueError:
            offset = None
        ends = (pd.offsets.MonthEnd, pd.offsets.QuarterEnd, pd.offsets.YearEnd, pd.offsets.Week)
        how = "end" if isinstance(offset, ends) else "start"
        values = values.dt.to_timestamp(how=how)
        if daily_periods(freq):  # a week's or month's end: its day, not its last nanosecond
            values = values.dt.normalize()
    if pd.api.types.is_datetime64_any_dtype(values):  # Parquet or a DataFrame: no header line
        if values.isna().any():  # NaT would pass for a time of day other than midnight
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataError(
                f"{source}: column '{column}' has an empty date (row {row + 1} of the table, "
                f"{int(values.isna().sum())} rows)"
            )
        parsed = values
    else:
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataError(f"{source}: column '{column}' has an empty date ({_row(row, source)})")
        codes, distinct = pd.factorize(values)  # each distinct value read once, in row order
        rows = np.bincount(codes, minlength=len(distinct))
        read = _parse_distinct(pd.Series(distinct, dtype=object), rows, column, source, freq)
        parsed = pd.Series(read.to_numpy()[codes], index=values.index, dtype=read.dtype)
    naive = parsed.dtype != object and getattr(parsed.dt, "tz", None) is None
    if timezone and naive and not daily_periods(freq):
        return local_to_utc(parsed, timezone, column, source)
    return _wall_or_utc(parsed, freq)


def sub_daily(offset: pd.DateOffset) -> bool:
    """Whether periods of ``offset`` are shorter than a day (hours, minutes, business hours)."""
    if isinstance(offset, pd.offsets.Tick):
        return offset.nanos < pd.Timedelta(days=1).value
    return isinstance(offset, (pd.offsets.BusinessHour, pd.offsets.CustomBusinessHour))


def _refuse_time_of_day(
    raw: pd.Series, ds: pd.Series, column: str, freq: str, offset: pd.DateOffset, source: str
) -> None:
    """A one-line error naming the first value with a time of day other than midnight (its
    reading in UTC where that differs) and the row count, for daily or coarser periods."""
    if sub_daily(offset):
        return
    clock = (ds != ds.dt.normalize()).to_numpy()
    if not clock.any():
        return
    k = int(np.flatnonzero(clock)[0])
    value = raw.iloc[k]
    raise DataError(
        f"{source}: column '{column}' has a time of day other than midnight: {str(value)!r} "
        f"in {int(clock.sum())} rows; [data] freq '{freq}' periods are dates: write them without "
        "a time"
    )


def _refuse_empty_keys(
    frame: pd.DataFrame, series: Sequence[str], domain: str, source: str
) -> None:
    """A one-line error naming the first series key or domain column with an empty value (a
    missing value or blank text), the first CSV row and the row count."""
    for col in dict.fromkeys([*series, domain]):
        values = frame[col]
        empty = values.isna()
        if not pd.api.types.is_numeric_dtype(values):  # text of any dtype, or categories
            blank = [v for v in pd.unique(values.dropna()) if isinstance(v, str) and not v.strip()]
            empty |= values.isin(blank)
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            what = "series key" if col in series else "domain"
            raise DataError(
                f"{source}: column '{col}' has an empty {what} value in {int(empty.sum())} rows "
                f"(first: {_row(row, source)})"
            )


def whole_numbers_as_int(values: pd.Series) -> pd.Series:
    """A float key column's whole numbers (store ``5.0``, from a Parquet file or a CSV written
    from a float column) as integers, so that the domain is named ``5`` and ``[task] targets =
    [5]`` finds it; value by value, so that one value (``2.5``, in rows of any date) never
    changes how the others are named. Any other column unchanged."""
    if not pd.api.types.is_float_dtype(values):
        return values
    v = values.to_numpy(dtype=float)
    whole = np.isfinite(v) & (v == np.round(v)) & (np.abs(v) < 2**53)
    if whole.all():
        return values.astype("int64")
    if not whole.any():
        return values
    out = values.astype(object)
    out[whole] = [int(x) for x in v[whole]]
    return out


def _refuse_internal_names(
    roles: list[tuple[str, str]], time: str, target: str, domain: str, source: str
) -> None:
    """A one-line error naming a configured column whose name is one of the columns added to the
    table (``unique_id``, ``ds``, ``y``, ``domain``) in another role: it would be overwritten by
    them (a static column ``domain`` by the domain values) or clash with them when the output
    files get the user's columns back. ``ds``, ``y`` and ``domain`` may name the time, target
    and domain columns (the long format of Nixtla's libraries), ``unique_id`` nothing.
    ``roles`` pairs each configured column with its role."""
    allowed = {UID: None, DS: time, Y: target, DOMAIN: domain}
    for role, col in roles:
        if col in allowed and col != allowed[col]:
            if col == UID:
                why = "it is the name of the series id that transfercast adds to the table"
            else:
                why = f"transfercast adds a column '{col}' to the table (its {_INTERNAL[col]})"
            other = "series_id" if col == UID else f"{role}_{col}"
            raise DataError(
                f"{source}: [data] {role} column '{col}': {why}; rename it in the file and in "
                f"the config ('{other}', say)"
            )


def _refuse_role_clashes(
    series: Sequence[str],
    time: str,
    target: str,
    domain: str,
    static: Sequence[str],
    known: Sequence[str],
    source: str,
) -> None:
    """A one-line error for a column list that is empty where it must not be, names a column
    twice, or gives the sales or period column a second role (the sales as a known covariate
    would hand every model the answer), or names a column like one transfercast adds."""
    if not series:
        raise DataError(f"{source}: [data] series is empty: name the column(s) of a series' key")
    for role, cols in (("series", series), ("static", static), ("known", known)):
        twice = [c for c in dict.fromkeys(cols) if list(cols).count(c) > 1]
        if twice:
            raise DataError(f"{source}: [data] {role} names column '{twice[0]}' twice")
    roles = [
        *(("series", c) for c in series),
        ("domain", domain),
        *(("static", c) for c in static),
        *(("known", c) for c in known),
    ]
    for special, what in ((target, "target (the sales)"), (time, "time (the periods)")):
        for role, col in roles:
            if col == special:
                raise DataError(
                    f"{source}: [data] {role} column '{col}' is also the {what} column: a "
                    f"column has one role"
                )
    if target == time:
        raise DataError(f"{source}: [data] target and time are the same column '{time}'")
    both = [c for c in static if c in known]
    if both:
        raise DataError(
            f"{source}: [data] column '{both[0]}' is both static and known: static columns are "
            f"constant per series, known ones vary over time; list it once"
        )
    keyed = next((c for c in known if c in series or c == domain), None)
    if keyed is not None:
        role = "series key" if keyed in series else "domain"
        raise DataError(
            f"{source}: [data] column '{keyed}' is both a {role} column and known: a key names "
            f"a series, a known covariate varies over its periods; list it once"
        )
    roles += [("time", time), ("target", target)]
    _refuse_internal_names(roles, time, target, domain, source)


#: the columns ``compare``'s forecasts hold beside the series keys and the time column (``run``'s
#: and ``predict``'s: ``forecast`` and the quantiles' ``q0.1``, ...)
OUTPUT_COLUMNS = {
    "strategy": "the strategy",
    "origin": "the forecast origin",
    "forecast": "the forecast",
    "actual": "the actual sales",
}


def refuse_output_names(
    series: Sequence[str], time: str, source: str, names: Sequence[str] = tuple(OUTPUT_COLUMNS)
) -> None:
    """A one-line error for a series key or time column named like a column the forecasts
    hold beside it (``names`` of :data:`OUTPUT_COLUMNS`, a quantile's ``q0.1``): the files
    would hold two columns of the name, or the frame could not be built. Called before
    anything is fitted by the commands that write those columns."""
    for role, col in [*(("series", c) for c in series), ("time", time)]:
        what = OUTPUT_COLUMNS.get(col) if col in names else None
        if what is None and str(col).startswith("q"):  # a level's column: q0.1, q.5 (not q1)
            try:
                what = "a quantile forecast" if 0.0 < float(str(col)[1:]) < 1.0 else None
            except ValueError:
                pass
        if what is not None:
            raise DataError(
                f"{source}: [data] {role} column '{col}': the forecasts hold a column '{col}' "
                f"({what}) beside it; rename it in the file and in the config ('{role}_{col}', "
                f"say)"
            )


#: what the columns transfercast adds to the table hold, for messages
_INTERNAL = {DS: "parsed periods", Y: "numeric sales", DOMAIN: "domain of each row"}


def standardize(
    frame: pd.DataFrame,
    *,
    series: Sequence[str],
    time: str,
    target: str,
    domain: str,
    freq: str,
    static: Sequence[str] = (),
    known: Sequence[str] = (),
    source: str = "data",
    repair: bool = True,
    static_per_series: bool = True,
    timezone: str | None = None,
) -> pd.DataFrame:
    """Validate the user's table and return it with the standard columns added.

    Adds ``unique_id`` (the series key joined by ``|``), ``ds`` (parsed periods), ``y`` (the
    numeric target) and ``domain``; keeps the user's key, static and known columns. With
    ``static_per_series=False`` a static column may vary within a series (the caller checks it
    with :func:`check_static` once a change of regime has split the series). ``timezone``: the
    zone of naive times of hourly and shorter periods (they are kept in UTC).
    """
    _refuse_role_clashes(series, time, target, domain, static, known, source)
    needed = [*series, time, target, domain, *static, *known]
    roles = {**{c: "a known" for c in known}, **{c: "a static" for c in static}}
    roles.update({domain: "the domain", target: "the target", time: "the time"})
    roles.update({c: "a series" for c in series})
    refuse_ambiguous_columns(frame, needed, source)
    cols = list(frame.columns)
    for col in dict.fromkeys(needed):
        if col not in frame.columns:
            raise DataError(
                f"{source}: missing column '{col}', {roles[col]} column{closest(col, cols)}"
            )
    out = frame[list(dict.fromkeys(needed))].copy()
    _refuse_empty_keys(out, series, domain, source)
    for col in dict.fromkeys([*series, domain]):
        out[col] = whole_numbers_as_int(out[col])
    written = out[time].copy()  # as the user wrote them (a time column named ds is replaced)
    out[DS] = _parse_times(out[time], time, source, freq, timezone)
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        raise DataError(f"{source}: [data] freq '{freq}' is not a pandas frequency alias") from None
    _refuse_time_of_day(out[time], out[DS], time, freq, offset, source)
    periods = out[DS].drop_duplicates()  # each distinct period checked once
    on = periods.map(offset.is_on_offset).astype(bool)
    if on.all() and len(periods):  # an hour is "on" at 05:30, a 2-week step on either Friday:
        grid = pd.date_range(periods.min(), periods.max(), freq=offset)  # the first period's grid
        on = periods.isin(grid)
    off_dates = periods[~on]
    off_grid = out[DS].isin(off_dates)
    if off_grid.any():
        first = out.loc[off_grid, DS].iloc[0]
        off = series_ids(out.loc[off_grid], series)
        inferred = inferred_grid(out[DS])
        hint = (
            f"; the dates lie on the '{inferred}' grid: set [data] freq = '{inferred}' (freq= in "
            "Python)"
            if inferred
            else _two_grids(out[DS], series_ids(out, series).isin(off).to_numpy(), freq)
        )
        as_written = str(written[off_grid].iloc[0]).strip()
        spelt = f" (written {as_written!r})" * (as_written[:10] != period_text(first)[:10])
        raise DataError(
            f"{source}: column '{time}' has irregular periods: {period_text(first)}{spelt} is not "
            f"on the '{freq}' grid ({int(off_grid.sum())} rows of {off.nunique()} series, first "
            f"{off.iloc[0]!r}){hint}"
        )
    y, first = as_numbers(out[target])
    if first is not None:
        raise DataError(f"{source}: column '{target}' is not numeric: value {first!r}")
    y = y.astype(float)
    _warn_two_unicode_forms(out, [*dict.fromkeys([*series, domain, *static])], source)
    uid = series_ids(out, series)
    _refuse_ambiguous_ids(out, series, source)
    # before any warning: a repeated period is an error whatever else the rows hold
    dup = pd.DataFrame({UID: uid.to_numpy(), DS: out[DS].to_numpy()}).duplicated()
    if dup.any():
        row = out.loc[dup.to_numpy()].iloc[0]
        first = uid[dup.to_numpy()].iloc[0]
        same = (uid == first).to_numpy() & (out[DS] == row[DS]).to_numpy()
        spellings = list(dict.fromkeys(str(v) for v in written[same]))
        how = f"; written {' and '.join(repr(v) for v in spellings[:2])}" * (len(spellings) > 1)
        doms = list(dict.fromkeys(str(v) for v in out.loc[same, domain]))
        if domain not in series and len(doms) > 1:  # one key across domains (dept alone)
            how = (
                f"; they lie in domains {doms[0]!r} and {doms[1]!r}: add the domain column "
                f"'{domain}' to [data] series"
            )
        at = pd.Timestamp(row[DS])
        autumn_night = at.month in (3, 4, 10, 11) and at.hour <= 3  # when clocks go back
        if len(spellings) == 1 and sub_daily(offset) and autumn_night and not has_zone(written):
            how = "; if summer time ended then, write the times with their UTC offset"
        raise DataError(
            f"{source}: duplicate rows for series {first!r} at {period_text(row[DS])} "
            f"({int(dup.sum())} duplicates in columns {', '.join(series)} + '{time}'){how}"
        )
    # infinite sales are repaired below; a finite value beyond float32 is refused
    _refuse_unrepresentable(y, uid, out[DS], f"column '{target}'", source, inf=False)

    def first_of(bad: np.ndarray) -> str:  # where the first bad value lies, and what it is
        k = int(np.flatnonzero(bad)[0])
        value = "" if np.isnan(y.iloc[k]) else f" {float(y.iloc[k])!r}"
        return f" (first{value} for series {uid.iloc[k]!r} at {period_text(out[DS].iloc[k])})"

    inf = np.isinf(y.to_numpy())
    if inf.any():
        if not repair:
            raise DataError(
                f"{source}: column '{target}' has {int(inf.sum())} infinite values{first_of(inf)}"
            )
        warnings.warn(
            f"{source}: column '{target}': {int(inf.sum())} infinite values treated as missing",
            DataWarning,
            stacklevel=2,
        )
        y[inf] = np.nan
    # an empty sales cell after a series' last sale is a planned period (the known covariates
    # of a forecast horizon, a series not launched yet), not a missing value
    last_sale = out[DS].where(y.notna()).groupby(np.asarray(uid)).transform("max")
    missing = (y.isna() & (out[DS] <= last_sale)).to_numpy()
    nan = int(missing.sum())
    if nan:
        if not repair:
            raise DataError(
                f"{source}: column '{target}' has {nan} missing values{first_of(missing)}"
            )
        warnings.warn(
            f"{source}: column '{target}': {nan} missing values left out of training and scoring",
            DataWarning,
            stacklevel=2,
        )
    negative = int((y < 0).sum())
    if negative:
        if not repair:
            raise DataError(
                f"{source}: column '{target}' has {negative} negative values"
                f"{first_of((y < 0).to_numpy())}"
            )
        warnings.warn(
            f"{source}: column '{target}': {negative} negative values (returns) set to 0",
            DataWarning,
            stacklevel=2,
        )
        y = y.clip(lower=0)
    _warn_extreme(y, uid, out[DS], target, source)
    out[Y] = y
    out[UID] = uid
    _check_gaps_and_zeros(out, freq, time, target, source, repair)
    for col in static:
        _warn_mostly_numbers(out[col], col, source)
    # Python scalars, not NumPy ones: a domain of a numeric column is named 5 in a message or a
    # table, not np.int64(5)
    out[DOMAIN] = out[domain].astype(object)
    per_series = out.groupby(UID)[DOMAIN].nunique()
    if (per_series > 1).any():
        uid = per_series[per_series > 1].index[0]
        raise DataError(f"{source}: series {uid!r} has more than one value in column '{domain}'")
    if static_per_series:
        check_static(out, static, source)
    for col in static:
        if pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_bool_dtype(out[col]):
            _refuse_unrepresentable(out[col], out[UID], out[DS], f"static column '{col}'", source)
    for col in known:
        if _temporal(out[col]):
            raise DataError(
                f"{source}: known column '{col}' holds dates or durations ({out[col].dtype}); "
                f"give numbers (days since an event, say)"
            )
        if not pd.api.types.is_bool_dtype(out[col]):
            out[col], first = as_numbers(out[col])
            if first is not None:
                raise DataError(f"{source}: known column '{col}' is not numeric: value {first!r}")
        out[col] = out[col].astype(float)
        _refuse_unrepresentable(out[col], out[UID], out[DS], f"known column '{col}'", source)
        missing = out[col].isna() & out[Y].notna()  # in the history, beside a sale
        if missing.any():
            first = out.loc[missing].sort_values(DS).iloc[0]
            warnings.warn(
                f"{source}: known column '{col}': {int(missing.sum())} missing values in rows "
                f"with sales (first {first[UID]!r} at {period_text(first[DS])}); the models read "
                f"them as missing (give the value where it is known)",
                DataWarning,
                stacklevel=2,
            )
    return out.sort_values([UID, DS], kind="stable").reset_index(drop=True)


def _warn_mostly_numbers(values: pd.Series, column: str, source: str) -> None:
    """Warn when a static column of text holds numbers in most of its distinct values and
    text in the others (``151,315``, ``unknown``): it is read as categories, not as a number."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return
    distinct = pd.Series(values.dropna().unique())
    text = distinct.astype(str).str.strip()
    plain = pd.to_numeric(text, errors="coerce").notna()
    # 151,315: a number with thousands separators, which reads as text
    numbers = plain | pd.to_numeric(text.str.replace(",", ""), errors="coerce").notna()
    if plain.all() or numbers.sum() * 2 < len(distinct):
        return
    text = distinct[~plain.to_numpy()]
    warnings.warn(
        f"{source}: static column '{column}' holds numbers in {int(numbers.sum())} of its "
        f"{len(distinct)} values, but also text (first {text.iloc[0]!r}): it is read as "
        f"categories; if it is a number, write every value as a plain number",
        DataWarning,
        stacklevel=3,
    )


def as_numbers(values: pd.Series) -> tuple[pd.Series, Any]:
    """``values`` read as numbers (text such as ``"151"`` as the number, a blank text cell as an
    empty one, as in a CSV), and the first value that reads as no number (``None`` if none)."""
    if pd.api.types.is_numeric_dtype(values):
        return values, None
    raw = values.astype(object)
    raw = raw.where(~raw.astype(str).str.strip().eq("") | raw.isna())
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = numbers.isna() & raw.notna()
    return numbers, (raw[bad].iloc[0] if bad.any() else None)


def _header_as_written(path: Path, columns: list[str]) -> list[str]:
    """``columns`` as pandas read them from ``path``'s header, with a name the header gives
    twice back as written (pandas renames the second ``price`` to ``price.1``, and the first
    copy would be used in silence): :func:`refuse_ambiguous_columns` then names it."""
    raw = pd.read_csv(path, nrows=1, header=None, dtype=str, keep_default_na=False)
    written = [str(v) for v in raw.iloc[0]] if len(raw) else []
    if len(written) != len(columns):
        return columns
    return [
        w if w != c and w in written[:i] else c
        for i, (w, c) in enumerate(zip(written, columns, strict=True))
    ]


def refuse_ambiguous_columns(frame: pd.DataFrame, needed: Sequence[str], source: str) -> None:
    """A one-line error for column names of several levels (a pivot's ``MultiIndex``) or a
    ``needed`` column named twice (a merge's copy renamed back)."""
    if isinstance(frame.columns, pd.MultiIndex):
        raise DataError(
            f"{source}: the column names have {frame.columns.nlevels} levels (a MultiIndex); "
            f"give one name per column (frame.columns = ['_'.join(map(str, c)) for c in "
            f"frame.columns])"
        )
    cols = list(frame.columns)
    for col in dict.fromkeys(needed):
        if cols.count(col) > 1:
            raise DataError(
                f"{source}: column '{col}' appears {cols.count(col)} times; give each column "
                f"one name of its own"
            )


def _temporal(values: pd.Series) -> bool:
    """Whether ``values`` hold dates, times, periods or durations, in any dtype."""
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        kind = dtype.pyarrow_dtype
        return bool(pa.types.is_temporal(kind))
    return isinstance(dtype, pd.PeriodDtype) or bool(
        pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)
    )


def category_text(values: pd.Series) -> np.ndarray:
    """Category values as text, whatever their dtype (object, ``category``, ``string``,
    pyarrow); a missing value stays missing (``None``), not a label such as ``'nan'``."""
    return np.where(values.isna(), None, values.astype(str)).astype(object)


def check_static(frame: pd.DataFrame, static: Sequence[str], source: str, hint: str = "") -> None:
    """A one-line error naming the column and series where a static column takes more than one
    value within a series (``hint`` ends the message). A series' empty cells of a static
    column (the planned rows of its future, say) take its one value, in place."""
    for col in static:
        if frame[col].isna().any():
            frame[col] = frame[col].fillna(frame.groupby(UID)[col].transform("first"))
        varying = frame.groupby(UID)[col].nunique(dropna=False)
        if (varying > 1).any():
            uid = varying[varying > 1].index[0]
            raise DataError(f"{source}: static column '{col}' varies within series {uid!r}{hint}")


def _coarser_hint(out: pd.DataFrame, freq: str, span: pd.DataFrame) -> str:
    """When most periods inside the series' spans are missing and the dates present lie on a
    grid of their own (monthly dates read with ``[data] freq = "D"``), a hint naming it: such
    a panel is not one with gaps but one whose ``freq`` is finer than its dates. Series on a
    coarser grid of their own (weekly sources beside a daily target) are named alike."""
    spans = span["max"] - span["min"] + 1
    if spans.sum() >= 2 * span["size"].sum():  # at most half the periods present
        inferred = inferred_grid(out[DS])
        if inferred is not None and inferred != freq:
            return (
                f"; most periods are missing and the dates lie on the '{inferred}' grid: check "
                f"[data] freq '{freq}'"
            )
    sparse = span.index[(spans >= 2 * span["size"]) & (span["size"] >= 3)]
    grids: dict[str, list[Any]] = {}
    for uid, times in out[out[UID].isin(sparse[:200])].groupby(UID, sort=False)[DS]:
        grid = inferred_grid(times)
        if grid is not None and grid != freq:
            grids.setdefault(grid, []).append(uid)
    if not grids:
        return ""
    plus = "+" * (len(sparse) > 200)

    def lie(n: int) -> str:
        return f"{n}{plus} series lie" if n > 1 or plus else "1 series lies"

    named = [f"{lie(len(u))} on the '{g}' grid (first {u[0]!r})" for g, u in grids.items()]
    return f"; most of their periods are missing and {', '.join(named)}: check [data] freq '{freq}'"


def _two_grids(times: pd.Series, off: np.ndarray, freq: str) -> str:
    """Where the series with dates off the ``freq`` grid lie on a grid of their own (weeks
    ending Monday among weeks ending Friday), a hint naming both grids."""
    theirs, others = inferred_grid(times[off]), inferred_grid(times[~off])
    if theirs is None or theirs == freq:
        return ""
    rest = f", the others' on the '{others}' grid" if others else ""
    return f"; those series' dates lie on the '{theirs}' grid{rest}: write every domain on one grid"


def inferred_grid(times: pd.Series) -> str | None:
    """The pandas frequency alias of the grid the distinct ``times`` lie on (pandas'
    ``infer_freq``), or ``None`` where they lie on none or are fewer than three."""
    dates = pd.DatetimeIndex(np.sort(times.unique()))
    with warnings.catch_warnings():  # pandas 3.1 announces an offset for the string it returns
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            inferred = pd.infer_freq(dates) if len(dates) >= 3 else None
        except (TypeError, ValueError):
            inferred = None
    inferred = getattr(inferred, "freqstr", inferred)
    if inferred is None:
        return _common_grid(dates)
    for plain in ("QS", "QE"):  # calendar quarters: "QS", not infer_freq's "QS-OCT"
        if inferred.startswith(f"{plain}-") and _on_grid(dates, plain):
            return plain
    # pandas reads business month ends loosely (a Friday the 28th is one): a grid is named
    # only where every date lies on it
    return inferred if _on_grid(dates, inferred) else _common_grid(dates)


def _on_grid(dates: pd.DatetimeIndex, alias: str) -> bool:
    offset = pd.tseries.frequencies.to_offset(alias)
    return bool(all(offset.is_on_offset(d) for d in dates))


def _common_grid(dates: pd.DatetimeIndex) -> str | None:
    """Where ``dates`` skip periods (days or weeks no series has, such as holidays), the
    coarsest grid they all lie on whose step is their most common spacing; else ``None``."""
    if len(dates) < 3:
        return None
    step = pd.Series(dates[1:] - dates[:-1]).mode().iloc[0]
    if step == pd.Timedelta(days=1):  # and most days there: not weekly dates on two weekdays
        if len(dates) < 0.5 * ((dates[-1] - dates[0]).days + 1):
            return None
        return "B" if (dates.dayofweek < 5).all() and len(dates) > 10 else "D"
    if step == pd.Timedelta(days=7):
        alias = f"W-{dates[0].day_name()[:3].upper()}"
        return alias if _on_grid(dates, alias) else None
    if pd.Timedelta(days=28) <= step <= pd.Timedelta(days=31):
        return next((a for a in ("MS", "ME") if _on_grid(dates, a)), None)
    return None


def _zero_hint(gaps: pd.Series, span: pd.DataFrame) -> str:
    """When a tenth or more of the periods inside the series' spans are missing, a hint that
    a file of sales transactions leaves out the periods without a sale: read as missing, they
    leave the level and the scores to the periods that sold."""
    if gaps.sum() < 0.1 * (span["max"] - span["min"] + 1).sum():
        return ""
    return (
        f" ({gaps.sum() / (span['max'] - span['min'] + 1).sum():.0%} of the periods inside "
        "the series): if a missing period means no sale, write it with 0"
    )


def _check_gaps_and_zeros(
    out: pd.DataFrame, freq: str, time: str, target: str, source: str, repair: bool
) -> None:
    """Warn about periods missing inside a series' span (left as missing values) and about
    series whose sales are all zero (kept as they are)."""
    grid = pd.date_range(out[DS].min(), out[DS].max(), freq=freq)
    pos = pd.Series(grid.get_indexer(out[DS]), index=out.index)
    span = pos.groupby(out[UID]).agg(["min", "max", "size"])
    gaps = span["max"] - span["min"] + 1 - span["size"]
    missing = int(gaps.sum())
    if missing:
        first = gaps[gaps > 0].index[0]
        if not repair:
            raise DataError(
                f"{source}: column '{time}': {missing} periods missing inside series spans "
                f"(first: series {first!r})"
            )
        warnings.warn(
            f"{source}: column '{time}': {missing} periods missing inside {int((gaps > 0).sum())} "
            f"series (first: {first!r}) left as missing values"
            f"{_coarser_hint(out, freq, span) or _zero_hint(gaps, span)}",
            DataWarning,
            stacklevel=3,
        )
    total = out[Y].abs().groupby(out[UID]).sum(min_count=1)
    zero = total.index[total == 0]
    if len(zero):
        rows = int(out[UID].isin(zero).sum())
        warnings.warn(
            f"{source}: column '{target}': {len(zero)} series with only zero sales ({rows} rows), "
            f"first {zero[0]!r}; kept as they are: the models learn from them what series that "
            f"never sold go on to sell, unless their whole domain sold nothing (for a series not "
            f"launched yet, leave its sales empty, not 0: it is then forecast before launch)",
            DataWarning,
            stacklevel=3,
        )
