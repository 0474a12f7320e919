"""How pure self-conditioning's clusters are: pixel k-means against manifold clusters, per K.

    python bench/clusters.py --data ../shared/data

Clusters the 55,000 training digits of the default split without labels, as training does
(`fit_clusters`), then uses the labels only to score them: purity is the share of digits that are
their cluster's most common digit (1.0: no cluster mixes digits). Prints a table and writes
bench/runs/clusters.json.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from arguments import at_least, positive_int
from hardware import RUNS, describe_cpu, write_results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_digits.checks import report_user_errors  # noqa: E402
from gan_digits.data import load_split  # noqa: E402
from gan_digits.nets.clusters import fit_clusters, nearest  # noqa: E402

TRAIN_IMAGES = 55_000  # the default split: 60,000 minus 5,000 held out


def purity(cluster: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    counts = torch.zeros(k, 10, dtype=torch.long).index_put_((cluster, labels), torch.tensor(1), accumulate=True)
    return counts.max(dim=1).values.sum().item() / len(labels)


@report_user_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--clusters", type=at_least(2), nargs="*", default=[20, 30, 50, 100])
    parser.add_argument("--fine", type=positive_int, default=1000, help="small clusters per manifold clustering")
    parser.add_argument("--out", default=str(RUNS / "clusters.json"))
    args = parser.parse_args()

    images, labels = load_split(args.data, "train")
    images, labels = images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES]
    points = images.flatten(1).float().div(127.5).sub(1.0)
    rows = []
    print("| clusters | pixel k-means purity | manifold purity | fit s (pixel / manifold) |")
    print("| --- | --- | --- | --- |")
    for k in args.clusters:
        row = {"clusters": k}
        for method, fine in (("pixel", None), ("manifold", args.fine)):
            start = time.perf_counter()
            centroids, members, _ = fit_clusters(images, k, fine=fine)
            row[f"{method}_fit_s"] = round(time.perf_counter() - start, 1)
            row[f"{method}_purity"] = round(purity(members[0][nearest(points, centroids[0])], labels, k), 3)
        rows.append(row)
        print(f"| {k} | {row['pixel_purity']} | {row['manifold_purity']} | {row['pixel_fit_s']} / {row['manifold_fit_s']} |")
    result = {"hardware": describe_cpu(), "fine": args.fine, "rows": rows}
    write_results(args.out, result)


if __name__ == "__main__":
    main()
