"""What Lightning itself adds to every batch on the CPU: the floor under speed.py's (c)/(d), measured on no network.

    python bench/lightning_floor.py --data ../shared/data      # the MLP GAN, whose step is the shortest
    python bench/lightning_floor.py --models gan dcgan

Five columns, in turn, `--rounds` times, each reporting its median (as speed.py does; (g) the median of
every step it timed, over all rounds), and (c) once more, timed by part:
  (c) default: this project's training, speed.py's column (c);
  (d) raw:     its step in a loop without Lightning, speed.py's column (d);
  (e) hollow:  (c) with the adversarial step hollowed out and no EMA of G: the same fit loop, data
               path, callbacks, logger and precision, and the step's own Lightning calls (both
               optimizers fetched and toggled, two `manual_backward`s, two optimizer steps), on a
               loss of one scalar that no optimizer holds, so that no network runs;
  (f) bare:    (e) without the callbacks and the logger: Lightning's fit loop alone;
  (g) in-step: (c) alternating batch by batch between the module's step as it is and the same step
               with its Lightning calls (`manual_backward`, the optimizers' `step`) swapped for
               torch's own (`loss.backward()`, the bare optimizers), each step call timed: what those
               calls cost, measured in one run, so that the VM's drift falls on both alike;
  (c) by part: the step, G's EMA update, the rest of `training_step`, Lightning around it (the
               module's `on_train_batch_start` to its `on_train_batch_end`), and from there to the
               next batch's start (the fit loop, fetching the batch, the callbacks' batch hooks with
               their periodic work: logging, the divergence guard, grids, the epoch's checkpoint),
               each the median and the mean of every batch over all rounds.
(e)'s milliseconds per batch are what Lightning costs a step of any size, plus two things (d) pays
too: fetching the batch and the two Adam steps' own bookkeeping (here on no gradients);
(d) / ((d) + (e)) is the best (c)/(d) that Lightning leaves this model on this machine. Writes bench/runs/lightning_floor.json.
"""

import argparse
import statistics
import time

import torch
from arguments import batch_size, positive_int
from hardware import RUNS, describe_cpu, write_results
from speed import (MODELS, PREPARE_FOR_PRECISION, ROOT, TRAIN_IMAGES, lightning_run, memory_batches,
                   model_at_precision, plain_loop, timed_iterations)

from gan_digits.checks import report_user_errors
from gan_digits.data import load_split
from gan_digits.precision import AUTO
from gan_digits.process import prepare_process


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


def step_calls_timer(times: dict[str, list[float]]):
    """A `prepare` for column (g): the module's step alternates between Lightning's calls and torch's,
    batch by batch, and appends each call's seconds to `times["lightning"]` or `times["torch"]`.
    Toggling stays Lightning's in both (it runs no hooks). Batches with torch's calls do not count as
    optimizer steps, so a run of `max_steps` takes twice the batches."""

    def prepare(module):
        step = module.adversarial_step

        def alternating(real, y):
            calls = "lightning" if len(times["lightning"]) <= len(times["torch"]) else "torch"
            if calls == "torch":
                bare = module.optimizers(use_pl_optimizer=False)
                module.manual_backward = torch.Tensor.backward
                module.optimizers = lambda: bare
            start = time.perf_counter()
            scalars = step(real, y)
            times[calls].append(time.perf_counter() - start)
            if calls == "torch":
                del module.manual_backward, module.optimizers  # back to the class's methods
            return scalars

        module.adversarial_step = alternating

    return prepare


PARTS = ("step", "ema", "training_step", "batch", "between_batches")


def parts_timer(seconds: dict[str, list[float]]):
    """A `prepare` for (c) by part: appends each batch's seconds in each of PARTS to `seconds[part]`."""

    def prepare(module):
        def timed(part, method):
            def wrapper(*args, **kwargs):
                start = time.perf_counter()
                result = method(*args, **kwargs)
                seconds[part].append(time.perf_counter() - start)
                return result

            return wrapper

        module.adversarial_step = timed("step", module.adversarial_step)
        module._update_ema = timed("ema", module._update_ema)
        module.training_step = timed("training_step", module.training_step)
        marks = {}

        def batch_start(*args):
            marks["start"] = time.perf_counter()
            if "end" in marks:
                seconds["between_batches"].append(marks["start"] - marks["end"])

        def batch_end(*args):
            marks["end"] = time.perf_counter()
            seconds["batch"].append(marks["end"] - marks["start"])

        module.on_train_batch_start, module.on_train_batch_end = batch_start, batch_end

    return prepare


@report_user_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--models", nargs="*", choices=MODELS, default=["gan"])
    parser.add_argument("--batch-size", type=batch_size, default=128)
    parser.add_argument("--iterations", type=positive_int, default=200, help="timed iterations (gan: 500 at least)")
    parser.add_argument("--warmup", type=positive_int, default=20)
    parser.add_argument("--rounds", type=positive_int, default=3, help="every column this many times, in turn: the median")
    parser.add_argument("--precision", default=AUTO, choices=[AUTO, *sorted(PREPARE_FOR_PRECISION)],
                        help="the project's, for every column ((d) under the autocast Lightning uses)")
    parser.add_argument("--out", default=str(RUNS / "lightning_floor.json"))
    args = parser.parse_args()

    cpu = torch.device("cpu")
    prepare_process()  # the step as train.py runs it
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
        step_seconds = {"lightning": [], "torch": []}  # (g): every timed step call, over all rounds
        part_seconds = {part: [] for part in PARTS}  # (c) by part: every batch, over all rounds
        for _ in range(args.rounds):
            for name, run in columns.items():
                torch.manual_seed(0)
                ms[name].append(1000 / run()[1])
            for pooled, timer in ((step_seconds, step_calls_timer), (part_seconds, parts_timer)):  # (g), (c) by part
                round_seconds = {key: [] for key in pooled}
                lightning_run(*lightning, prepare=timer(round_seconds))
                for key, seconds in round_seconds.items():
                    pooled[key] += seconds[args.warmup:]
        step_ms = {calls: 1000 * statistics.median(seconds) for calls, seconds in step_seconds.items()}
        median = {name: statistics.median(values) for name, values in ms.items()}
        row = {
            "precision": precision,
            "iterations_timed": iterations,
            "ms_per_batch": {name: round(value, 3) for name, value in median.items()},
            "ms_per_batch_each_round": {name: [round(v, 3) for v in values] for name, values in ms.items()},
            "c_over_d": round(median["d_raw"] / median["c_default"], 3),
            "best_c_over_d_lightning_leaves": round(median["d_raw"] / (median["d_raw"] + median["e_hollow"]), 3),
            "g_step_ms_median": {f"{calls}_calls": round(value, 3) for calls, value in step_ms.items()},
            "g_step_calls_timed": len(step_seconds["lightning"]),
            "g_lightning_calls_ms": round(step_ms["lightning"] - step_ms["torch"], 3),
            "c_by_part_ms": {part: {"median": round(1000 * statistics.median(seconds), 3),
                                    "mean": round(1000 * statistics.mean(seconds), 3)}
                             for part, seconds in part_seconds.items()},
        }
        results["models"][model] = row
        print(f"{model} ({precision}): ms/batch {row['ms_per_batch']}; (c)/(d) {row['c_over_d']}; Lightning's floor "
              f"{row['ms_per_batch']['e_hollow']} ms/batch leaves (c)/(d) <= {row['best_c_over_d_lightning_leaves']}; "
              f"(g) the step with Lightning's calls / torch's: {row['g_step_ms_median']} ms, "
              f"Lightning's calls {row['g_lightning_calls_ms']} ms a step; (c) by part: {row['c_by_part_ms']}",
              flush=True)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
