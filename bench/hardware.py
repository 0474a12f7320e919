"""The machine a benchmark ran on, as its results file records it."""

import platform
from pathlib import Path

import torch


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


def describe_cpu() -> str:
    """e.g. "AMD EPYC (family 26, model 2), 2 threads, torch 2.14.1+cu130"."""
    return f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
