"""``auto``'s evidence dumped per cell, and its weights recomputed offline from the dump.

A research tool for trying weighting schemes without refitting anything. ``dump`` runs
``walmart_cold_start.py`` (same arguments) with ``auto``'s evidence written per target and
origin into ``--dump``: the replay and own-backtest detail, the ``selection.csv`` row and the
predictions of ``auto``, its members and the model-free candidates on the target. ``emulate``
recomputes the weights from those files (``default`` reproduces ``auto`` exactly) and with
alternatives (``select``: the best single candidate; ``noflat``: the stack without ``naive``
and ``last_value``), and scores each on the target's horizon with the strategies' forecasts of
the same run (so run ``dump`` with every candidate among ``--strategies``).

    python benchmarks/auto_evidence.py dump --dump /tmp/ev --level store --folds 45 \\
        --histories 26 --references "" --origins 2011-07-29 --stores 6,7 \\
        --strategies auto,source_only,pooled,boost_continue,l2sp,representation,target_only \\
        --output /tmp/ev_run
    python benchmarks/auto_evidence.py emulate default noflat --dump /tmp/ev --runs /tmp/ev_run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import transfercast.plugins.auto as auto_plugin
from transfercast.replay import BUILTIN, Replays

FLAT = ("naive", "last_value")


def dump(folder: Path, argv: list[str]) -> int:
    """Run walmart_cold_start.py with ``auto.transfer`` and ``auto.predict`` writing files."""
    folder.mkdir(parents=True, exist_ok=True)
    transfer, predict = auto_plugin.Auto.transfer, auto_plugin.Auto.predict

    def stem(self) -> str:
        row = self.selection_.iloc[0]
        return str(folder / f"{row['target']}_{pd.Timestamp(row['origin']).date()}")

    def dumped_transfer(self, source_model, target, source=None):
        out = transfer(self, source_model, target, source)
        self.replays_.to_parquet(f"{stem(self)}_replays.parquet")
        self.inner_.to_parquet(f"{stem(self)}_inner.parquet")
        self.selection_.to_csv(f"{stem(self)}_selection.csv", index=False)
        return out

    def dumped_predict(self, table):
        out = predict(self, table)
        ctx = self.context_
        frame = table.keys.reset_index(drop=True).assign(level=np.asarray(table.level, float))
        frame["auto"] = out
        for member in self.members_:
            frame[f"member_{member.name}"] = member.predict(table)
        for name in BUILTIN:
            if f"member_{name}" not in frame:
                m = self.make(name)
                m.context_ = ctx
                m.transfer(None, ctx["tables"].target(ctx["domain"]), ctx["tables"].source)
                frame[f"member_{name}"] = m.predict(table)
        frame.to_parquet(f"{stem(self)}_predict.parquet")
        return out

    auto_plugin.Auto.transfer, auto_plugin.Auto.predict = dumped_transfer, dumped_predict
    sys.path.insert(0, str(Path(__file__).parent))
    import walmart_cold_start

    return walmart_cold_start.main(argv)


def _evidence(detail: pd.DataFrame) -> Replays:
    """A :class:`Replays` from dumped detail: its table is each (domain, cut, candidate)'s WAPE."""
    g = detail.assign(e=(detail.forecast - detail.actual).abs(), a=detail.actual.abs())
    s = g.groupby(["domain", "cut", "candidate"])[["e", "a"]].sum()
    table = (s.e / s.a).rename("wape").reset_index()
    return Replays(table, detail, pd.DataFrame(), 0.0)


def weights(rep: pd.DataFrame, own: pd.DataFrame, meta: dict, variant: str) -> pd.Series:
    """The weights ``auto.weigh`` gives one cell's evidence (``default``), the best single
    candidate (``select``), or the stack without the flat forecasts (``noflat``)."""
    replays, backtest = _evidence(rep), _evidence(own)
    if variant == "noflat":
        replays, backtest = replays.drop(candidates=FLAT), backtest.drop(candidates=FLAT)
    method = "select" if variant == "select" else "stack"
    w, _, _ = auto_plugin.Auto({"method": method}).weigh(
        replays, backtest, meta, own["domain"].iloc[0]
    )
    return w


def emulate(folder: Path, runs: list[Path], variants: list[str]) -> pd.DataFrame:
    """One row per dumped cell: each strategy's and each variant's WAPE on the target."""
    fc = pd.concat([pd.read_csv(r / "walmart_forecasts.csv") for r in runs])
    rows = []
    for f in sorted(folder.glob("*_selection.csv")):
        stem = str(f)[: -len("_selection.csv")]
        sel = pd.read_csv(f).iloc[0]
        pr = pd.read_parquet(f"{stem}_predict.parquet")
        origin = str(pd.Timestamp(sel["origin"]).date())
        cell = fc[(fc.origin == origin) & (fc.unique_id.astype(str) == str(sel["target"]))]
        if cell.empty:
            continue
        piv = cell.pivot_table(index="ds", columns="strategy", values="forecast")
        days = [str(pd.Timestamp(d).date()) for d in pr.ds]
        actual = cell.groupby("ds")["actual"].first().loc[days].to_numpy(float)
        cols = {k: piv.loc[days, k].to_numpy(float) for k in piv.columns}
        cols.update({k: (pr[f"member_{k}"] * pr.level).to_numpy(float) for k in FLAT})

        def score(w: pd.Series, cols: dict = cols, actual: np.ndarray = actual) -> float:
            if any(k not in cols for k in w.index):
                return np.nan
            f_ = sum(w[k] * cols[k] for k in w.index)
            return float(np.abs(f_ - actual).sum() / np.abs(actual).sum())

        meta = {c[5:]: sel[c] for c in sel.index if c.startswith("meta_") and pd.notna(sel[c])}
        rep = pd.read_parquet(f"{stem}_replays.parquet")
        own = pd.read_parquet(f"{stem}_inner.parquet")
        row = {"target": sel["target"], "origin": origin}
        row.update({k: score(pd.Series({k: 1.0})) for k in cols})
        row.update({f"emu_{v}": score(weights(rep, own, meta, v)) for v in variants})
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "dump":
        ap = argparse.ArgumentParser()
        ap.add_argument("--dump", type=Path, required=True)
        known, rest = ap.parse_known_args(sys.argv[2:])
        return dump(known.dump, rest)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["emulate"])
    ap.add_argument("--dump", type=Path, required=True)
    ap.add_argument("--runs", type=Path, nargs="+", required=True, help="dump's --output folders")
    ap.add_argument("variants", nargs="*", default=["default", "select", "noflat"])
    args = ap.parse_args()
    table = emulate(args.dump, args.runs, args.variants)
    pd.set_option("display.width", 200)
    print(table.groupby("target").mean(numeric_only=True).round(4).to_string())
    print(f"\nmean over {len(table)} cells")
    print(table.mean(numeric_only=True).drop("target", errors="ignore").round(4).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
