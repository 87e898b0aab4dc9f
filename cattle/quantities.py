"""Kubernetes resource quantities (`250m`, `0.5`, `512Mi`, `7G`) as integers: CPU in millicores, memory in bytes."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_FACTORS = {None: Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
            "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
            "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
            "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60}


def _value(text: object) -> Decimal:
    match = _QUANTITY.match(str(text).strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity like 250m, 0.5, 512Mi or 7G")
    try:
        return Decimal(match.group(1)) * _FACTORS[match.group(2)]
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from exc


def cpu_millis(text: object) -> int:
    """A CPU quantity in millicores, rounded up as the scheduler does ('0.1' -> 100, '2' -> 2000)."""
    return int((_value(text) * 1000).to_integral_value(rounding="ROUND_CEILING"))


def memory_bytes(text: object) -> int:
    """A memory quantity in bytes ('512Mi' -> 536870912, '7G' -> 7000000000)."""
    return int(_value(text).to_integral_value(rounding="ROUND_CEILING"))


def format_cpu(millis: int) -> str:
    return f"{millis}m" if millis % 1000 else f"{millis // 1000}"


def format_memory(size: int) -> str:
    """Bytes in Mi (or Gi with two decimals from 1 Gi on), for reports."""
    if size >= 2 ** 30:
        return f"{size / 2 ** 30:.2f}Gi"
    return f"{size / 2 ** 20:.0f}Mi"
