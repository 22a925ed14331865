"""The model-free references as strategies a comparison ranks beside the transfer ones: the
recent level (``naive``), the last period (``last_value``) and the same period a season back
(``seasonal_naive``). Each forecasts from the target series' own history alone, with no model
and no source; a transfer strategy that does not beat them on a backtest adds nothing.
``auto`` weighs them already, as built-in candidates (:data:`transfercast.replay.BUILTIN`)."""

from __future__ import annotations

import transfercast
from transfercast.replay import LastValue, Naive, SeasonalNaive


@transfercast.hookimpl
def transfercast_register_strategies(register) -> None:
    register(Naive)
    register(LastValue)
    register(SeasonalNaive)
