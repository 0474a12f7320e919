"""Freed memory stays in the process: the next step reuses it without page faults."""

from conftest import run_script

# Allocates, touches and frees a 64 MB block (above glibc's default ceiling for reusing freed
# blocks, as a batch's activations can be) six times; prints the page faults of the last five.
PROBE = """
import ctypes, resource, sys
from gan_digits.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
size = 64 << 20
def touch():
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    touch()
print(applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5)
"""


def page_faults(mode: str) -> tuple[str, int]:
    result = run_script("-c", PROBE, mode)
    assert result.returncode == 0, result.stderr
    applied, faults = result.stdout.split()
    return applied, int(faults)


def test_freed_blocks_are_reused_without_page_faults():
    assert page_faults("default")[1] >= (64 << 20) // 4096 // 2  # glibc unmaps the block: every page faults again
    applied, faults = page_faults("keep")
    assert applied == "True"
    assert faults < 100
