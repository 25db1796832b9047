"""Give the memory a finished load freed back to the operating system.

A year of orders at 16× volume passes hundreds of MB through Arrow, dlt's buffers and DuckDB in
the run's process. Freed, that memory stays mapped by the allocators (glibc's heap, Arrow's
jemalloc pool) for reuse, so the run process keeps its load-time size while the dbt step's own
process runs beside it, and the two add up to the run's peak. Handing it back after the load is
two library calls; where they do not exist (another libc, no Arrow loaded) nothing happens.
Measured on a year of orders at 16× in one process: 616 MB before, 573 MB after (~15 ms).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys


def release_freed_memory() -> None:
    gc.collect()
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name)
    if hasattr(libc, "malloc_trim"):  # glibc only
        libc.malloc_trim(0)
