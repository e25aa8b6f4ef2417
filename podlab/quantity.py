"""Kubernetes resource quantities: "500m", "0.5", "128Mi", "1G", "1e3".

A quantity is a decimal number with an optional suffix: binary (Ki Mi Gi Ti
Pi Ei, powers of 1024), decimal SI (n u m "" k M G T P E, powers of 1000) or
a decimal exponent (e3, E-2). Parsing is exact (Decimal), so "0.1" CPU is
100 millicores, not 99.99.
"""

from __future__ import annotations

import functools
import math
import re
from decimal import Decimal, InvalidOperation

FORMAT_ERROR = (
    "quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_EXPONENT = re.compile(r"^[eE]([-+]?[0-9]+)$")

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# Kubernetes clamps quantities to int64 range; far beyond it a number is a typo,
# and refusing it keeps Decimal arithmetic from overflowing.
_MAX_EXPONENT = 40


def parse_quantity(text: str) -> Decimal:
    """The exact value of quantity `text`; raises ValueError with Kubernetes' wording."""
    if not isinstance(text, str):
        raise ValueError(FORMAT_ERROR)
    return _parse(text)


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Decimal:
    """parse_quantity's work, memoized: a cluster's quantities are a handful of strings."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(FORMAT_ERROR)
    number, suffix = match.groups()
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise ValueError("unable to parse numeric value") from None
    if not value.is_finite():
        raise ValueError("unable to parse numeric value")
    if suffix in _BINARY:
        return value * (2 ** _BINARY[suffix])
    if suffix in _DECIMAL:
        exponent = _DECIMAL[suffix]
    else:
        exp_match = _EXPONENT.fullmatch(suffix)
        if exp_match is None:
            raise ValueError("unable to parse quantity's suffix")
        exponent = int(exp_match.group(1))
        if abs(exponent) > _MAX_EXPONENT:
            raise ValueError(f"quantity exponent out of range: {suffix}")
    return value.scaleb(exponent)


def cpu_millis(text: str) -> int:
    """CPU `text` in millicores, rounded up as Kubernetes does ("0.1" -> 100, "1m" -> 1)."""
    return math.ceil(parse_quantity(text) * 1000)


def to_bytes(text: str) -> int:
    """Quantity `text` as a whole number (bytes for memory), rounded up."""
    return math.ceil(parse_quantity(text))


def format_cpu(millis: int) -> str:
    """Kubernetes' canonical CPU form: whole cores as "2", otherwise "500m"."""
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m"


def format_bytes(n: int) -> str:
    """Kubernetes' canonical binary form: the largest exact suffix ("128Mi"), else the number."""
    if n == 0:
        return "0"
    for suffix, power in sorted(_BINARY.items(), key=lambda item: -item[1]):
        if n % (2**power) == 0:
            return f"{n // 2**power}{suffix}"
    return str(n)
