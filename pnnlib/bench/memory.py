r"""Memory measurements that mean something on CPU and on CUDA (paper Fig. 3d, f).

The paper reports peak GPU memory (V100). Three independent figures are provided here:

* **CUDA peak** (:func:`cuda_peak_bytes`): ``torch.cuda.max_memory_allocated`` after
  ``reset_peak_memory_stats``, minus the memory already allocated before the measured call —
  the caching allocator's exact high-water mark of live tensors.
* **CPU peak RSS** (:func:`rss_status`, :func:`reset_peak_rss`, :func:`trim_heap`): the
  high-water mark of the resident set (``VmHWM`` in ``/proc/self/status``) of a *fresh*
  process per configuration, minus its resident size just before the measured step. The
  benchmark runs this in a child process started with ``MALLOC_MMAP_THRESHOLD_`` lowered
  (:data:`MEASURE_ENV`) so that freed tensor buffers go back to the OS instead of staying in
  glibc's heap, which would otherwise hide them from the RSS delta.
* **Saved-for-backward bytes** (:func:`saved_tensor_bytes`): the bytes of the distinct storages
  that autograd keeps for the backward pass, counted with
  ``torch.autograd.graph.saved_tensors_hooks``. Independent of any allocator; it is the
  dominant, asymptotic part of training memory (the O(N_in) per neuron of paper-spec §2.1).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys
from collections.abc import Callable
from typing import Any

import torch

__all__ = [
    "MEASURE_ENV",
    "cuda_peak_bytes",
    "reset_peak_rss",
    "rss_status",
    "saved_tensor_bytes",
    "trim_heap",
]

#: Environment for a child process that measures peak RSS: every allocation of 64 KiB or more
#: is its own ``mmap`` and is unmapped on ``free``, so the RSS follows the live tensors.
MEASURE_ENV: dict[str, str] = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def saved_tensor_bytes(fn: Callable[[], Any]) -> int:
    """Bytes of the distinct storages autograd saves for backward while ``fn()`` runs.

    ``fn`` builds a graph (a forward pass returning e.g. the loss); its result is dropped when
    this returns, which frees the graph. Each saved tensor is counted through its *storage*
    (keyed by device, ``data_ptr`` and ``nbytes``), so views of one buffer and a tensor saved
    by several nodes are counted once, and what is counted is what the graph keeps alive.
    Leaf tensors that the graph saves (inputs, weights) are included.
    """
    storages: dict[tuple[str, int, int], torch.UntypedStorage] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        # Holding the storage keeps data_ptr unique for the whole measurement.
        storages[(str(t.device), s.data_ptr(), s.nbytes())] = s
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(key[2] for key in storages)


def cuda_peak_bytes(fn: Callable[[], Any], device: torch.device) -> int:
    """Peak CUDA memory allocated by ``fn()`` above what was allocated before it (bytes)."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device) - base)


def rss_status() -> tuple[int, int]:
    """``(current RSS, peak RSS)`` of this process in bytes.

    Reads ``VmRSS``/``VmHWM`` from ``/proc/self/status`` (Linux); elsewhere the current RSS is
    unknown (returned as 0) and the peak comes from ``getrusage(RUSAGE_SELF).ru_maxrss``
    (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024
    except (OSError, KeyError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return 0, int(peak if sys.platform == "darwin" else peak * 1024)


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ≥ 4.0: write 5 to ``/proc/self/clear_refs``).

    Returns whether the reset worked; if not, the peak still includes everything earlier in
    the process, so callers measure in a fresh process.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def trim_heap() -> None:
    """Give free heap memory back to the OS (glibc ``malloc_trim(0)``; a no-op elsewhere)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):
        return
