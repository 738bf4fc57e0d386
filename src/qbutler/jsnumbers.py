"""Numbers written as JavaScript writes them: Butler's wire answers and KV values depend on it."""

from __future__ import annotations

import math


def js_number_text(value: float | int) -> str:
    """A number as JavaScript's String() writes it (5.0 -> '5')."""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)
