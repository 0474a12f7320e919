"""What this CPU's instruction set offers, as torch reports it: choices that depend on the chip read it here."""

import torch


def cpu_capabilities() -> dict:
    """torch's report of this CPU (`{"architecture": "x86_64", "avx2": True, ...}`); `{}` from a torch too old to say.
    Read afresh each call (half a microsecond), so a test can stand in another CPU's report."""
    return getattr(torch.cpu, "get_capabilities", dict)()
