"""Ask "is CUDA available?" without a failed library load each time, where NVML is missing.

Lightning sets `PYTORCH_NVML_BASED_CUDA_CHECK=1` so that the question is answered through NVML,
which does not initialise CUDA (that would make forked processes unusable). Where NVML cannot be
used, on a machine without NVIDIA's driver say, torch tries to load it on every call, fails, and
asks the CUDA runtime anyway. Adam asks on every step, twice a batch: on a 2-core AMD EPYC (Zen 4)
running torch's CUDA build without a GPU, ~37 us a call against ~0.5 us through the runtime alone,
and Lightning's fit loop around a step of no work took 1.33 ms a batch against 1.02 without it
(docs/speed.md). There the variable changes nothing but the cost, so it is turned off.
"""

import os

import torch

VARIABLE = "PYTORCH_NVML_BASED_CUDA_CHECK"


def skip_unusable_nvml() -> bool:
    """Turn off the NVML-based check where torch would fall back from it on every call; True if it did."""
    device_count_nvml = getattr(torch.cuda, "_device_count_nvml", None)  # torch's own test, private
    if os.environ.get(VARIABLE) != "1" or torch.version.hip or device_count_nvml is None:
        return False
    if device_count_nvml() >= 0:  # NVML answers: keep it, it is what keeps fork safe on a GPU machine
        return False
    os.environ[VARIABLE] = "0"
    return True
