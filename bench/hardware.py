"""The machine a benchmark ran on, as its results file records it, and where that file goes."""

import json
import platform
from pathlib import Path

import torch

from gan_digits.cpu_features import cpu_capabilities

# The instructions that set how fast a step runs here: its fp32 vector width, bf16 in hardware or
# emulated (precision.py), AMX's matrix tiles (conv_grads.py); by torch's names, as a reader knows them.
SPEED_INSTRUCTIONS = {"avx2": "AVX2", "avx512_f": "AVX-512", "avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX-BF16"}


def cpu_name() -> str:
    """The CPU's model name with its family and model numbers, from /proc/cpuinfo where there is one:
    a cloud VM may name only the vendor ("AMD EPYC"), and the numbers tell its generations apart."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    info = {}
    for key, _, value in (line.partition(":") for line in lines):
        info.setdefault(key.strip(), value.strip())  # the first core's; every core reads the same
    if "model name" not in info:
        return platform.processor() or platform.machine()
    return f"{info['model name']} (family {info.get('cpu family', '?')}, model {info.get('model', '?')})"


def speed_instructions() -> str:
    """e.g. "AVX2/AVX-512/AVX512-BF16": those of SPEED_INSTRUCTIONS this CPU has; "" where torch cannot say."""
    capabilities = cpu_capabilities()
    return "/".join(name for key, name in SPEED_INSTRUCTIONS.items() if capabilities.get(key))


def describe_cpu() -> str:
    """e.g. "AMD EPYC (family 26, model 2), AVX2/AVX-512/AVX512-BF16, 2 threads, torch 2.14.1+cu130"."""
    parts = [cpu_name(), speed_instructions(), f"{torch.get_num_threads()} threads", f"torch {torch.__version__}"]
    return ", ".join(part for part in parts if part)


# A run's results file unless --out names one: bench/runs/ is not tracked, so a run on any machine leaves the
# published results under bench/results/, which the docs cite, as they are (name a file there to add one).
RUNS = Path(__file__).resolve().parent / "runs"


def write_results(out: str | Path, results: dict) -> None:
    """Writes a run's results as JSON to `out` (its folder made if need be) and says where."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
