"""Quality reached in a fixed training time, against the real-data floor: the numbers in docs/quality.md.

    python bench/quality.py --minutes 8 --data ../shared/data              # every recipe below
    python bench/quality.py --minutes 8 --only cdcgan_ema dcgan_ema          # some of them
    python bench/quality.py --batches 3000 --only dcgan_ema --out screen.json  # a fixed length instead

Each recipe trains `python train.py <overrides> trainer.max_time=<minutes>` in its own run dir
under bench/runs/, then `gan_digits.evaluate` scores its last checkpoint on 10,000 digits (and the
one it kept for its lowest val/fid, as `best_checkpoint`); `--real`
scores 10,000 real training digits once: the floor. Results go to bench/runs/quality.json and a
markdown table on stdout. Run it on an otherwise idle machine: the time budget is wall-clock.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from arguments import positive_int, positive_number
from hardware import RUNS, describe_cpu, write_results

from gan_digits.checks import report_user_errors
from gan_digits.data import load_split
from gan_digits.evaluate import times_floor

ROOT = Path(__file__).resolve().parents[1]


def adam(lr: float, g_lr: float | None = None) -> list[str]:
    """Both nets' Adam learning rate (G's apart when given)."""
    return [f"model.d_optimizer.lr={lr}", f"model.g_optimizer.lr={g_lr or lr}"]


def decay(gamma: float) -> str:
    """Both rates times `gamma` after every epoch."""
    return f"model.scheduler={{_target_:torch.optim.lr_scheduler.ExponentialLR,_partial_:true,gamma:{gamma}}}"


def styles(k: int, fine: int | None = None, diversity: float = 0.0) -> list[str]:
    """cdcgan with k styles within each digit: pixel k-means, or unions of `fine` small clusters;
    `diversity`: the weight of the mode-seeking term."""
    return ["model=cdcgan", f"model.generator.clusters={k}", f"model.discriminator.fine_clusters={fine or 'null'}",
            f"model.diversity_weight={diversity}"]


CLASSIC = ["model.ema_decay=null", *adam(2e-4)]  # BCE, Adam 2e-4 (beta1 0.5), G sampled as trained
EMA = "model.ema_decay=0.999"                    # sample from an EMA of G (the default)
HINGE_SN = ["model.discriminator.spectral_norm=true", "model.loss._target_=gan_digits.losses.HingeLoss"]
LSGAN = "model.loss._target_=gan_digits.losses.LeastSquaresLoss"
CDCGAN = ["model=cdcgan", "model.generator.clusters=null", "model.diversity_weight=0"]  # the early default: one
# style per digit, no mode-seeking term
DCGAN = ["model=dcgan", "model.generator.clusters=null"]  # the plain unconditional DCGAN, no clusters
PIXEL = ["model=dcgan", "model.discriminator.fine_clusters=null"]  # self-conditioned on pixel k-means clusters
MANIFOLD = ["model=dcgan", "model.discriminator.fine_clusters=1000"]  # ... on manifold clusters (clusters.py)
BF16 = "trainer.precision=bf16-mixed"  # bf16 autocast: faster steps on some CPUs (docs/speed.md)
# Every recipe trains in fp32 unless it names a precision (later on the command line, it wins): the
# recipes that predate `trainer.precision=auto` ran in fp32, and a rerun must not depend on the machine's pick.
FP32 = "trainer.precision=32-true"
AUTO = "trainer.precision=auto"  # the default: its pick depends on the machine (train.py prints it)
# Each recipe names every setting it relies on, so a change of the defaults does not change it.
RECIPES = {
    "cdcgan_classic": [*CDCGAN, *CLASSIC],
    "cdcgan_ema": [*CDCGAN, EMA, *adam(2e-4)],
    "cdcgan_hinge_sn_ema": [*CDCGAN, EMA, *adam(2e-4), *HINGE_SN],
    "cdcgan_ttur_ema": [*CDCGAN, EMA, *adam(4e-4, 1e-4)],
    "cdcgan_clusters5_ema": ["model=cdcgan", EMA, *adam(2e-4), "model.generator.clusters=5", "model.diversity_weight=0"],
    "cdcgan_hidden_ema": [*CDCGAN, EMA, *adam(2e-4), "model.discriminator.hidden=256"],
    "cdcgan_mbstd_ema": [*CDCGAN, EMA, *adam(2e-4), "model.discriminator.minibatch_std=true"],
    "cdcgan_lr4e-4_ema": [*CDCGAN, EMA, *adam(4e-4)],
    "cdcgan_lr8e-4_ema": [*CDCGAN, EMA, *adam(8e-4)],
    "cdcgan_lr8e-4_decay0.7_ema": [*CDCGAN, EMA, *adam(8e-4), decay(0.7)],
    "cdcgan_lr8e-4_clusters2_ema": [*styles(2), EMA, *adam(8e-4)],
    "cdcgan_lr8e-4_clusters3_ema": [*styles(3), EMA, *adam(8e-4)],
    "cdcgan_lr8e-4_clusters3_seed1_ema": [*styles(3), EMA, *adam(8e-4), "seed=1"],
    "cdcgan_lr8e-4_clusters5_ema": [*styles(5), EMA, *adam(8e-4)],
    "cdcgan_lr8e-4_clusters10_ema": [*styles(10), EMA, *adam(8e-4)],
    "cdcgan_lr8e-4_manifold3_ema": [*styles(3, fine=100), EMA, *adam(8e-4)],
    "cdcgan_g8e-4_d4e-4_clusters3_ema": [*styles(3), EMA, *adam(4e-4, 8e-4)],
    "cdcgan_g8e-4_d2e-4_clusters3_ema": [*styles(3), EMA, *adam(2e-4, 8e-4)],
    "cdcgan_g8e-4_d4e-4_clusters3_smooth0.9_ema": [*styles(3), EMA, *adam(4e-4, 8e-4),
                                                   "+model.loss.real_label=0.9"],
    "cdcgan_g8e-4_d4e-4_clusters3_mbstd_ema": [*styles(3), EMA, *adam(4e-4, 8e-4),
                                               "model.discriminator.minibatch_std=true"],
    "cdcgan_g8e-4_d4e-4_clusters3_ms1_ema": [*styles(3, diversity=1), EMA, *adam(4e-4, 8e-4)],  # the default in fp32
    "cdcgan_g8e-4_d4e-4_clusters3_ms2_ema": [*styles(3, diversity=2), EMA, *adam(4e-4, 8e-4)],
    "cdcgan_g8e-4_d4e-4_clusters3_ms1_seed1_ema": [*styles(3, diversity=1), EMA, *adam(4e-4, 8e-4), "seed=1"],
    "cdcgan_g8e-4_d4e-4_clusters3_ms0.25_ema": [*styles(3, diversity=0.25), EMA, *adam(4e-4, 8e-4)],
    "cdcgan_g8e-4_d4e-4_clusters3_ms1_bf16_ema": [*styles(3, diversity=1), EMA, *adam(4e-4, 8e-4), BF16],
    "cdcgan_g8e-4_d4e-4_clusters3_ms1_auto_ema": [*styles(3, diversity=1), EMA, *adam(4e-4, 8e-4), AUTO],  # the default
    "cdcgan_g8e-4_d4e-4_clusters3_ms1_auto_lsgan_ema": [*styles(3, diversity=1), EMA, *adam(4e-4, 8e-4), AUTO, LSGAN],
    "cdcgan_lr2e-4_clusters3_ms1_auto_lsgan_ema": [*styles(3, diversity=1), EMA, *adam(2e-4), AUTO, LSGAN],
    "gan_ema": ["model=gan", EMA, *adam(2e-4), "model.generator.clusters=null"],  # the default in fp32
    "gan_bf16_ema": ["model=gan", EMA, *adam(2e-4), "model.generator.clusters=null", BF16],
    "dcgan_classic": [*DCGAN, *CLASSIC],
    "dcgan_ema": [*DCGAN, EMA, *adam(2e-4)],
    "dcgan_hinge_sn_ema": [*DCGAN, EMA, *adam(2e-4), *HINGE_SN],
    "dcgan_ttur_ema": [*DCGAN, EMA, *adam(4e-4, 1e-4)],
    "dcgan_b128_ema": [*DCGAN, EMA, *adam(2e-4), "data.batch_size=128"],
    "dcgan_info": [*DCGAN, *CLASSIC, "model.generator.latent_codes=10"],
    "dcgan_info_ema": [*DCGAN, EMA, *adam(2e-4), "model.generator.latent_codes=10"],
    "dcgan_mbstd": [*DCGAN, *CLASSIC, "model.discriminator.minibatch_std=true"],
    "dcgan_hidden": [*DCGAN, *CLASSIC, "model.discriminator.hidden=256"],
    "dcgan_clusters20_ema": [*PIXEL, EMA, *adam(2e-4), "model.generator.clusters=20"],
    "dcgan_clusters50_ema": [*PIXEL, EMA, *adam(2e-4), "model.generator.clusters=50"],
    "dcgan_clusters100_ema": [*PIXEL, EMA, *adam(2e-4), "model.generator.clusters=100"],
    "dcgan_clusters200_ema": [*PIXEL, EMA, *adam(2e-4), "model.generator.clusters=200"],
    "dcgan_clusters20_hidden_ema": [*PIXEL, EMA, *adam(2e-4), "model.generator.clusters=20",
                                    "model.discriminator.hidden=256"],
    "dcgan_manifold30_ema": [*MANIFOLD, EMA, *adam(2e-4), "model.generator.clusters=30"],
    "dcgan_manifold50_ema": [*MANIFOLD, EMA, *adam(2e-4), "model.generator.clusters=50"],
    "dcgan_manifold30_lr4e-4_ema": [*MANIFOLD, EMA, *adam(4e-4), "model.generator.clusters=30"],  # the default in fp32
    "dcgan_manifold30_lr4e-4_bf16_ema": [*MANIFOLD, EMA, *adam(4e-4), "model.generator.clusters=30", BF16],
}


def evaluate(target: list[str], data: str) -> dict:
    """Run the evaluate command; its last line is the JSON of every metric."""
    out = subprocess.run([sys.executable, "-m", "gan_digits.evaluate", *target, f"--data={data}"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def first_fid_below(run_dir: Path, threshold: float) -> float | None:
    """Minutes from the first logged event until `val/fid` (2,000 samples) first reached `threshold`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    tags = events.Tags()["scalars"]
    if "val/fid" not in tags:  # a run too short for one validation (`--batches` under an epoch)
        return None
    start = min(e.wall_time for tag in tags for e in events.Scalars(tag))
    hits = [e.wall_time for e in events.Scalars("val/fid") if e.value <= threshold]
    return round((hits[0] - start) / 60, 1) if hits else None


def add_ratios(metrics: dict, floor: dict) -> dict:
    """FID (and intra-class FID) as multiples of the real-data floor's, added to `metrics`."""
    metrics.update(times_floor(metrics, floor))
    return metrics


def max_time(minutes: float) -> str:
    """`minutes` as trainer.max_time's DD:HH:MM:SS, a second at least (a day and more: the hours wrapped)."""
    days, seconds = divmod(max(1, round(minutes * 60)), 86400)
    hours, seconds = divmod(seconds, 3600)
    return f"{days:02d}:{hours:02d}:{seconds // 60:02d}:{seconds % 60:02d}"


def shown(metrics: dict, name: str) -> str:
    """A share to 3 decimals, or "-" where the metrics lack it (unconditional: no label accuracy; results written
    before precision and recall were measured)."""
    return f"{metrics[name]:.3f}" if name in metrics else "-"


def results_table(results: dict) -> list[str]:
    """The Markdown table of `results`: the floor's row, then each run's and its best checkpoint's."""
    floor = results["floor"]
    columns = ("recipe", "batches", "FID (x floor)", "intra-FID (x floor)", "label acc", "precision", "recall", "modes",
               "confidence")
    rows = [f"| {' | '.join(columns)} |", f"|{' --- |' * len(columns)}",
            f"| real digits (floor) | - | {floor['fid']:.3f} | {floor['intra_fid']:.3f} | {floor['label_acc']:.3f} "
            f"| {shown(floor, 'precision')} | {shown(floor, 'recall')} | {floor['modes']} "
            f"| {floor['confidence']:.3f} |"]
    for name, run in results.get("runs", {}).items():
        for label, m in ((name, run), (f"{name} (best val/fid: {run.get('best_checkpoint', {}).get('file')})",
                                       run.get("best_checkpoint"))):
            if m is None:
                continue
            intra = f"{m['intra_fid']:.2f} ({m['intra_fid_x_floor']}x)" if "intra_fid" in m else "-"
            rows.append(f"| {label} | {run['batches']} | {m['fid']:.2f} ({m['fid_x_floor']}x) | {intra} "
                        f"| {shown(m, 'label_acc')} | {shown(m, 'precision')} | {shown(m, 'recall')} | {m['modes']} "
                        f"| {m['confidence']:.3f} |")
    return rows


@report_user_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=positive_number, default=8)
    parser.add_argument("--batches", type=positive_int, help="train this many batches instead of --minutes (screening "
                        "recipes, e.g. two at a time with OMP_NUM_THREADS=1: equal work, whatever the machine's load)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--only", nargs="*", choices=sorted(RECIPES), default=sorted(RECIPES))
    parser.add_argument("--out", default=str(RUNS / "quality.json"))
    args = parser.parse_args()
    for split in ("train", "test"):  # the files there and whole, before any training
        load_split(args.data, split)

    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    gpu = f"{torch.cuda.get_device_name()} (training), " if torch.cuda.is_available() else ""
    results["hardware"] = f"{gpu}{describe_cpu()}"
    results["floor"] = evaluate(["--real", "--n=10000"], args.data)
    if args.batches:
        length = [f"trainer.max_steps={2 * args.batches}"]
    else:
        length = [f"trainer.max_time={max_time(args.minutes)}"]
    for name in args.only:
        run_dir = RUNS / name
        shutil.rmtree(run_dir, ignore_errors=True)  # a rerun starts afresh (its TensorBoard curve too)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "train.py", FP32, *RECIPES[name], f"data.root={args.data}", *length,
             "trainer.max_epochs=1000", "callbacks.progress_bar.refresh_rate=0", f"hydra.run.dir={run_dir}"],
            cwd=ROOT, check=True,
        )
        checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        metrics = evaluate([str(run_dir / "checkpoints" / "last.ckpt"), "--n=10000"], args.data)
        metrics.update(
            overrides=" ".join(RECIPES[name]),
            minutes=round((time.perf_counter() - start) / 60, 1),
            batches=checkpoint["global_step"] // 2,
            epochs=checkpoint["epoch"],
            minutes_to_fid_8x_floor=first_fid_below(run_dir, 8 * results["floor"]["fid"]),
        )
        add_ratios(metrics, results["floor"])
        # The checkpoint the run kept for its lowest val/fid (2,000 samples, each epoch): what a user
        # samples from when training got worse later on.
        best = next((run_dir / "checkpoints").glob("epoch*-fid*.ckpt"), None)
        if best is not None:
            metrics["best_checkpoint"] = add_ratios(evaluate([str(best), "--n=10000"], args.data), results["floor"])
            metrics["best_checkpoint"]["file"] = best.name
        results.setdefault("runs", {})[name] = metrics
        write_results(out, results)

    budget = f"{args.batches} batches" if args.batches else f"{args.minutes} min of training"
    print(f"hardware: {results['hardware']}; {budget} per run")
    print("\n".join(results_table(results)))


if __name__ == "__main__":
    main()
