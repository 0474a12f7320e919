"""The CPU levers issue #6 names, each timed on the raw step (column (d) of speed.py) against eager fp32.

    python bench/cpu_levers.py --data ../shared/data          # every model
    python bench/cpu_levers.py --models gan
    python bench/cpu_levers.py --levers torch_compile channels_last   # these beside eager fp32 only

bf16 autocast, `torch.compile` (inductor) of G and D, and `channels_last` weights, alone and (the
last two) on top of bf16: whichever is faster here would belong in the default path. Same networks,
batch, data and step as speed.py; the first `--warmup` iterations (compilation included) are not
timed; each lever's rate is the median of `--rounds` timings taken in turn with the others. Writes
bench/runs/cpu_levers.json.
"""

import argparse
import statistics

import torch
from arguments import batch_size, positive_int
from hardware import RUNS, describe_cpu, write_results
from speed import (MODELS, ROOT, TRAIN_IMAGES, bf16_autocast, compose_model, eager, memory_batches, plain_loop,
                   timed_iterations)

from gan_digits.checks import report_user_errors
from gan_digits.data import load_split
from gan_digits.process import prepare_process


def compiled(module):
    module.generator.compile()
    module.discriminator.compile()
    return eager(module)


def channels_last(module):
    module.to(memory_format=torch.channels_last)
    return eager(module)


# Where bf16 pays (`trainer.precision=auto` picks it there), the question is whether a lever adds to it.
def bf16_compiled(module):
    compiled(module)
    return bf16_autocast(module)


def bf16_channels_last(module):
    channels_last(module)
    return bf16_autocast(module)


LEVERS = {"fp32_eager": eager, "bf16_autocast": bf16_autocast, "torch_compile": compiled, "channels_last": channels_last,
          "bf16_torch_compile": bf16_compiled, "bf16_channels_last": bf16_channels_last}


@report_user_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--models", nargs="*", choices=MODELS, default=["gan", "dcgan", "cdcgan"])
    others = [name for name in LEVERS if name != "fp32_eager"]  # eager fp32, the yardstick, always runs
    parser.add_argument("--levers", nargs="*", choices=others, default=others, help="those to time beside eager fp32")
    parser.add_argument("--batch-size", type=batch_size, default=128)
    parser.add_argument("--iterations", type=positive_int, default=60, help="timed iterations (gan: 500 at least)")
    parser.add_argument("--warmup", type=positive_int, default=10, help="untimed iterations (compilation included)")
    parser.add_argument("--rounds", type=positive_int, default=3, help="the median of this many timings per lever")
    parser.add_argument("--out", default=str(RUNS / "cpu_levers.json"))
    args = parser.parse_args()

    images, labels = load_split(args.data, "train")
    images, labels = images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES]
    cpu = torch.device("cpu")
    prepare_process()  # the step as train.py runs it
    results = {"hardware": describe_cpu(), "batch_size": args.batch_size, "models": {}}
    for model in args.models:
        cfg = compose_model(model, ["paths.output_dir=/tmp/gan_digits_bench"])
        iterations = timed_iterations(model, args.iterations)
        levers = {name: LEVERS[name] for name in ("fp32_eager", *args.levers)}
        rates = {name: [] for name in levers}
        for _ in range(args.rounds):  # interleaved, so that a slow spell of the VM hits every lever alike
            for name, prepare in levers.items():
                torch.manual_seed(0)
                batches = memory_batches(images, labels, args.batch_size, cpu)
                rates[name].append(plain_loop(cfg, batches, iterations, args.warmup, cpu, prepare)[1])
        median = {name: statistics.median(r) for name, r in rates.items()}
        results["models"][model] = {
            name: {"iterations_per_s": [round(r, 2) for r in rates[name]], "median": round(median[name], 2),
                   "over_fp32_eager": round(median[name] / median["fp32_eager"], 2)}
            for name in levers
        }
        for name, row in results["models"][model].items():
            print(f"{model} {name}: {row['median']} it/s median of {row['iterations_per_s']}, "
                  f"{row['over_fp32_eager']}x eager fp32", flush=True)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
