"""What Lightning itself adds to every batch on the CPU: the floor under speed.py's (c)/(d), measured on no network.

    python bench/lightning_floor.py --data ../shared/data      # the MLP GAN, whose step is the shortest
    python bench/lightning_floor.py --models gan dcgan

Four columns, in turn, `--rounds` times, each reporting its median (as speed.py does):
  (c) default: this project's training, speed.py's column (c);
  (d) raw:     its step in a loop without Lightning, speed.py's column (d);
  (e) hollow:  (c) with the adversarial step hollowed out and no EMA of G: the same fit loop, data
               path, callbacks, logger and precision, and the step's own Lightning calls (both
               optimizers fetched and toggled, two `manual_backward`s, two optimizer steps), on a
               loss of one scalar that no optimizer holds, so that no network runs;
  (f) bare:    (e) without the callbacks and the logger: Lightning's fit loop alone.
(e)'s milliseconds per batch are what Lightning costs a step of any size, plus two things (d) pays
too: fetching the batch and Adam's per-step CUDA check (~0.1 ms together on a 2-core AMD EPYC);
(d) / ((d) + (e)) is the best (c)/(d) that Lightning leaves this model on this machine. Writes bench/results/lightning_floor.json.
"""

import argparse
import json
import statistics
from pathlib import Path

import torch
from hardware import describe_cpu
from speed import (MODELS, PREPARE_FOR_PRECISION, ROOT, TRAIN_IMAGES, lightning_run, memory_batches,
                   model_at_precision, plain_loop, positive_int, timed_iterations)

from gan_digits.data import load_split
from gan_digits.precision import AUTO


def hollow(module):
    """Makes the module's adversarial step its Lightning calls alone: column (e)."""
    anchor = torch.zeros((), requires_grad=True)  # in no optimizer, so toggling leaves it trainable
    zero = torch.zeros(())
    scalars = module._scalars("train", zero, zero, zero, zero)  # what the logger and the divergence guard read

    def adversarial_step(real, y):
        for optimizer in reversed(module.optimizers()):  # D's, then G's
            with module.toggled_optimizer(optimizer):
                module._optimizer_step(optimizer, anchor * 1.0)  # no gradients for its weights: Adam skips them
        return scalars

    module.adversarial_step = adversarial_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--models", nargs="*", choices=MODELS, default=["gan"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=200, help="timed iterations (gan: 500 at least)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=positive_int, default=3, help="every column this many times, in turn: the median")
    parser.add_argument("--precision", default=AUTO, choices=[AUTO, *sorted(PREPARE_FOR_PRECISION)],
                        help="the project's, for every column ((d) under the autocast Lightning uses)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "lightning_floor.json"))
    args = parser.parse_args()

    cpu = torch.device("cpu")
    images, labels = load_split(args.data, "train")
    images, labels = images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES]
    results = {"hardware": describe_cpu(), "batch_size": args.batch_size, "models": {}}
    for model in args.models:
        iterations = timed_iterations(model, args.iterations)
        cfg, precision = model_at_precision(model, args.precision, cpu, args.batch_size)
        lightning = (model, args.data, args.batch_size, iterations, args.warmup, "memory", 0, cpu, precision)
        columns = {
            "c_default": lambda: lightning_run(*lightning),
            "d_raw": lambda: plain_loop(cfg, memory_batches(images, labels, args.batch_size, cpu), iterations,
                                        args.warmup, cpu, PREPARE_FOR_PRECISION[precision]),
            "e_hollow": lambda: lightning_run(*lightning, overrides=("model.ema_decay=null",), prepare=hollow),
            "f_bare": lambda: lightning_run(*lightning, overrides=("model.ema_decay=null", "~callbacks", "~logger"),
                                            prepare=hollow),
        }
        ms = {name: [] for name in columns}  # milliseconds per batch, round by round
        for _ in range(args.rounds):
            for name, run in columns.items():
                torch.manual_seed(0)
                ms[name].append(1000 / run()[1])
        median = {name: statistics.median(values) for name, values in ms.items()}
        row = {
            "precision": precision,
            "iterations_timed": iterations,
            "ms_per_batch": {name: round(value, 3) for name, value in median.items()},
            "ms_per_batch_each_round": {name: [round(v, 3) for v in values] for name, values in ms.items()},
            "c_over_d": round(median["d_raw"] / median["c_default"], 3),
            "best_c_over_d_lightning_leaves": round(median["d_raw"] / (median["d_raw"] + median["e_hollow"]), 3),
        }
        results["models"][model] = row
        print(f"{model} ({precision}): ms/batch {row['ms_per_batch']}; (c)/(d) {row['c_over_d']}; Lightning's floor "
              f"{row['ms_per_batch']['e_hollow']} ms/batch leaves (c)/(d) <= {row['best_c_over_d_lightning_leaves']}",
              flush=True)
    out = Path(args.out)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
