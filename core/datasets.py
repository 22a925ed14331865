"""Embedded data: a deterministic generator of multi-domain weekly sales.

The generator is honest about what transfer can and cannot do: ``relatedness`` in [0, 1] sets
how much the target domains share the sources' structure (yearly seasonality, holiday peaks,
price and promotion response). At 1 they share it fully, so a source model knows the target's
seasonality; at 0 the targets have their own, unrelated structure and transfer should not help.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

HOLIDAY_EFFECT = {"super_bowl": 0.06, "labor_day": 0.05, "thanksgiving": 0.55, "christmas": 0.35}


def _holiday_weeks(dates: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Boolean masks of the weeks (ending Friday) that hold each holiday, Walmart style."""
    out = {}
    d = dates
    # Super Bowl: week ending on the second Friday of February.
    out["super_bowl"] = (d.month == 2) & (d.day >= 8) & (d.day <= 14)
    # Labor Day: week ending on the first Friday of September... Walmart marks the Friday after.
    out["labor_day"] = (d.month == 9) & (d.day >= 7) & (d.day <= 13)
    # Thanksgiving: the Friday after the fourth Thursday of November (Nov 23-29).
    out["thanksgiving"] = (d.month == 11) & (d.day >= 23) & (d.day <= 29)
    # Christmas: the week ending Dec 25-31.
    out["christmas"] = (d.month == 12) & (d.day >= 25)
    return out


def _profile(rng: np.random.Generator, woy: np.ndarray) -> np.ndarray:
    """A random smooth yearly profile with mean about zero."""
    phase = rng.uniform(0, 2 * np.pi, 3)
    amp = rng.uniform([0.10, 0.04, 0.02], [0.20, 0.10, 0.05])
    x = 2 * np.pi * woy / 52.0
    return sum(a * np.sin((k + 1) * x + p) for k, (a, p) in enumerate(zip(amp, phase, strict=True)))


def synthetic_sales(
    n_domains: int = 20,
    series_per_domain: int = 3,
    n_periods: int = 157,
    n_targets: int = 5,
    target_periods: int = 52,
    relatedness: float = 1.0,
    noise: float = 0.06,
    start: str = "2019-01-04",
    seed: int = 0,
) -> pd.DataFrame:
    """Weekly sales of ``n_domains`` stores x ``series_per_domain`` departments.

    The last ``n_targets`` stores are the new (target) stores: they open ``target_periods``
    weeks before the end of the data. Columns: ``store`` (the domain), ``dept``, ``date``
    (weeks ending Friday), ``sales``, ``store_type``, ``size`` (static), ``price``, ``promo``,
    ``is_holiday`` (known in the future). ``frame.attrs["targets"]`` lists the target stores.
    Same arguments, same frame.
    """
    if not 0.0 <= relatedness <= 1.0:
        raise ValueError(f"relatedness must be in [0, 1], got {relatedness}")
    if n_targets >= n_domains:
        raise ValueError("n_targets must be smaller than n_domains")
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n_periods, freq="W-FRI")
    woy = dates.isocalendar().week.to_numpy(float)
    t = np.arange(n_periods) / 52.0
    hol = _holiday_weeks(dates)
    is_holiday = np.zeros(n_periods, dtype=bool)
    for mask in hol.values():
        is_holiday |= mask
    pre_xmas = (dates.month == 12) & (dates.day >= 18) & (dates.day <= 24)

    shared = _profile(rng, woy)
    shared_hol = sum(HOLIDAY_EFFECT[k] * hol[k] for k in hol) + 0.4 * pre_xmas
    dept_amp = rng.uniform(0.6, 1.4, series_per_domain)
    dept_level = rng.lognormal(0, 0.5, series_per_domain)
    dept_elast = rng.uniform(-2.5, -1.0, series_per_domain)
    dept_lift = rng.uniform(0.1, 0.35, series_per_domain)

    rows = []
    stores = [f"S{k + 1:02d}" for k in range(n_domains)]
    targets = stores[n_domains - n_targets :]
    for k, store in enumerate(stores):
        is_target = store in targets
        srng = np.random.default_rng([seed, k])
        level = float(np.exp(srng.normal(np.log(20000), 0.8)))
        growth = srng.normal(0.03, 0.05)
        r = relatedness if is_target else 1.0
        # Sources differ a little among themselves; targets differ by (1 - relatedness).
        own = _profile(srng, woy)
        own_hol_weeks = np.roll(shared_hol, int(srng.integers(8, 40)))
        profile = r * shared + (1 - r) * own + 0.15 * _profile(srng, woy) * r
        holiday = r * shared_hol + (1 - r) * (-0.5 * shared_hol + own_hol_weeks)
        size = int(level * srng.uniform(6, 9))
        stype = "A" if level > 30000 else ("B" if level > 12000 else "C")
        first = n_periods - target_periods if is_target else 0
        for d in range(series_per_domain):
            own_elast = srng.uniform(-0.5, 0.5)
            elast = r * dept_elast[d] + (1 - r) * own_elast
            lift = r * dept_lift[d] + (1 - r) * srng.uniform(-0.1, 0.05)
            amp = r * dept_amp[d] + (1 - r) * srng.uniform(0.6, 1.4)
            base_price = srng.uniform(2, 20)
            walk = np.cumsum(srng.normal(0, 0.01, n_periods))
            promo = srng.random(n_periods) < 0.12
            rel_price = np.exp(walk - walk.mean()) * np.where(promo, 0.8, 1.0)
            y = (
                level
                * dept_level[d]
                * (1 + amp * profile)
                * (1 + holiday)
                * rel_price**elast
                * (1 + lift * promo)
                * (1 + growth * t)
                * srng.lognormal(0, noise, n_periods)
            )
            sl = slice(first, n_periods)
            rows.append(
                pd.DataFrame(
                    {
                        "store": store,
                        "dept": f"D{d + 1}",
                        "date": dates[sl],
                        "sales": np.round(y[sl], 2),
                        "store_type": stype,
                        "size": size,
                        "price": np.round(base_price * rel_price[sl], 3),
                        "promo": promo[sl].astype(int),
                        "is_holiday": is_holiday[sl].astype(int),
                    }
                )
            )
    frame = pd.concat(rows, ignore_index=True)
    frame.attrs["targets"] = targets
    return frame


def synthetic_config(
    data_path: str = "sales.csv",
    targets: list[str] | None = None,
    *,
    horizon: int = 13,
    target_history: int = 13,
    windows: int = 3,
    candidates: list[str] | None = None,
    output_dir: str = "results",
) -> dict[str, Any]:
    """A config mapping (as TOML would give) for data made by :func:`synthetic_sales`."""
    cfg: dict[str, Any] = {
        "data": {
            "path": data_path,
            "series": ["store", "dept"],
            "time": "date",
            "target": "sales",
            "freq": "W-FRI",
            "domain": "store",
            "static": ["store_type", "size"],
            "known": ["price", "promo", "is_holiday"],
        },
        "task": {
            "targets": targets or ["S16", "S17", "S18", "S19", "S20"],
            "horizon": horizon,
            "target_history": target_history,
        },
        "evaluate": {"windows": windows, "step": horizon},
        "strategy": {"name": "auto"},
        "output": {"dir": output_dir},
    }
    if candidates:
        cfg["strategy"]["candidates"] = candidates
    return cfg
