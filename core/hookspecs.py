"""Hook specifications: the reference for plugin authors.

Every hook a plugin can implement is declared here, with its documentation. A plugin is a
module (or any object) with functions decorated by :data:`transfercast.hookimpl` whose names
are the hook names below. Plugins are found in three places, in this order: the built-ins in
``transfercast.plugins``, installed distributions that declare the entry-point group
``transfercast``, and modules named in the config key ``plugins``.

Strategies are *registered* through :func:`transfercast_register_strategies` and *run* as
objects by the core; the fitting stages are methods of the strategy class
(:class:`transfercast.Strategy`), not hooks, so that several strategies run side by side in one
comparison.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import pandas as pd

hookspec = pluggy.HookspecMarker("transfercast")


@hookspec
def transfercast_register_strategies(register: Callable[..., None]) -> None:
    """Register the transfer strategies this plugin offers.

    Call ``register(strategy_class)`` once per strategy; the class is a subclass of
    :class:`transfercast.Strategy` with a unique ``name``. ``register(cls, aliases=("x",))``
    adds alternative names. The core refuses a name that another plugin already registered and
    names both plugins in the error.

    Example::

        @transfercast.hookimpl
        def transfercast_register_strategies(register):
            register(ShrinkageBlend)
    """


@hookspec
def transfercast_similarity(source: pd.DataFrame, target: pd.DataFrame) -> dict[str, float] | None:
    """Return extra source/target similarity diagnostics, as a mapping of name to value.

    ``source`` and ``target`` are the long-format history frames (standard columns
    ``unique_id``, ``ds``, ``y``, ``domain`` plus covariates), both cut at the forecast origin.
    The results of all plugins are merged into the similarity table. Return ``None`` to add
    nothing.
    """


@hookspec(firstresult=True)
def transfercast_select_strategy(
    target: Any, replays: pd.DataFrame, meta: dict[str, float]
) -> Mapping[str, float] | str | None:
    """Weigh ``auto``'s candidates for one target domain, replacing its learned weights.

    ``target`` is the target domain value. ``replays`` is the replay table of the target's
    origin and history length (:mod:`transfercast.replay`): one row per replayed source domain,
    cut point and candidate, with columns ``origin``, ``n`` (history length), ``domain``,
    ``cut``, ``candidate`` (``naive`` is the recent level, ``last_value`` the last period's
    value, ``seasonal_naive``, present where the history holds a season, the same period a
    season back), ``wape``, ``fit_seconds`` and the domain's meta-features ``history``,
    ``log_level``, ``volatility``, ``trend``, ``season_history``, ``season_horizon``,
    ``season_corr``, ``domain_auc``. ``meta`` holds the
    target's own meta-features under the same names (``domain_auc`` is NaN unless ``auto``'s
    ``method`` is ``"meta"``).

    Return a mapping of candidate name to non-negative weight (normalised to sum to 1), a
    single candidate name, or ``None`` to leave the decision to the next plugin and finally to
    ``auto``'s ``method``. The first non-``None`` answer wins; a name that is not a candidate
    is an error.

    Example: trust the source model alone where the replays say it rarely loses::

        @transfercast.hookimpl
        def transfercast_select_strategy(target, replays, meta):
            wape = replays.pivot_table(index=["domain", "cut"], columns="candidate",
                                       values="wape")
            if "source_only" not in wape:  # not among this run's candidates
                return None
            if (wape["source_only"] <= wape.min(axis=1) * 1.05).mean() > 0.8:
                return "source_only"
            return None
    """


@hookspec(firstresult=True)
def transfercast_intervals(
    method: str,
    quantiles: list[float],
    strategy: Any,
    tables: Any,
    domain: Any,
    cache: Any,
) -> Any:
    """Calibrate quantile forecasts of interval method ``method`` for one fitted strategy on
    one target domain at one origin.

    ``quantiles`` are sorted levels strictly between 0 and 1. ``strategy`` is the fitted
    :class:`transfercast.Strategy`; ``tables`` the origin's
    :class:`~transfercast.forecasting.OriginTables` (``tables.data`` is the panel cut at the
    origin: nothing after it); ``domain`` the target domain value; ``cache`` the origin's
    source-model cache (pass it to :func:`transfercast.replay.replays` to share replays).

    Return ``None`` when ``method`` is not yours; otherwise an object with
    ``apply(forecasts) -> DataFrame``, which receives ``unique_id``, ``ds``, ``forecast``,
    ``level`` (the series' recent level at the origin), ``volatility`` (its history's mean
    absolute period-on-period change over that level), ``step`` (1 to the horizon) and
    ``observed`` (periods of the series observed up to the origin: 0 before launch) and
    returns them with one column per quantile, named by :func:`transfercast.intervals.qcol`
    (``q0.1``); and ``to_json() -> dict`` (stored in model bundles and read back by
    :func:`transfercast_load_intervals`). The core sorts the quantile columns per row, so they
    never cross. The built-in method ``replay_conformal`` is implemented this way
    (``transfercast.plugins.intervals``). An object whose quantiles need the features of the
    prediction rows may also have ``apply_tables(tables, domain, forecasts) -> DataFrame``
    (``tables`` as above, at the origin being forecast: new data in ``predict``), which the
    core then calls instead of ``apply``; the built-in method ``quantile``
    (``transfercast.plugins.quantile_gbm``) does.
    """


@hookspec(firstresult=True)
def transfercast_load_intervals(method: str, state: dict[str, Any]) -> Any:
    """Rebuild the calibrated object of interval method ``method`` from the ``state`` its
    ``to_json()`` wrote into a model bundle; return ``None`` when ``method`` is not yours."""


@hookspec
def transfercast_run_started(kind: str, config: Any) -> None:
    """Observe the start of a ``run`` or ``compare`` (``kind``) with its validated config.

    For logging and experiment tracking; the return value is ignored.
    """


@hookspec
def transfercast_run_finished(kind: str, config: Any, result: Any) -> None:
    """Observe the end of a ``run`` or ``compare``; ``result`` is the forecasts frame or the
    :class:`transfercast.Comparison`. The return value is ignored."""


@hookspec
def transfercast_register_commands(cli: Any) -> None:
    """Add sub-commands to the ``transfercast`` command line.

    ``cli`` is the :class:`typer.Typer` application; decorate functions with ``@cli.command()``.
    Only installed (entry-point) plugins add commands: the command line is built before any
    config is read, so a module named in a config's ``plugins`` list cannot.
    """
