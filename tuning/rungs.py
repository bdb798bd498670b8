"""The elimination rule of synchronous successive halving, as plain arithmetic (no Ray)."""

from __future__ import annotations

import math


def survivors_at(n: int, reduce_factor: float) -> int:
    """How many of ``n`` judged trials continue: ``max(1, ceil(n * r))``, at most ``n - 1``."""
    if n <= 1:
        return n
    # The small epsilon keeps float products such as 10 * 0.3 = 3.0000000000000004 at 3.
    keep = max(1, math.ceil(n * reduce_factor - 1e-9))
    return min(keep, n - 1)


def rung_sizes(n: int, reduce_factor: float) -> list[int]:
    """Trials judged at each rung, then the lone survivor: 16, 0.5 -> [16, 8, 4, 2, 1]."""
    sizes = [n]
    while sizes[-1] > 1:
        sizes.append(survivors_at(sizes[-1], reduce_factor))
    return sizes
