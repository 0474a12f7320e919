"""Where a training step's time goes: `torch.profiler` over the raw step (speed.py's column (d)).

    python bench/profile_step.py --model dcgan                 # at the precision `auto` picks here
    python bench/profile_step.py --model cdcgan --precision 32-true --rows 30

Runs `--warmup` steps, then profiles `--steps` and prints the operators by their own CPU time,
one row per operator and input shapes (`--by-op` folds the shapes), then who called the copies,
clones and multiplies, ms a step each: where a layout or dtype mismatch shows up. The profiler's
own overhead inflates small operators: read shares, and time a change with speed.py.
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arguments import batch_size, positive_int  # noqa: E402
from speed import (ACCELERATOR, MODELS, PREPARE_FOR_PRECISION, TRAIN_IMAGES, memory_batches,  # noqa: E402
                   model_at_precision, raw_step)

from gan_digits.checks import report_user_errors  # noqa: E402
from gan_digits.data import load_split  # noqa: E402
from gan_digits.precision import AUTO  # noqa: E402
from gan_digits.process import prepare_process  # noqa: E402

CALLERS_OF = ("aten::copy_", "aten::mul", "aten::clone")  # where mismatched layouts and dtypes show up


def callers(event, depth: int = 4) -> str:
    """The chain of operators that called `event`, innermost first."""
    chain, parent = [], event.cpu_parent
    while parent is not None and len(chain) < depth:
        chain.append(parent.name)
        parent = parent.cpu_parent
    return " < ".join(chain) or "(the step itself)"


@report_user_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--model", choices=MODELS, default="cdcgan")
    parser.add_argument("--precision", default=AUTO, choices=[AUTO, *sorted(PREPARE_FOR_PRECISION)])
    parser.add_argument("--device", default="cpu", choices=sorted(ACCELERATOR))
    parser.add_argument("--batch-size", type=batch_size, default=128)
    parser.add_argument("--warmup", type=positive_int, default=20)
    parser.add_argument("--steps", type=positive_int, default=10)
    parser.add_argument("--rows", type=positive_int, default=20)
    parser.add_argument("--by-op", action="store_true", help="one row per operator, shapes folded")
    args = parser.parse_args()

    device = torch.device(args.device)
    prepare_process()  # the step as train.py runs it
    torch.manual_seed(0)
    images, labels = load_split(args.data, "train")
    batches = memory_batches(images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES], args.batch_size, device)
    cfg, precision = model_at_precision(args.model, args.precision, device, args.batch_size)
    step = raw_step(cfg, device, PREPARE_FOR_PRECISION[precision])
    for _ in range(args.warmup):
        step(*next(batches))
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, record_shapes=not args.by_op) as trace:
        for _ in range(args.steps):
            step(*next(batches))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    print(f"{args.model}, {precision}, batch {args.batch_size}: {args.steps} steps after {args.warmup}")
    print(trace.key_averages(group_by_input_shape=not args.by_op).table(
        sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=40, max_shapes_column_width=70))
    by_caller = Counter()
    for event in trace.events():
        if event.name in CALLERS_OF:
            by_caller[(event.name, callers(event))] += event.self_cpu_time_total
    print(f"{'ms a step':>9}  operator < its callers")
    for (name, chain), microseconds in by_caller.most_common(8):
        print(f"{microseconds / 1000 / args.steps:9.2f}  {name} < {chain}")


if __name__ == "__main__":
    main()
