"""``l2sp`` on CPU against CUDA: the same comparison run once per device, time and WAPE.

Data: ``synthetic_sales(relatedness=1)`` at two sizes, the demo's (20 stores x 3 departments)
and a larger one (``--large`` stores x 10 departments), 13 weeks of target history, horizon 13,
one rolling origin. Each device runs ``compare`` on ``l2sp`` with the default parameters
(pre-training on the sources, then fine-tuning each target); the printed time is the whole
comparison's wall time, the WAPE its mean over the targets. The two devices should agree to
rounding (CUDA sums embedding gradients with atomics, so not bit for bit).

    python benchmarks/l2sp_device.py                  # needs a CUDA device for the cuda rows
    python benchmarks/l2sp_device.py --devices cpu    # CPU only
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from transfercast.config import parse_config
from transfercast.datasets import synthetic_config, synthetic_sales
from transfercast.evaluation import compare
from transfercast.plugins.l2sp import L2SP
from transfercast.task import TransferTask


def run(stores: int, departments: int, device: str) -> dict:
    """Time one ``l2sp`` comparison on ``device``; its mean WAPE and row counts."""
    frame = synthetic_sales(n_domains=stores, series_per_domain=departments, relatedness=1.0)
    raw = synthetic_config(
        "unused.csv", frame.attrs["targets"], horizon=13, target_history=13, windows=1
    )
    task = TransferTask.from_config(parse_config(raw), data=frame)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    comp = compare(task, [L2SP({"device": device})])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    ok = comp.scores[comp.scores["status"] == "ok"]
    if len(ok) < len(comp.scores):
        raise SystemExit(comp.scores.loc[comp.scores["status"] != "ok", "error"].iloc[0])
    return {
        "stores": stores,
        "rows": len(frame),
        "device": device,
        "seconds": seconds,
        "wape": ok["wape"].mean(),
        "targets": ok["target"].nunique(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cpu,cuda", help="comma-separated torch devices")
    ap.add_argument("--large", type=int, default=200, help="stores in the larger data set")
    args = ap.parse_args()
    devices = args.devices.split(",")
    if args.large <= 5:
        ap.error(f"--large must be more than the 5 target stores, got {args.large}")
    if any(d.startswith("cuda") for d in devices) and not torch.cuda.is_available():
        raise SystemExit("--devices names cuda but torch sees no CUDA device")
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    threads = os.environ.get("TRANSFERCAST_THREADS", f"unset, torch's {torch.get_num_threads()}")
    print(f"CPU threads (TRANSFERCAST_THREADS): {threads}")
    print(f"{'stores':>6} {'rows':>8} {'device':>6} {'seconds':>8} {'wape':>7} targets")
    for stores, departments in ((20, 3), (args.large, 10)):
        for device in devices:
            r = run(stores, departments, device)
            print(
                f"{r['stores']:>6} {r['rows']:>8} {r['device']:>6} {r['seconds']:>8.1f} "
                f"{r['wape']:>7.4f} {r['targets']:>7}",
                flush=True,
            )


if __name__ == "__main__":
    main()
