"""Training speed against the plain PyTorch loop and the machine's own peak, in one run.

    python bench/speed.py --data ../shared/data            # every model; `make bench` runs this
    python bench/speed.py --models gan --iterations 500
    python bench/speed.py --device cuda --out bench/results/speed_gpu.json   # on a GPU
    python bench/speed.py --precision 32-true --out speed_fp32.json         # the project's columns in fp32
    python bench/speed.py --device cuda --float32-matmul-precision high     # the project's columns in TF32

For each model, at the same batch size and with the same networks, it times:
  (a) seed-style:      a plain PyTorch loop fed by torchvision's per-digit path (PIL + ToTensor +
                       Normalize) through a DataLoader with 2 workers, as GAN tutorials do;
  (b) lightning+tv:    this project's training through Lightning with `data.loader=torchvision`;
  (c) default:         this project's default path (in-memory batches, no workers);
  (d) raw:             the step of (c) in a loop without Lightning, fed from the same memory.
(a) and (d) run the module's step, default recipe included (EMA of G, dcgan's clusters). (a) runs it
in fp32, as the seed did, in a fresh process each round: with glibc's default malloc, as a loop of
one's own has it, where (b), (c) and (d) keep freed memory as `train.py` does (gan_digits/allocator.py).
(b), (c) and (d) run at the project's precision, `--precision` (default
`auto`, resolved once per model as `train.py` resolves it: bf16-mixed where it makes this CPU's
step faster; (d) then runs its step under the same bf16 autocast) and at the run's
`--float32-matmul-precision` (the config's float32_matmul_precision; (a) keeps torch's default, highest).
An iteration is one batch: one D update and one G update (two of Lightning's steps). Rates are
steady state: the first `--warmup` iterations (start-up, first-call costs) are timed apart. The
four columns run in turn, `--rounds` times, and each reports its median (a shared VM's speed
drifts by +-20% within minutes); (c)/(a) and (c)/(d) are also given round by round, whose spread
shows how far that drift moves them. A GEMM and a convolution micro-benchmark give the achieved
fp32 peak (measured at the start and after every round; the best counts); the step's FLOPs are
counted with torch.utils.flop_counter. Prints a table and writes bench/runs/speed.json.
On a GPU (--device cuda) every column runs there; (b) and (c), the project's training, replay
their step as a CUDA graph (model.cuda_graph, the default) while (a) and (d) stay eager.
"""

import argparse
import contextlib
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arguments import batch_size, positive_int  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from hardware import RUNS, describe_cpu, write_results  # noqa: E402
from lightning import Callback  # noqa: E402

from gan_digits.checks import report_user_errors  # noqa: E402
from gan_digits.cuda_check import skip_unusable_nvml  # noqa: E402
from gan_digits.data import load_split, to_model_range  # noqa: E402
from gan_digits.data.datamodule import PerSampleMNIST, TensorBatches  # noqa: E402
from gan_digits.precision import AUTO, resolve_precision  # noqa: E402
from gan_digits.process import MATMUL_PRECISIONS, prepare_process  # noqa: E402
from gan_digits.training import build  # noqa: E402

TRAIN_IMAGES = 55_000  # the default split: 60,000 minus 5,000 held out
ACCELERATOR = {"cpu": "cpu", "cuda": "gpu"}  # `--device`'s config group
# `--models`' choices: every model config but the shared base (argparse names a bad one in one line).
MODELS = sorted(path.stem for path in (ROOT / "conf" / "model").glob("*.yaml") if path.stem != "default")


def compose_model(model: str, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=[f"model={model}", *overrides])


def model_at_precision(model: str, precision: str, device: torch.device, batch_size: int, overrides=()):
    """The model's config and the precision `train.py` would train it at on `device` (`auto` resolved)."""
    cfg = compose_model(model, [f"accelerator={ACCELERATOR[device.type]}", f"trainer.precision={precision}",
                                "paths.output_dir=/tmp/gan_digits_bench", *overrides])
    return cfg, resolve_precision(cfg.trainer, instantiate(cfg.model), batch_size)


def adversarial_step(module, g_opt, d_opt, real, labels):
    """The module's step without Lightning: D on a detached fake, then G through the updated D; with
    the default recipe's extras (dcgan's cluster lookup, the EMA update of G), so every column does
    the same work."""
    G, D = module.generator, module.discriminator
    z = torch.randn(real.shape[0], module.latent_dim, device=real.device)
    fake, clusters = G(z, labels), module.fake_clusters(z, labels)
    real_logits, fake_logits = D(real, labels), D.score(fake.detach(), labels, clusters)[0]
    d_loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + \
        F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    D.requires_grad_(False)
    g_logits = D.score(fake, labels, clusters)[0]
    g_loss = F.binary_cross_entropy_with_logits(g_logits, torch.ones_like(g_logits))
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    D.requires_grad_(True)
    if module.generator_ema is not None:
        module._update_ema()


def timed_iterations(model: str, iterations: int) -> int:
    """The MLP GAN's step is several times shorter than a conv model's: it gets 500 iterations at least (its target)."""
    return max(iterations, 500) if model == "gan" else iterations


def ratio_each_round(timings: dict[str, list[tuple[float, float]]], top: str, bottom: str) -> list[float]:
    """Column `top`'s rate over column `bottom`'s, in each round (they ran minutes apart, not hours)."""
    return [round(a / b, 3) for (_, a), (_, b) in zip(timings[top], timings[bottom])]


def clock(device: torch.device) -> float:
    """Seconds, after the device has finished the work queued so far."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def eager(module):
    """`plain_loop`'s `prepare` for the step as it is."""
    return contextlib.nullcontext


def bf16_autocast(module):
    """`plain_loop`'s `prepare` for a step under bf16 autocast, as Lightning's `bf16-mixed` runs it."""
    device_type = next(module.parameters()).device.type
    return lambda: torch.autocast(device_type, dtype=torch.bfloat16)


# `plain_loop`'s `prepare` for each precision (d) may run at; Lightning's columns get `trainer.precision`.
PREPARE_FOR_PRECISION = {"32-true": eager, "bf16-mixed": bf16_autocast}


def raw_step(cfg, device: torch.device, prepare=eager):
    """A fresh module's `adversarial_step` as a function of one batch `(real, labels)`, without Lightning.
    `prepare(module)` may change the module (compile it, say) and returns the context each step runs in."""
    module = instantiate(cfg.model).to(device)
    step_context = prepare(module)
    g_opt, d_opt = module.configure_optimizers()
    conditional = module.conditional

    def step(real, labels):
        real, labels = real.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with step_context():
            adversarial_step(module, g_opt, d_opt, real, labels if conditional else None)

    return step


def plain_loop(cfg, batches, iterations: int, warmup: int, device: torch.device,
               prepare=eager) -> tuple[float, float]:
    """(start-up seconds, iterations per second) of `raw_step` over an iterator of batches."""
    step = raw_step(cfg, device, prepare)
    start = clock(device)
    for i, (real, labels) in enumerate(batches):
        if i == warmup:
            steady = clock(device)
        step(real, labels)
        if i + 1 == warmup + iterations:
            break
    return steady - start, iterations / (clock(device) - steady)


def forever(loader):
    while True:
        yield from loader


def seed_style_batches(images, labels, batch_size, device: torch.device):
    dataset = PerSampleMNIST(images, labels)
    dataset.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return forever(DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=2, drop_last=True,
                              persistent_workers=True, pin_memory=device.type == "cuda"))


def seed_style_loop(cfg, data: str, batch_size: int, iterations: int, warmup: int, device: torch.device):
    """Column (a): `plain_loop` in fp32 over `seed_style_batches`."""
    skip_unusable_nvml()  # as in a loop that never imported Lightning, which asks for NVML (gan_digits/cuda_check.py)
    images, labels = load_split(data, "train")
    batches = seed_style_batches(images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES], batch_size, device)
    return plain_loop(cfg, batches, iterations, warmup, device)


def in_fresh_process(function, *args):
    """`function(*args)` in a newly spawned Python: glibc's default malloc, whatever this process set."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def memory_batches(images, labels, batch_size, device: torch.device):
    """Batches indexed out of the digits held in memory, as the default path's dataset does."""
    batches = TensorBatches(images.to(device), labels.to(device))
    generator = torch.Generator().manual_seed(0)
    while True:
        order = torch.randperm(len(batches), generator=generator).to(device)  # indexing with a CPU index would sync
        for i in range(len(batches) // batch_size):
            index = order[i * batch_size : (i + 1) * batch_size]
            real, y = batches[index]
            yield to_model_range(real), y


class IterationTimer(Callback):
    """The clock at the start, after `warmup` batches and after `warmup + iterations` (synced only there)."""

    def __init__(self, warmup: int, iterations: int, device: torch.device):
        self.marks = {warmup, warmup + iterations}
        self.device = device
        self.batches = 0  # over epochs: batch_idx restarts with each
        self.times = []

    def on_train_start(self, trainer, pl_module):
        self.times.append(clock(self.device))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.batches += 1
        if self.batches in self.marks:
            self.times.append(clock(self.device))


def lightning_run(model: str, data: str, batch_size: int, iterations: int, warmup: int, loader: str, workers: int,
                  device: torch.device, precision: str, overrides: tuple[str, ...] = (), prepare=lambda module: None):
    """(start-up seconds, iterations per second) of `train.py`'s training; `prepare(module)` may change
    the module before it trains (lightning_floor.py hollows its step). Each run writes into a folder of its
    own, removed after: a run never starts in an earlier run's folder (`build` refuses that)."""
    with tempfile.TemporaryDirectory(prefix="gan_digits_bench_") as output_dir:
        cfg = compose_model(model, [
            f"data.root={data}", f"data.batch_size={batch_size}", f"data.loader={loader}", f"data.num_workers={workers}",
            f"trainer.max_steps={2 * (warmup + iterations)}", "trainer.limit_val_batches=0", "trainer.max_epochs=-1",
            "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", f"trainer.precision={precision}",
            f"accelerator={ACCELERATOR[device.type]}", f"paths.output_dir={output_dir}", *overrides,
        ])
        datamodule, module, trainer = build(cfg)
        prepare(module)
        timer = IterationTimer(warmup, iterations, device)
        trainer.callbacks.append(timer)
        trainer.fit(module, datamodule=datamodule)
    start, steady, end = timer.times
    return steady - start, iterations / (end - steady)


def peak_gflops(device: torch.device, repeats: int = 20, trials: int = 5) -> dict[str, float]:
    """Achieved fp32 GFLOP/s of a large GEMM and of a DCGAN-sized convolution (forward): the best of
    `trials` timings of `repeats` calls each, as a peak is (one timing swung 356-458 on a shared VM). In fp32
    whatever `--float32-matmul-precision` the columns ran at: TF32's GEMM peak on an H200 is 8x fp32's."""
    results = {}
    run_precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    n = 8192 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    x, w = torch.randn(128, 64, 14, 14, device=device), torch.randn(128, 64, 4, 4, device=device)
    for name, fn, flop in (
        ("gemm", lambda: a @ b, 2 * n**3),
        ("conv", lambda: F.conv2d(x, w, stride=2, padding=1), 2 * 128 * 128 * 7 * 7 * 64 * 16),
    ):
        for _ in range(3):
            fn()
        seconds = []
        for _ in range(trials):
            start = clock(device)
            for _ in range(repeats):
                fn()
            seconds.append(clock(device) - start)
        results[name] = flop * repeats / min(seconds) / 1e9
    torch.set_float32_matmul_precision(run_precision)
    return results


def step_gflop(cfg, batch_size: int) -> float:
    module = instantiate(cfg.model)
    g_opt, d_opt = module.configure_optimizers()
    real = torch.rand(batch_size, 1, 28, 28) * 2 - 1
    labels = torch.randint(0, 10, (batch_size,)) if module.conditional else None
    with FlopCounterMode(display=False) as counter:
        adversarial_step(module, g_opt, d_opt, real, labels)
    return counter.get_total_flops() / 1e9


@report_user_errors
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--models", nargs="*", choices=MODELS, default=["gan", "dcgan", "cdcgan"])
    parser.add_argument("--batch-size", type=batch_size, default=128)
    parser.add_argument("--iterations", type=positive_int, default=200, help="timed iterations (gan: 500 at least)")
    parser.add_argument("--warmup", type=positive_int, default=20)
    parser.add_argument("--rounds", type=positive_int, default=3, help="every column this many times, in turn: the median")
    parser.add_argument("--device", default="cpu", choices=sorted(ACCELERATOR))
    parser.add_argument("--precision", default=AUTO, choices=[AUTO, *sorted(PREPARE_FOR_PRECISION)],
                        help="the project's, for (b), (c) and (d) ((d) under the autocast Lightning uses); (a) is fp32")
    parser.add_argument("--float32-matmul-precision", default="highest", choices=MATMUL_PRECISIONS,
                        help="the project's, for (b), (c) and (d) (high: TF32 on a GPU); (a) keeps torch's default")
    parser.add_argument("--out", default=str(RUNS / "speed.json"))
    args = parser.parse_args()
    project = (f"float32_matmul_precision={args.float32_matmul_precision}",)  # (b) and (c)'s; (d) runs under it too

    device = torch.device(args.device)
    torch.manual_seed(0)
    prepare_process(args.float32_matmul_precision)  # as train.py runs, (d) included; (a) not (a fresh process)
    images, labels = load_split(args.data, "train")
    images, labels = images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES]
    # The peak is measured again after every round of columns and the best counts: a shared VM's
    # speed drifts over minutes (within one run it read 379-479 GFLOP/s).
    peaks = [peak_gflops(device)]
    hardware = (f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}" if device.type == "cuda"
                else describe_cpu())
    results = {"hardware": hardware, "batch_size": args.batch_size, "precision": args.precision,
               "float32_matmul_precision": args.float32_matmul_precision, "models": {}}
    print(f"{results['hardware']}; batch {args.batch_size}; {args.precision}; "
          f"float32_matmul_precision={args.float32_matmul_precision}")
    for model in args.models:
        iterations = timed_iterations(model, args.iterations)
        cfg, precision = model_at_precision(model, args.precision, device, args.batch_size, project)
        gflop = step_gflop(cfg, args.batch_size)
        columns = {
            "a_seed_style": lambda: in_fresh_process(seed_style_loop, cfg, args.data, args.batch_size, iterations,
                                                     args.warmup, device),
            "b_lightning_torchvision": lambda: lightning_run(model, args.data, args.batch_size, iterations,
                                                             args.warmup, "torchvision", 2, device, precision, project),
            "c_default": lambda: lightning_run(model, args.data, args.batch_size, iterations, args.warmup, "memory",
                                               0, device, precision, project),
            "d_raw": lambda: plain_loop(cfg, memory_batches(images, labels, args.batch_size, device), iterations,
                                        args.warmup, device, PREPARE_FOR_PRECISION[precision]),
        }
        # The columns take turns, round after round, so that a slow spell of a shared machine hits
        # them alike; each column's figure is the median of its rounds.
        timings = {name: [] for name in columns}
        for _ in range(args.rounds):
            for name, run in columns.items():
                timings[name].append(run())
            peaks.append(peak_gflops(device))
        its = {name: statistics.median(rate for _, rate in runs) for name, runs in timings.items()}
        row = {
            "precision": precision,  # of (b), (c), (d); (a) is fp32
            "iterations_timed": iterations,
            "rounds": args.rounds,
            "startup_s": {name: round(statistics.median(s for s, _ in runs), 2) for name, runs in timings.items()},
            "iterations_per_s": {name: round(r, 2) for name, r in its.items()},
            "iterations_per_s_each_round": {name: [round(rate, 2) for _, rate in runs] for name, runs in timings.items()},
            "s_per_epoch": {name: round(TRAIN_IMAGES // args.batch_size / r, 1) for name, r in its.items()},
            "seconds_for_500_iterations_default": round(500 / its["c_default"], 1),
            "c_over_a": round(its["c_default"] / its["a_seed_style"], 2),
            "c_over_d": round(its["c_default"] / its["d_raw"], 3),
            # The same ratios round by round: their spread is how far this machine's noise moves them.
            "c_over_a_each_round": ratio_each_round(timings, "c_default", "a_seed_style"),
            "c_over_d_each_round": ratio_each_round(timings, "c_default", "d_raw"),
            "gflop_per_iteration": round(gflop, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            **({"peak_gpu_mb": round(torch.cuda.max_memory_allocated(device) / 2**20)} if device.type == "cuda" else {}),
        }
        results["models"][model] = row
        spread = {key: f"{min(row[key + '_each_round'])}-{max(row[key + '_each_round'])}" for key in ("c_over_a", "c_over_d")}
        print(f"{model} ({precision}): it/s {row['iterations_per_s']}; s/epoch {row['s_per_epoch']}; "
              f"(c)/(a) {row['c_over_a']} (rounds {spread['c_over_a']}); (c)/(d) {row['c_over_d']} (rounds {spread['c_over_d']}); "
              f"{gflop:.2f} GFLOP/it; 500 it in {row['seconds_for_500_iterations_default']} s", flush=True)
    peak = {kernel: max(p[kernel] for p in peaks) for kernel in peaks[0]}
    results["peak_gflops"] = peak
    results["peak_gflops_each"] = [{kernel: round(value, 1) for kernel, value in p.items()} for p in peaks]
    print(f"achieved fp32 peak: GEMM {peak['gemm']:.0f}, conv {peak['conv']:.0f} GFLOP/s (best of {len(peaks)} measurements)")
    for model, row in results["models"].items():
        row["fraction_of_peak_default"] = round(row["gflop_per_iteration"] * row["iterations_per_s"]["c_default"]
                                                / max(peak.values()), 3)
        print(f"{model}: (c) at {row['fraction_of_peak_default']:.0%} of the fp32 peak")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
