"""Resource quantities parse, convert and print as Kubernetes does."""

from __future__ import annotations

from decimal import Decimal

import pytest

from podlab.quantity import (
    FORMAT_ERROR,
    cpu_millis,
    format_bytes,
    format_cpu,
    parse_quantity,
    to_bytes,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "value"), [
    ("500m", Decimal("0.5")), ("0.5", Decimal("0.5")), ("1", Decimal(1)),
    ("128Mi", Decimal(128 * 2**20)), ("1Gi", Decimal(2**30)), ("1G", Decimal(10**9)),
    ("1e3", Decimal(1000)), ("1E-2", Decimal("0.01")), ("100k", Decimal(100_000)),
    ("2Ki", Decimal(2048)), ("1Ti", Decimal(2**40)), ("1Ei", Decimal(2**60)),
    ("5n", Decimal("0.000000005")), ("7u", Decimal("0.000007")), ("3M", Decimal(3 * 10**6)),
    ("1P", Decimal(10**15)), ("2E", Decimal(2 * 10**18)), ("+1", Decimal(1)),
    ("-1", Decimal(-1)), ("0", Decimal(0)), (".5", Decimal("0.5")),
])
def test_quantity_parses_to_its_exact_value(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["12x", "abc", "", " 1", "1 ", "1\n", "Mi", "--1"])
def test_junk_quantity_names_the_kubernetes_regex(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_quantity(text)
    assert str(err.value) == FORMAT_ERROR
    assert "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" in str(err.value)


@pytest.mark.parametrize(("text", "message"), [
    ("1K", "unable to parse quantity's suffix"),
    ("1Mi1", "unable to parse quantity's suffix"),
    ("1.2.3", "unable to parse numeric value"),
    ("1e9999", "quantity exponent out of range: e9999"),
])
def test_quantity_with_bad_suffix_or_number_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.") + "$"):
        parse_quantity(text)


@pytest.mark.parametrize(("text", "millis"), [
    ("500m", 500), ("0.5", 500), ("1", 1000), ("2", 2000), ("0.1", 100), ("1m", 1),
    ("0.0001", 1), ("250m", 250), ("1e3", 1_000_000),
])
def test_cpu_millis_rounds_up(text: str, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(("text", "n"), [
    ("128Mi", 134217728), ("1G", 10**9), ("1e3", 1000), ("64Mi", 67108864), ("1.5Ki", 1536),
    ("500m", 1), ("123", 123),
])
def test_to_bytes(text: str, n: int) -> None:
    assert to_bytes(text) == n


@pytest.mark.parametrize(("millis", "text"), [(500, "500m"), (1000, "1"), (2500, "2500m"),
                                              (0, "0")])
def test_format_cpu_is_canonical(millis: int, text: str) -> None:
    assert format_cpu(millis) == text


@pytest.mark.parametrize(("n", "text"), [(134217728, "128Mi"), (2**30, "1Gi"), (1536, "1536"),
                                         (2048, "2Ki"), (1000, "1000"), (0, "0"),
                                         (128974848, "123Mi")])
def test_format_bytes_is_canonical(n: int, text: str) -> None:
    assert format_bytes(n) == text


def test_formatted_quantities_parse_back() -> None:
    for n in (1, 1023, 1024, 5 * 2**20, 3 * 2**40):
        assert to_bytes(format_bytes(n)) == n
    for millis in (1, 999, 1000, 1500, 64000):
        assert cpu_millis(format_cpu(millis)) == millis
