"""`trainer.precision=auto` (the default): bf16 autocast where it makes this CPU's step faster, else fp32.

Whether bf16 pays on a CPU with bf16 instructions depends on the chip, not on its feature flags: on
2-core AMD EPYCs it made the adversarial step 1.5x (conv) to 2.2x (MLP) as fast (Zen 5, where it
trained as well) and 1.3-1.6x (Zen 4), on an Intel Xeon with the same AVX-512 BF16 flag it made the
conv step slower (docs/speed.md). So `auto` times the model's own forward and backward both ways on
a batch of the run's size (at most 256 digits; a second or two) and takes bf16 only for a clear gain
(on an Intel Xeon with AMX it read 1.2-1.6x).
An x86 CPU without bf16 instructions is not timed: bf16 is emulated there, 0.04-0.07x as fast as
fp32 on an AVX2-only AMD EPYC (Zen 3), where timing it took 11 s (gan) to 63 s (dcgan) before every
run. On a GPU it is 32-true, the precision of the CUDA-graph step; on several processes too, since
each rank's timing could choose differently.
"""

import copy
import math
import statistics
import time
from contextlib import nullcontext

import torch
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig

from gan_digits.checks import ConfigError
from gan_digits.cpu_features import cpu_capabilities
from gan_digits.strategy import accelerator_kind, device_count

AUTO = "auto"
# bf16 must be at least this much faster: a closer call could flip from run to run with the machine's noise.
MIN_SPEEDUP = 1.15
# Timed on at most this many digits: a larger batch would only make the timing slower, not different in kind.
MAX_PROBE_BATCH = 256
AUTO_HINT = "or auto: bf16-mixed where it makes this CPU's step faster, else 32-true"
# Lightning's precisions that cast the whole model to another dtype, which the step's float32 batches,
# noise and the metrics' classifier do not follow: the nets here train with float32 weights.
WHOLE_MODEL_CASTS = ("16-true", "bf16-true", "64-true", "64", "transformer-engine", "transformer-engine-float16")
# The x86 instructions that compute in bf16 (AVX-512, AMX, AVX-NE-CONVERT): without one, oneDNN emulates it.
X86_BF16_INSTRUCTIONS = ("avx512_bf16", "amx_bf16", "avx_ne_convert")


def lacks_bf16_instructions() -> bool:
    """An x86 CPU with none of X86_BF16_INSTRUCTIONS. Elsewhere (ARM, or a torch too old to say) bf16 is timed."""
    capabilities = cpu_capabilities()
    x86 = capabilities.get("architecture") == "x86_64"
    return x86 and not any(capabilities.get(name) for name in X86_BF16_INSTRUCTIONS)


def bf16_speedup(module, batch_size: int, rounds: int = 7, min_seconds: float = 0.1) -> float:
    """How many times as fast G's and D's forward and backward run under CPU bf16 autocast as in fp32.

    On copies of the nets (batch norm's running statistics stay as they were) and under a forked
    random state (the run's noise stream stays as it was), so a run is the same whichever it picks.
    The two take turns `rounds` times, each timing at least `min_seconds` of passes; the median of
    the rounds' ratios, so a slow spell of the machine within one round or across several hits both alike.
    """
    generator, discriminator = copy.deepcopy(module.generator), copy.deepcopy(module.discriminator)
    contexts = {"fp32": nullcontext, "bf16": lambda: torch.autocast("cpu", dtype=torch.bfloat16)}
    with torch.random.fork_rng(devices=[]):
        z = torch.randn(batch_size, generator.latent_dim)
        y = torch.randint(0, generator.num_classes, (batch_size,)) if generator.num_classes else None
        real = torch.rand(batch_size, 1, 28, 28) * 2 - 1

        def seconds(context, passes: int) -> float:
            start = time.perf_counter()
            for _ in range(passes):
                with context():
                    loss = discriminator(generator(z, y), y).sum() + discriminator(real, y).sum()
                loss.backward()
            return time.perf_counter() - start

        for context in contexts.values():  # first calls: allocation, kernel selection
            seconds(context, 3)
        passes = max(1, math.ceil(min_seconds / seconds(nullcontext, 1)))
        ratios = [seconds(contexts["fp32"], passes) / seconds(contexts["bf16"], passes) for _ in range(rounds)]
    return statistics.median(ratios)


def resolve_precision(trainer_cfg: DictConfig, module, batch_size: int, trained_at: str | None = None) -> str | int:
    """`trainer.precision` as Lightning takes it: `auto` resolved for this machine and run, said on the console.
    A run resumed on a CPU keeps the precision its checkpoint trained at (`trained_at`): timing again could
    choose the other one, where the times are close, and the run would not go on as it was."""
    if str(trainer_cfg.precision) in WHOLE_MODEL_CASTS:
        raise ConfigError(f"trainer.precision={trainer_cfg.precision} is not allowed: expected auto, 32-true, bf16-mixed "
                          "or 16-mixed (the nets train with float32 weights; mixed precision computes in bf16 or fp16)")
    if str(trainer_cfg.precision) in ("16-mixed", "16") and accelerator_kind(trainer_cfg) == "cpu":
        # Lightning swaps it for bf16-mixed with a warning, and the run's HPARAMS said 16-mixed.
        rank_zero_info(f"trainer.precision={trainer_cfg.precision} runs as bf16-mixed on the CPU: fp16 autocast is "
                       "for GPUs")
        return "bf16-mixed"
    if trainer_cfg.precision != AUTO:
        return trainer_cfg.precision
    if accelerator_kind(trainer_cfg) != "cpu":
        choice, why = "32-true", "not a CPU run; 32-true is the precision of the GPU's CUDA-graph step"
    elif device_count(trainer_cfg) * trainer_cfg.num_nodes > 1:
        choice, why = "32-true", "a run of several processes, each of which would time and choose for itself"
    elif lacks_bf16_instructions():
        instructions = ", ".join(X86_BF16_INSTRUCTIONS)
        choice, why = "32-true", f"this CPU has no bf16 instructions ({instructions}), so bf16 would be emulated"
    elif trained_at in ("32-true", "bf16-mixed"):  # the two auto chooses from
        choice, why = trained_at, "the precision the checkpoint this run resumes trained at"
    else:
        speedup = bf16_speedup(module, min(batch_size, MAX_PROBE_BATCH))
        choice = "bf16-mixed" if speedup >= MIN_SPEEDUP else "32-true"
        why = f"this CPU runs the model's forward and backward {speedup:.2f}x as fast in bf16 as in fp32 ({MIN_SPEEDUP}x needed)"
    rank_zero_info(f"trainer.precision=auto chose {choice}: {why}. Set trainer.precision=32-true or bf16-mixed to choose")
    return choice
