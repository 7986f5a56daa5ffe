"""Independent pieces of work on the machine's cores, with the numbers of the serial loop.

The pieces run in Python threads: ``mujoco.rollout`` and PyTorch's kernels and autograd engine release the
GIL, so the threads' C++ work overlaps. Each thread first takes the caller's PyTorch thread count: a new
thread starts with OpenMP's default instead, and a matrix product split over other threads rounds
differently in the last bit (and oversubscribes the cores). Results come back in the order of the items,
so a caller that sums them in that order gets the serial loop's sum bit for bit.

Not for work that calls :func:`torch.func.functional_call` on a shared module: it swaps the module's
parameters while it runs, which other threads would see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_threads(function: Callable[[Item], Result], items: Sequence[Item], *, workers: int) -> list[Result]:
    """``[function(item) for item in items]``, computed by ``min(workers, len(items))`` threads.

    With one worker (or one item) it is that loop, in the calling thread. An exception in any item is raised
    here, after the running items finish.

    Raises:
        ValueError: ``workers < 1``.
    """
    if workers < 1:
        raise ValueError(f"workers={workers!r}; allowed: an integer >= 1")
    workers = min(workers, len(items))
    if workers <= 1:
        return [function(item) for item in items]
    torch_threads = torch.get_num_threads()

    def run(item: Item) -> Result:
        torch.set_num_threads(torch_threads)
        return function(item)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, items))
