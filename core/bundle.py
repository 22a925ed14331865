"""Model bundles: what `transfercast run` leaves in ``<output>/model/`` and `predict` reads back.

A bundle is a folder with ``manifest.json`` and, per target domain, the files written by the
fitted strategy's :meth:`Strategy.save` (native LightGBM text, XGBoost JSON, network weights
as NumPy arrays read without pickle): loading a bundle runs no code of its files, but imports
the plugin modules its manifest names (the checksums catch damage, not a deliberate edit: a
bundle is trusted as its plugins are). A strategy's ``load`` reads its files through
:func:`read_bundle_file`, which hands over the bytes the manifest's checksum vouches for.

The manifest records the format version, the transfercast version, the strategy and its
parameters, the feature specification (the ``[features]`` table and the builder's category
vocabularies), the data columns and their dtypes, the origin, a fingerprint of the training
data and the SHA-256 of every file. Loading refuses a bundle whose files do not match their
checksums or whose format is newer than this code. Files with the same bytes (a pooled or a
source model every target domain shares) are hard links to one copy where the file system
allows it, so a bundle grows with its distinct models, not with its target domains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
import warnings
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import transfercast
from transfercast.config import FeaturesConfig
from transfercast.data import (
    DOMAIN,
    DS,
    UID,
    DataWarning,
    Y,
    as_numbers,
    in_task_zone,
    name_form,
    period_text,
    refuse_ambiguous_columns,
    refuse_output_names,
    whole_numbers_as_int,
)
from transfercast.errors import ConfigError, DataError, TransfercastError
from transfercast.features import FeatureBuilder
from transfercast.forecaster import plugin_modules
from transfercast.intervals import check_quantiles, qcol
from transfercast.outputs import deferred_interrupt, refuse_long_names, sibling, write_text
from transfercast.prelaunch import LevelModel
from transfercast.strategy import Strategy

#: The manifest's layout, bumped when it gains a key an earlier reader needs (that reader then
#: says to upgrade): 2 (2026-12-07): ``[data] timezone`` in the feature builder. This version
#: reads 1 and 2.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
#: How the features a model reads are computed, bumped when their meaning changes (a bundle of
#: another revision still loads, with a warning that its forecasts can differ from its run):
#: 2 (2026-12-06): a series that sold nothing over its level window is scaled by its history
#: (by its domain's selling series where it never sold), not by one sales unit; a planned
#: covariate missing at a forecast period is the series' mean over its level window.
#: 3: written for a few hours of 2026-12-06 with another ``log_level``; never reused.
#: 4 (2026-12-07): a 0/1 known column missing at a forecast period takes its usual value over
#: the level window, not its mean; a series that never sold has no ``log_level``.
FEATURES_REVISION = 4


class BundleError(TransfercastError):
    """A model bundle is missing, corrupt, tampered with or too new."""


#: while :func:`load_bundle` loads strategies: the bundle's folder and its files' checksums
_LOADING: ContextVar[tuple[Path, dict[str, str]] | None] = ContextVar("_LOADING", default=None)


def read_bundle_file(directory: Path, name: str) -> bytes:
    """The bytes of file ``name`` of a strategy's folder ``directory`` in a bundle being
    loaded, checked against the manifest: a name leading out of the bundle, a file the
    manifest does not list, or bytes that no longer match its checksum (damage, or another
    `run` writing the same folder while it was read) is a :class:`BundleError`. Outside
    :func:`load_bundle` (a strategy's ``load`` called directly) only a name leading out of
    ``directory`` is refused."""
    loading = _LOADING.get()
    if loading is None:
        return _inside(Path(directory), name).read_bytes()
    root, files = loading
    # both resolved: a bundle reached through a symlinked folder, a load that resolved its own
    key = Path(os.path.relpath((Path(directory) / name).resolve(), root.resolve())).as_posix()
    if Path(name).is_absolute() or key == ".." or key.startswith("../"):
        raise BundleError(
            f"{root}: bundle file '{name}' lies outside the bundle; refusing to load it"
        )
    if key not in files:
        raise BundleError(
            f"{root}: bundle file '{key}' is not listed in the manifest's checksums; refusing "
            f"to load it"
        )
    try:
        data = _inside(root, key).read_bytes()
    except OSError as exc:  # gone since the manifest was read: another run replaced the bundle
        raise BundleError(
            f"{root}: bundle file '{key}' could not be read ({exc.strerror}); the bundle was "
            f"modified while it was read, refusing to load it"
        ) from None
    if hashlib.sha256(data).hexdigest() != files[key]:
        raise BundleError(
            f"{root}: checksum mismatch for '{key}'; the bundle was modified or is corrupt (or "
            f"another run wrote it while it was read), refusing to load it"
        )
    return data


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_fingerprint(frame: pd.DataFrame, origin: pd.Timestamp, columns: list[str]) -> str:
    """A hash of the standardised rows at or before ``origin`` (series, period, target and
    ``columns``: the manifest's covers the static and known covariates): equal data gives an
    equal fingerprint."""
    rows = frame.loc[frame[DS] <= origin, [UID, DS, Y, *columns]].reset_index(drop=True)
    h = hashlib.sha256(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    h.update(",".join(rows.columns).encode())
    return h.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (pd.Timestamp, Path)):
        return str(value)
    return value


def _needed_plugins(model: Any, plugins: list[str]) -> list[str]:
    """The plugin modules of ``plugins`` that loading the model needs: those that registered
    its strategy or one of its members (``auto``'s), and, with quantiles, those that load
    interval methods. A module a config named but the model does not use is left out, so the
    bundle loads where that module is absent."""
    from transfercast.plugin_manager import get_plugin_manager

    pm = get_plugin_manager(plugins)
    names = set()
    for strategy in getattr(model, "fitted_", {}).values():
        names.add(strategy.name)
        names.update(m.name for m in getattr(strategy, "members_", []))
    entries = pm.registry.entries
    needed = {entries[n].plugin for n in names if n in entries}
    if getattr(model, "intervals_", None):  # the fit's quantiles
        hook = pm.hook.transfercast_load_intervals
        needed.update(impl.plugin_name for impl in hook.get_hookimpls())
    return [p for p in plugins if p in needed]


def _provider(name: str, plugins: list[str]) -> dict[str, str] | None:
    """:func:`provider_of` strategy ``name`` as the manager of ``plugins`` registers it."""
    from transfercast.plugin_manager import get_plugin_manager

    return provider_of(get_plugin_manager(plugins).registry.entries.get(name))


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def provider_of(entry: Any) -> dict[str, str] | None:
    """The plugin that registered a strategy (a registry entry), how it was found (``source``:
    built in, a module of the config's ``plugins``, an installed package's entry point) and its
    class, for ``predict``'s error where it is missing or another class has the name."""
    if entry is None:
        return None
    return {"plugin": entry.plugin, "source": entry.source, "class": _class_path(entry.cls)}


def check_provider(entry: Any, provider: dict[str, str] | None, directory: Path) -> type:
    """The class registered here under a saved model's strategy name (``entry``'s), or a
    :class:`BundleError` when it is not the class that wrote the model (``provider``,
    :func:`provider_of`): another plugin's class of that name would read the files. Built-ins
    are not checked (their modules may move between releases); bundles without the class
    (before 2026-12-07) are checked by entry point name."""
    from transfercast.plugin_manager import ENV_LOAD

    by = provider or {}
    if by.get("source") in (None, "builtin"):
        return entry.cls
    if by.get("class"):
        same = by["class"] == _class_path(entry.cls)
    else:
        same = by.get("source") != "entry point" or entry.plugin == by.get("plugin")
    if not same:
        raise BundleError(
            f"{directory}: the model's strategy '{entry.name}' was written by "
            f"{by.get('class') or 'the class'} of the {by['source']} '{by.get('plugin')}', but "
            f"here '{entry.name}' is {_class_path(entry.cls)} of plugin '{entry.plugin}' "
            f"({entry.source}); install '{by.get('plugin')}' alone, or let {ENV_LOAD} name it"
        )
    return entry.cls


def _plugin_folders(plugins: list[str]) -> dict[str, str]:
    """The folder each plugin module was imported from (a hint for ``predict``'s error when it
    cannot be imported there; loading a bundle never adds it to the import path)."""
    folders = {}
    for name in plugins:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file:
            path = Path(file).resolve()
            folders[name] = str(path.parent.parent if path.name == "__init__.py" else path.parent)
    return folders


def _check_plugin_folders(directory: Path, manifest: dict[str, Any]) -> None:
    """A :class:`BundleError` where a plugin module the bundle records was imported here from
    another folder than when it was written while that folder still holds it: another
    project's module of the same name, imported first in this process (a notebook), would
    forecast with its own code. A folder that is gone (the project moved) is not checked, nor
    a module whose file is the same as the recorded one (a copy of the project)."""
    for name, then in manifest.get("plugin_folders", {}).items():
        last = str(name).rsplit(".", 1)[-1]
        kept = next(
            (f for f in (Path(then, f"{last}.py"), Path(then, last, "__init__.py")) if f.is_file()),
            None,
        )
        file = getattr(sys.modules.get(name), "__file__", None)
        if kept and file and Path(file).read_bytes() != kept.read_bytes():  # same folder: same
            raise BundleError(
                f"{directory}: the model's plugin module '{name}' was imported from {then} when "
                f"it was written, and is here from {_plugin_folders([name])[name]}, another file "
                f"of that name; load the bundle in a Python process that imports it from {then}"
            )


def _stamp(when: Any) -> str:
    """A period as an ISO date, with the time of day only when it is not midnight."""
    ts = pd.Timestamp(when)
    return str(ts.date()) if ts == ts.normalize() else ts.isoformat()


def _manifest_digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _not_json(value: Any, where: str = "") -> str | None:
    """Where in ``value`` the first thing JSON cannot hold is, and what it is; ``None`` if all
    of it can be written as JSON."""
    if isinstance(value, dict):
        for k, v in value.items():
            found = _not_json(v, f"{where}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _not_json(v, f"{where}[{i}]")
            if found:
                return found
        return None
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    return f"{where or 'it'} is a {type(value).__module__}.{type(value).__qualname__}"


def saved_entries(strategy: Strategy, entries: Any) -> dict[str, Any]:
    """What ``strategy.save`` returned, as JSON: it must be a dict of JSON values (NumPy
    scalars, dates and paths are converted). Anything else is a one-line error naming the
    strategy, raised before the bundle is put in place."""
    if not isinstance(entries, dict):
        raise TransfercastError(
            f"strategy '{strategy.name}' ({type(strategy).__module__}): save() returned "
            f"{type(entries).__name__}, not a dict; return the entries load() reads back"
        )
    entries = _jsonable(entries)
    found = _not_json(entries)
    if found:
        raise TransfercastError(
            f"strategy '{strategy.name}' ({type(strategy).__module__}): save() returned a "
            f"value JSON cannot hold: {found}; return numbers, strings, lists and dicts "
            f"(write arrays to files in the folder save() gets)"
        )
    return entries


def write_bundle(
    model: Any,
    directory: Path,
    plugins: list[str] | tuple[str, ...] | None = None,
    then: Callable[[], Any] | None = None,
) -> Path:
    """Write the bundle of a fitted :class:`TransferForecaster` into ``directory``.

    ``plugins``: the plugin modules that loading the bundle imports, added to the model's own
    (``TransferForecaster(plugins=...)``). The bundle is assembled in a temporary sibling folder
    and renamed into place, so an interrupted write never leaves a partial bundle under the
    final name, and a failed one leaves nothing (not even the folders made for it). ``then``
    runs right after the rename, with it, a Ctrl-C held until both are done (``run`` writes
    the forecasts there: never a new bundle beside the old forecasts); where ``then`` raises,
    the new bundle is in place already and the error goes to the caller. Raises
    ``NotImplementedError`` when the strategy cannot be saved (a bundle an earlier fit left in
    ``directory`` is then removed: it would not be the model of this fit's forecasts), and a
    :class:`TransfercastError` naming the strategy when what its ``save`` returned is not a
    dict of JSON values (an earlier bundle then stays as it was).
    """
    if getattr(model, "task_", None) is None:  # not a fitted TransferForecaster
        raise BundleError(
            f"{directory}: write_bundle takes a fitted TransferForecaster; got an unfitted "
            f"{type(model).__name__} (call .fit(task) first)"
        )
    task = model.task_
    plugins = _needed_plugins(
        model, list(dict.fromkeys([*plugin_modules(model.plugins), *(plugins or ())]))
    )
    directory = Path(directory)
    refuse_long_names(directory, "write_bundle")
    check_replaceable(directory)
    made = [p for p in [directory.parent, *directory.parent.parents] if not p.exists()]
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling(directory, "tmp", folder=True)
    # how far back each target's history went: new data that lack it are named at predict
    sold = task.frame[task.frame[Y].notna()]
    first_sales = sold.groupby(sold[DOMAIN].astype(str))[DS].min()
    try:
        targets = []
        for k, (domain, strategy) in enumerate(model.fitted_.items()):
            sub = tmp / f"target{k}"
            sub.mkdir()
            entries = saved_entries(strategy, strategy.save(sub))
            if type(strategy).load.__func__ is Strategy.load.__func__:  # could not be read back
                raise NotImplementedError(f"strategy '{strategy.name}' cannot be loaded")
            table = model.tables_.target(domain)
            first = first_sales.get(str(domain))
            entry = {
                "domain": str(domain),
                "dir": sub.name,
                "first_sale": None if first is None else _stamp(first),
                "entries": entries,
                "feature_columns": {c: str(t) for c, t in table.X.dtypes.items()},
            }
            intervals = getattr(model, "intervals_", {}).get(domain)
            if intervals is not None:
                entry["intervals"] = {
                    "method": model.interval_method_,
                    "quantiles": list(model.quantiles_),
                    "state": _jsonable(intervals.to_json()),
                }
            targets.append(entry)
        digests = _link_duplicates(tmp)
        strategy = model.strategy_
        user_cols = list(
            dict.fromkeys(
                [*task.series, task.time, task.target, task.domain, *task.static, *task.known]
            )
        )
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "features_revision": FEATURES_REVISION,
            "transfercast_version": transfercast.__version__,
            "strategy": {
                "name": strategy.name,
                "params": _jsonable(strategy.get_params()),
                "provider": _provider(strategy.name, plugins),
            },
            "plugins": list(plugins),
            "plugin_folders": _plugin_folders(plugins),
            "features": {
                "config": _jsonable(task.features.model_dump()),
                "builder": _jsonable(dataclasses.asdict(model.tables_.builder)),
            },
            "data": {
                **task.settings(),
                "columns": {c: str(task.frame[c].dtype) for c in user_cols},
            },
            "origin": _stamp(model.origin_),
            "training_data": {
                "fingerprint": data_fingerprint(
                    task.frame, model.origin_, list(dict.fromkeys([*task.static, *task.known]))
                ),
                "rows": int((task.frame[DS] <= model.origin_).sum()),
                "series": int(task.frame[UID].nunique()),
                "first_period": _stamp(task.frame[DS].min()),
                # every domain of the fit's data, those [task] sources left out too
                "domains": sorted({str(v) for v in task.frame[DOMAIN]}),
            },
            "targets": targets,
            **_level_entry(model.tables_),
            "engines": _engines(tmp, targets),
            "files": digests,
        }
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", tmp / MANIFEST)
        with deferred_interrupt():
            _swap_into_place(tmp, directory)
            if then is not None:
                then()
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in made:  # deepest first; only the empty folders made here
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(exc, NotImplementedError) and (directory / MANIFEST).is_file():
            _remove_bundle(directory)  # an earlier run's model: it would outlive its forecasts
        raise
    return directory


#: the model files each engine writes, by suffix
ENGINE_FILES = {"lightgbm": ".lgb.txt", "xgboost": ".xgb.json"}


def _engines(folder: Path, entries: Any = None) -> dict[str, str]:
    """The version of each engine whose model files ``folder`` holds, or whose boosters the
    manifest ``entries`` hold as text (an interval model's state: ``engine`` and ``booster``)."""
    names = [p.name for p in folder.rglob("*") if p.is_file()]
    used = {e for e, suffix in ENGINE_FILES.items() if any(n.endswith(suffix) for n in names)}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("engine") in ENGINE_FILES and "booster" in value:
                used.add(value["engine"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(entries)
    return {engine: importlib.metadata.version(engine) for engine in sorted(used)}


def _release(version: str) -> tuple[int, int]:
    """The (major, minor) release of a version string: the level at which model formats move."""
    major, minor = ([int(x) for x in re.findall(r"\d+", version)[:2]] + [0, 0])[:2]
    return major, minor


def _check_engines(directory: Path, manifest: dict[str, Any]) -> None:
    """Refuse a bundle whose model files an older engine than the one that wrote them would
    read: XGBoost before 3.1 reads a newer model's base score as 0.5 without a word, and an
    older LightGBM fails on a newer model file with an error that does not say why."""
    for engine, written in (manifest.get("engines") or {}).items():
        try:
            here = importlib.metadata.version(engine)
        except importlib.metadata.PackageNotFoundError:
            continue  # loading the model says which engine is missing
        if _release(here) < _release(str(written)):
            raise BundleError(
                f"{directory}: the model files were written by {engine} {written}, and this "
                f"environment has {engine} {here}, which can misread them; upgrade it: "
                f"pip install '{engine}>={written}'"
            )


def check_replaceable(directory: Path, what: str = "") -> None:
    """Raise a :class:`BundleError` when ``directory`` holds something other than a bundle (a
    file, or a folder with files and no manifest): writing the bundle would replace it."""
    directory = Path(directory)
    if not (directory.exists() or directory.is_symlink()):
        return
    if directory.is_dir() and ((directory / MANIFEST).is_file() or not any(directory.iterdir())):
        return
    raise BundleError(
        f"{what}{directory} holds files that are not a transfercast model bundle (no "
        f"{MANIFEST}), and the bundle would replace them; remove them or choose another --output"
    )


def _link_duplicates(folder: Path) -> dict[str, str]:
    """Replace each file under ``folder`` whose bytes an earlier one holds by a hard link to
    it (kept as a copy where the file system cannot link); return each file's SHA-256 by its
    path relative to ``folder``."""
    digests: dict[str, str] = {}
    first: dict[str, Path] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = digests[path.relative_to(folder).as_posix()] = sha256_file(path)
        if digest not in first:
            first[digest] = path
            continue
        spare = path.with_name(path.name + ".link")
        try:
            os.link(first[digest], spare)
        except OSError:
            continue
        os.replace(spare, path)
    return digests


def _remove_bundle(directory: Path) -> None:
    """Remove the bundle in ``directory``: renamed aside first, so that it goes whole."""
    old = sibling(directory, "old", folder=True)
    os.replace(directory, old / "bundle")
    shutil.rmtree(old, ignore_errors=True)


def _level_entry(tables: Any) -> dict[str, Any]:
    """The manifest entries of the level model of pre-launch targets (plain JSON), if any, and
    of the source series' static values it is checked against (``level_peers``)."""
    from transfercast.forecasting import level_peers

    model = tables.level_model
    if model is None:
        return {}
    peers = level_peers(tables).to_dict(orient="list")
    return {"level_model": _jsonable(model.to_json()), "level_peers": _jsonable(peers)}


def _swap_into_place(tmp: Path, directory: Path) -> None:
    """Rename ``tmp`` to ``directory``, replacing an existing bundle."""
    old = None
    if directory.exists():
        old = sibling(directory, "old", folder=True)
        os.replace(directory, old / "bundle")
    os.replace(tmp, directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class Bundle:
    """A verified bundle: its folder, manifest, feature builder and loaded strategies."""

    directory: Path
    manifest: dict[str, Any]
    builder: FeatureBuilder
    features: FeaturesConfig
    strategies: dict[str, Strategy]

    @property
    def origin(self) -> pd.Timestamp:
        return pd.Timestamp(self.manifest["origin"])

    @property
    def data(self) -> dict[str, Any]:
        return self.manifest["data"]

    @property
    def level_model(self) -> LevelModel | None:
        """The level model of the pre-launch targets it was fitted for; ``None`` without."""
        state = self.manifest.get("level_model")
        return None if state is None else LevelModel.from_json(state)


def read_manifest(directory: Path) -> dict[str, Any]:
    """Read and verify a bundle's manifest and file checksums; raise :class:`BundleError`."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        if not directory.exists():
            raise BundleError(f"{directory}: no such folder; give the model folder `run` wrote")
        inner = directory / "model"
        hint = f" (did you mean {inner}?)" if (inner / MANIFEST).is_file() else ""
        raise BundleError(f"{directory}: not a transfercast model bundle (no {MANIFEST}){hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise BundleError(f"{path}: not valid JSON (nested too deeply to read)") from None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version is None:
        raise BundleError(f"{path}: no format_version; not a transfercast model bundle")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BundleError(f"{path}: format_version {version!r} is not a bundle format version")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{directory}: bundle format version {version} is newer than this transfercast "
            f"{transfercast.__version__} reads (up to {FORMAT_VERSION}); upgrade transfercast"
        )
    if manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise BundleError(f"{path}: checksum mismatch; the manifest was modified or is corrupt")
    _check_shape(path, manifest)
    revision = manifest.get("features_revision", 1)
    if isinstance(revision, int) and revision != FEATURES_REVISION:
        later = "; a later transfercast wrote it: upgrade, or" * (revision > FEATURES_REVISION)
        warnings.warn(
            f"{directory}: written with features revision {revision} (transfercast "
            f"{manifest.get('transfercast_version', '?')}); this transfercast computes revision "
            f"{FEATURES_REVISION}, so its forecasts can differ from those of the run that wrote "
            f"it (see FEATURES_REVISION in transfercast.bundle){later or ':'} run again to "
            "refresh it",
            DataWarning,
            stacklevel=3,
        )
    _check_engines(directory, manifest)
    for target in manifest.get("targets", []):
        _inside(directory, str(target.get("dir", "")))
    for name, digest in manifest["files"].items():
        file = _inside(directory, name)
        if not file.is_file():
            raise BundleError(f"{directory}: bundle file '{name}' is missing")
        if sha256_file(file) != digest:
            raise BundleError(
                f"{directory}: checksum mismatch for '{name}'; the bundle was modified or is "
                f"corrupt, refusing to load it"
            )
    return manifest


#: the manifest's keys every bundle has (``a.b``: key ``b`` of table ``a``), each with the
#: type of its value; and those of each entry of ``targets``
MANIFEST_KEYS = {
    "files": dict, "targets": list, "strategy": dict, "data": dict, "features": dict,
    "origin": str, "training_data": dict, "strategy.name": str, "strategy.params": dict,
    "features.builder": dict, "features.config": dict, "data.series": list, "data.time": str,
    "data.target": str, "data.domain": str, "data.freq": str, "data.static": list,
    "data.known": list, "data.targets": list, "data.sources": list, "data.horizon": int,
    "data.columns": dict,
}  # fmt: skip
TARGET_KEYS = {"domain": object, "dir": str, "entries": dict}


def _check_shape(path: Path, manifest: dict[str, Any]) -> None:
    """A :class:`BundleError` naming ``manifest.json`` and the key where a key is missing or
    of the wrong type, a target entry lacks one, no target is listed, or a target domain is
    listed twice or is not one of ``data.targets`` (a manifest edited and re-signed)."""
    for key, kind in MANIFEST_KEYS.items():
        table, _, inner = key.rpartition(".")
        holder = manifest[table] if table else manifest
        value = holder.get(inner, _MISSING)
        if value is _MISSING or not isinstance(value, kind) or isinstance(value, bool):
            got = "missing" if value is _MISSING else f"of type {type(value).__name__}"
            raise BundleError(f"{path}: key '{key}' is {got}, not of type {kind.__name__}")
    if not manifest["targets"]:
        raise BundleError(f"{path}: key 'targets' lists no target domain")
    fitted = {str(t) for t in manifest["data"]["targets"]}
    seen: set[str] = set()
    for k, target in enumerate(manifest["targets"]):
        for key, kind in TARGET_KEYS.items():
            value = target.get(key, _MISSING) if isinstance(target, dict) else _MISSING
            if value is _MISSING or not isinstance(value, kind):
                raise BundleError(f"{path}: key 'targets[{k}].{key}' is missing or of a wrong type")
        domain = str(target["domain"])
        if domain in seen:
            raise BundleError(f"{path}: key 'targets' lists target domain '{domain}' twice")
        if domain not in fitted:
            raise BundleError(
                f"{path}: key 'targets[{k}].domain' names '{domain}', which is not one of "
                f"data.targets"
            )
        seen.add(domain)


_MISSING = object()


def _inside(directory: Path, name: str) -> Path:
    """``directory / name``, a :class:`BundleError` where the name leads out of the bundle (an
    absolute path, ``..``): a bundle reads its own files only."""
    path = directory / name
    root = directory.resolve()
    if Path(name).is_absolute() or not path.resolve().is_relative_to(root):
        raise BundleError(
            f"{directory}: bundle file '{name}' lies outside the bundle; refusing to load it"
        )
    return path


def load_bundle(directory: Path) -> Bundle:
    """Verify a bundle and load its strategies (through each strategy's ``load``); a plugin
    module it records that cannot be imported is a :class:`BundleError` naming it."""
    from transfercast.plugin_manager import ENV_LOAD, PluginLoadError, get_plugin_manager

    directory = Path(directory)
    manifest = read_manifest(directory)
    plugins = manifest.get("plugins", [])
    try:
        pm = get_plugin_manager(plugins)  # active while loading: auto's members are looked up
    except PluginLoadError as exc:
        folder = manifest.get("plugin_folders", {}).get(exc.module)
        was = f" (it was imported from {folder} when the model was written)" if folder else ""
        how = (
            f"cannot be imported{was}; put the folder that holds it on PYTHONPATH, or install it"
            if exc.reason.startswith("ModuleNotFoundError")
            else f"failed to load: {exc.reason}"
        )
        raise BundleError(
            f"{directory}: the model needs plugin module '{exc.module}', which {how}"
        ) from None
    _check_plugin_folders(directory, manifest)
    name = manifest["strategy"]["name"]
    try:
        entry = pm.registry.get(name)
    except TransfercastError as exc:
        by = manifest["strategy"].get("provider") or {}  # none in bundles before 2026-12-07
        how = "install the plugin that provides it"
        if by.get("source") == "entry point":
            how = (
                f"install the package that registers the transfercast entry point "
                f"'{by['plugin']}' (and let {ENV_LOAD} name it, where set)"
            )
        raise BundleError(
            f"{directory}: the model's strategy '{name}' is not registered here ({exc}); {how}"
        ) from None
    check_provider(entry, manifest["strategy"].get("provider"), directory)
    params = manifest["strategy"]["params"]
    strategies = {}
    loading = _LOADING.set((directory, manifest["files"]))
    try:
        for target in manifest["targets"]:
            entries = {"params": params, **target["entries"]}
            loaded = entry.cls.load(directory / target["dir"], entries)
            if not isinstance(loaded, Strategy):
                raise BundleError(
                    f"{directory}: strategy '{name}' load returned {type(loaded).__name__}; it "
                    f"must return the fitted strategy (plugin {entry.plugin!r})"
                )
            strategies[target["domain"]] = loaded
    finally:
        _LOADING.reset(loading)
    builder = FeatureBuilder(**_known_keys(directory, manifest, "builder", FeatureBuilder))
    features = FeaturesConfig(**_known_keys(directory, manifest, "config", FeaturesConfig))
    return Bundle(directory, manifest, builder, features, strategies)


def _known_keys(directory: Path, manifest: dict[str, Any], part: str, kind: type) -> dict:
    """The manifest's ``features.<part>`` table, refused in one line where it holds a key
    ``kind`` does not know (a later transfercast wrote it without a new format version)."""
    table = manifest["features"][part]
    known = getattr(kind, "model_fields", None) or {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise BundleError(
            f"{directory}: features.{part} key '{unknown[0]}' is unknown to this transfercast "
            f"{transfercast.__version__} (written by "
            f"{manifest.get('transfercast_version', '?')}); upgrade transfercast"
        )
    return table


def _check_columns(bundle: Bundle, frame: pd.DataFrame, source: str) -> None:
    """New data must have the training columns, with values that read as numbers where the
    training values were numbers (text such as ``"151"`` reads as the number, as in a fit).
    Series keys and the domain are codes: a new store ``N1`` beside stores ``1``-``45`` is one
    more category."""
    codes = {bundle.data["time"], bundle.data["domain"], *bundle.data["series"]}
    for col, dtype in bundle.data["columns"].items():
        if col not in frame.columns or col in codes:
            continue  # a missing column is reported by the data validation, with the closest
        try:
            was = pd.api.types.pandas_dtype(dtype)
        except TypeError:
            continue
        was_numeric = pd.api.types.is_numeric_dtype(was) and not pd.api.types.is_bool_dtype(was)
        if not was_numeric:
            continue
        _, bad = as_numbers(frame[col])
        if bad is not None:
            raise DataError(
                f"{source}: column '{col}' is not numeric: value {bad!r} (the model was trained "
                f"with numbers, {dtype})"
            )


def _respelled_domains(bundle: Bundle, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each domain name, and each value of a categorical column the model
    knows, written in another Unicode form than the model's (NFD ``Zürich`` for NFC) written
    as the model wrote it; ``frame`` itself when none is."""
    domain = bundle.data["domain"]
    known = {domain: [*bundle.data["targets"], *bundle.data["sources"]]}
    known.update(bundle.builder.categories)
    changed = {}
    for col, names in known.items():
        if col not in frame.columns or frame[col].dtype.kind in "iufbmM":
            continue
        model = {name_form(t): t for t in names if isinstance(t, str)}
        present = set(frame[col].dropna().unique())
        renames = {  # not where the model's own spelling is there too: two names, as in `run`
            v: model[name_form(v)]
            for v in present
            if isinstance(v, str) and name_form(v) in model and model[name_form(v)] not in present
        }
        if renames:  # a text column keeps its dtype; a categorical one's new names are text
            values = frame[col]
            if isinstance(values.dtype, pd.CategoricalDtype):
                values = values.astype(object)
            changed[col] = values.replace(renames)
    return frame.assign(**changed) if changed else frame


def _check_targets(bundle: Bundle, frame: pd.DataFrame, source: str) -> None:
    """New data must hold rows of every target domain the model forecasts."""
    domain = bundle.data["domain"]
    if domain in frame.columns:  # named as the data validation names them (5.0 as 5)
        present = set(map(str, whole_numbers_as_int(frame[domain].dropna()).unique()))
        absent = [t for t in bundle.data["targets"] if str(t) not in present]
        if absent:
            raise DataError(
                f"{source}: column '{domain}' has no rows of the model's target domain "
                f"{absent[0]!r}; the model forecasts " + ", ".join(map(str, bundle.data["targets"]))
            )


def _task(data: pd.DataFrame, d: dict[str, Any], bundle: Bundle, source_name: str):
    """The task of ``data`` with the roles, periods and features the bundle was fitted with."""
    from transfercast.task import TransferTask

    return TransferTask(
        data,
        series=d["series"],
        time=d["time"],
        target=d["target"],
        domain=d["domain"],
        freq=d["freq"],
        static=d["static"],
        known=d["known"],
        targets=d["targets"],
        horizon=d["horizon"],
        target_history=d["target_history"],
        regime_start=d.get("regime_start"),
        timezone=d.get("timezone"),
        features=bundle.features,
        source_name=source_name,
        require_sources=False,
    )


def predict_bundle(
    bundle: Bundle | str | Path,
    data: pd.DataFrame,
    *,
    origin: Any = None,
    source_name: str = "data",
    quantiles: Sequence[float] | None = None,
    origin_name: str = "origin",
) -> pd.DataFrame:
    """Forecasts from new data with a loaded bundle, in `run`'s ``forecasts.csv`` columns.

    The origin defaults to the targets' last sale in the new data; the new data are cut there
    (with the bundle's cold-start truncation), features are built with the saved vocabularies
    and each target domain is forecast by its loaded strategy. A bundle written with quantiles
    adds them with its stored calibration (``quantiles``: a subset of its levels; default all).
    Errors about the origin name it as ``origin_name`` (the command line's ``--origin``). The
    origin is in ``attrs["origin"]`` (YYYY-MM-DD, with the time of day in hourly data and its
    UTC offset under ``[data] timezone``). Warns
    when the data do not give the model what its fit read (see :func:`_warn_stale`).
    ``bundle`` may be the bundle's folder: it is loaded first (:func:`load_bundle`).
    """
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(Path(bundle))
    return _predict_loaded(
        bundle,
        data,
        origin=origin,
        source_name=source_name,
        quantiles=quantiles,
        origin_name=origin_name,
    )


@in_task_zone("bundle.builder")  # messages give times as its files do
def _predict_loaded(
    bundle: Bundle,
    data: pd.DataFrame,
    *,
    origin: Any,
    source_name: str,
    quantiles: Sequence[float] | None,
    origin_name: str,
) -> pd.DataFrame:
    """:func:`predict_bundle` with the bundle loaded."""
    from transfercast.forecaster import to_user_columns
    from transfercast.forecasting import (
        OriginTables,
        one_sided_columns,
        warn_level_extrapolated,
        warn_unknown_future,
        warn_unseen_categories,
    )
    from transfercast.plugin_manager import get_plugin_manager
    from transfercast.uncertainty import add_quantiles, load_intervals

    d = bundle.data
    levels = bundle_quantiles(bundle, quantiles)
    refuse_ambiguous_columns(data, list(d["columns"]), source_name)
    _check_columns(bundle, data, source_name)
    data = _respelled_domains(bundle, data)
    _check_targets(bundle, data, source_name)
    try:
        task = _task(data, d, bundle, source_name)
        refuse_output_names(task.series, task.time, source_name, ("forecast",))
    except DataError as exc:  # predict takes no [data] freq: the model's grid is the one
        head, advice, _ = str(exc).partition(": set [data] freq = ")
        if not advice:
            raise
        raise DataError(
            f"{head}, but the model's periods are '{d['freq']}': date the rows on its grid"
        ) from None
    fitted = pd.Timestamp(bundle.manifest["origin"])
    if origin is not None:
        task.set_origin(origin, origin_name)
    elif pd.isna(task.last_observed):  # nothing sold yet (a launch's rows): the model's origin
        try:
            task.set_origin(fitted, "the model's origin")
        except DataError:
            raise DataError(
                f"{source_name}: no row has a sale, so the origin is not the data's last sale, "
                f"and the model's origin {period_text(fitted)} is not one of the data's periods: "
                f"add a row at it (sales empty), the period before the first to forecast"
            ) from None
    when = task.forecast_origin()
    if when < fitted:  # its models learnt from the sales they would forecast
        said = (
            f"{origin_name} {period_text(when)}"
            if origin is not None
            else f"the data end {period_text(when)}"
        )
        raise DataError(
            f"{source_name}: {said}, before the model's origin {period_text(fitted)}: it was "
            f"fitted on sales after that, the ones it would forecast; give a later origin, or "
            f"fit a model at that origin ([task] origin)"
        )
    tables = OriginTables(task, task.at_origin(when), task.features, dropped=())
    lost = [
        c for c, side in one_sided_columns(bundle.builder, tables.data).items() if side == "target"
    ]
    if lost:
        raise DataError(
            f"{source_name}: column '{lost[0]}' has no values in the target "
            f"domains, but the model was trained with it"
        )
    tables.builder = bundle.builder
    warn_unseen_categories(tables, source_name, saved=True)
    if len(tables.prelaunch):  # not selling yet: the level model it was fitted with
        if bundle.level_model is None:
            first = tables.data.panel.ids[tables.prelaunch[0]]
            raise DataError(
                f"{source_name}: series {first!r} of target domain "
                f"{tables.prelaunch_domain()!r} has no sales up to {period_text(when)}, and the "
                f"model bundle was fitted while every target series had sales: it holds no level "
                f"model for a forecast before launch; run `transfercast run` again"
            )
        tables.level_model = bundle.level_model
        saved = bundle.manifest.get("level_peers")  # (none in bundles before 2026-12-07)
        peers = pd.DataFrame(saved) if saved and not len(tables.data.source_rows) else None
        warn_level_extrapolated(tables, source_name, peers)  # as run warned
    frames = []
    for target in bundle.manifest["targets"]:
        domain = next(t for t in task.targets if str(t) == target["domain"])
        fc = tables.forecast(bundle.strategies[target["domain"]], domain)
        if levels:
            spec = target["intervals"]
            pm = get_plugin_manager(bundle.manifest.get("plugins", []))
            model = load_intervals(spec["method"], spec["state"], pm)
            fc = add_quantiles(model, spec["quantiles"], tables, domain, fc)
        frames.append(fc)
    fc = pd.concat(frames, ignore_index=True)
    warn_unknown_future(tables, source_name)
    out = to_user_columns(task, fc)
    out = out[[*task.series, task.time, "forecast", *(qcol(q) for q in levels)]]
    empty = out[[qcol(q) for q in levels]].isna().any(axis=1)
    if empty.any():  # run said why when it fitted; the written file would say nothing
        first = fc.loc[empty.to_numpy(), "unique_id"].iloc[0]
        warnings.warn(
            f"{source_name}: {int(empty.sum())} of {len(out)} forecasts have empty quantile "
            f"columns (first: series {first!r}): the model bundle holds no calibration for them "
            f"(run warned why when it fitted); fit it again with more source domains",
            DataWarning,
            stacklevel=2,
        )
    out.attrs["origin"] = period_text(when)  # JSON-ready: Parquet writes attrs
    _warn_stale(bundle, task, when, source_name)
    return out


def _warn_stale(bundle: Bundle, task: Any, when: pd.Timestamp, source: str) -> None:
    """Warn when new data do not give a bundle what its fit read: domains it neither forecasts
    nor learnt from (they are not forecast), target history cut short (only the new periods
    given), an origin more than a horizon past the model's own, or history the bundle's
    ``target_history`` leaves unread."""
    d, fitted = bundle.data, pd.Timestamp(bundle.manifest["origin"])
    fit = bundle.manifest["training_data"].get("domains")  # none in bundles before 2026-12-07
    known = {*map(str, d["targets"]), *map(str, d["sources"]), *(fit or [])}
    other = sorted({str(v) for v in task.frame[DOMAIN]} - known) if fit is not None else []
    if other:
        warnings.warn(
            f"{source}: column '{d['domain']}' holds {len(other)} domain"
            f"{'s' if len(other) > 1 else ''} the model neither forecasts nor learnt from "
            f"(first {other[0]!r}), left out; to forecast them, add them to [task] targets and "
            f"run `transfercast run`",
            DataWarning,
            stacklevel=3,
        )
    b = bundle.builder  # the most periods up to the origin any feature reads
    season = b.season_length if b.season_length > 1 else 0  # a year back: `sply`, `growth`
    reach = max([*b.lags, *b.windows, b.level_window + season, b.age_window])  # age: n_obs
    keep = min(task.target_history or reach, reach)
    periods = pd.date_range(end=when, periods=keep, freq=task.freq)
    frame = task.frame[task.frame[Y].notna() & (task.frame[DS] <= when)]
    starts = frame.groupby(frame[DOMAIN].astype(str))[DS].min()
    from transfercast.task import SeriesNotes

    notes = SeriesNotes(source)  # one line for the targets cut alike
    for target in bundle.manifest["targets"]:
        first, start = target.get("first_sale"), starts.get(target["domain"])
        if first is None or start is None:
            continue
        wanted = max(pd.Timestamp(first), periods[0])
        if start > wanted:
            notes.add_domain(
                f"{{subject}} {{has}} sales from {period_text(start)} on, but a forecast at "
                f"{period_text(when)} reads them from {period_text(wanted)} on, as the model's "
                f"fit did: {{its}} lags and recent level lack the periods between; give the "
                f"whole history with the new periods",
                target["domain"],
            )
    notes.warn(stacklevel=3)
    age = len(pd.date_range(fitted, when, freq=task.freq)) - 1
    if age > task.horizon:
        warnings.warn(
            f"{source}: the model was fitted at {period_text(fitted)}, {age} periods before the "
            f"origin {period_text(when)} (its horizon: {task.horizon}): it has learnt nothing "
            f"from the periods since; run `transfercast run` to fit it on them",
            DataWarning,
            stacklevel=3,
        )
    hidden = task.hidden_history(when)
    if hidden:
        warnings.warn(
            f"{source}: the model's {task.hidden_text(hidden)}; fit without it to forecast "
            f"from all of their history",
            DataWarning,
            stacklevel=3,
        )


def bundle_quantiles(bundle: Bundle, wanted: Sequence[float] | None) -> list[float]:
    """The quantile levels to forecast: ``wanted`` (each must be one the bundle's calibration
    holds) or, by default, all the bundle's levels (none for a bundle without quantiles)."""
    specs = [t.get("intervals") for t in bundle.manifest["targets"]]
    have = sorted(set.intersection(*(set(s["quantiles"]) if s else set() for s in specs)))
    if wanted is None:
        return have
    missing = [q for q in check_quantiles(wanted) if q not in have]
    if missing:
        held = ", ".join(qcol(q) for q in have) or "none"
        raise ConfigError(
            f"--quantiles: the bundle holds no calibration for {qcol(missing[0])} (it holds: "
            f"{held}); run `transfercast run` with --quantiles including {missing[0]:g}"
        )
    return check_quantiles(wanted)
