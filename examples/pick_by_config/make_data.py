"""Write ``sales.csv``: the small synthetic data set this example runs on.

Eight stores x two departments of weekly sales over two years; stores S07 and S08 opened
40 weeks before the end of the data (the targets). The file is committed, so the example runs
without this script; run it again (``python make_data.py``) to rebuild the file bit for bit.
Replace ``sales.csv`` with your own long-format table and edit ``config.toml`` to match.
"""

from pathlib import Path

from transfercast.datasets import synthetic_sales

HERE = Path(__file__).resolve().parent


def main(path: Path = HERE / "sales.csv") -> Path:
    """Generate the data and write it to ``path`` (default: next to this script)."""
    frame = synthetic_sales(
        n_domains=8, series_per_domain=2, n_periods=110, n_targets=2, target_periods=40, seed=0
    )
    frame.to_csv(path, index=False)
    return path


if __name__ == "__main__":
    print(f"wrote {main()}")
