"""Thresholds and values as people read them (issue 2, part 3)."""

from __future__ import annotations

import math

import pytest
from alert_service.units import format_number, format_value, unit_for


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (80.0, "Percent", "80%"),
        (87.43166666666667, "Percent", "87.43%"),
        (2147483648.0, "Bytes", "2 GiB"),
        (1.5 * 1024**3, "Bytes", "1.5 GiB"),
        (1825361100.8, "Bytes", "1.7 GiB"),
        (512.0, "Bytes", "512 B"),
        (1024.0, "Bytes", "1 KiB"),
        (2.0, "Gigabytes", "2 GiB"),
        (1536.0, "Kilobytes", "1.5 MiB"),
        (1048576.0, "Bytes/Second", "1 MiB/s"),
        (800.0, "Count", "800"),
        (800.5, "Count", "800.5"),
        (12.0, "Count/Second", "12/s"),
        (250.0, "Milliseconds", "250 ms"),
        (0.5, "Seconds", "0.5 s"),
        (1e9, "Bits", "1 Gbit"),
        (3.0, None, "3"),
        (3.0, "Whatever", "3"),
        # negative and tiny values keep their sign and significant digits
        (-5.0, "Percent", "-5%"),
        (-2147483648.0, "Bytes", "-2 GiB"),
        (0.000123456, None, "0.000123"),
        (-0.000123456, "Percent", "-0.000123%"),
        (1e-20, None, "1e-20"),
        (0.0, "Bytes", "0 B"),
        (-0.0, "Count", "0"),
    ],
)
def test_format_value(value: float, unit: str | None, expected: str) -> None:
    assert format_value(value, unit) == expected


@pytest.mark.parametrize(
    ("metric", "unit", "expected"),
    [
        ("CPUUtilization", None, "Percent"),  # CloudWatch sends Unit null for CPU
        ("CPUUtilization", "Percent", "Percent"),
        ("FreeableMemory", None, "Bytes"),
        ("DatabaseConnections", None, "Count"),
        ("MyDiskUtilization", None, "Percent"),
        ("ErrorCount", None, None),
        (None, None, None),
        ("CPUUtilization", "Count", "Count"),  # the alarm's own unit wins
    ],
)
def test_unit_for(metric: str | None, unit: str | None, expected: str | None) -> None:
    assert unit_for(metric, unit) == expected


def test_cpu_threshold_with_null_unit_is_a_percentage() -> None:
    assert format_value(80.0, unit_for("CPUUtilization", None)) == "80%"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (80.0, "80"),
        (1234.567, "1234.57"),
        (0.12345, "0.123"),
        (1e300, "1e+300"),  # not 301 digits of float noise
        (-1e300, "-1e+300"),
        (1e15, "1e+15"),
        (999999999999999.0, "999999999999999"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (math.nan, "nan"),
    ],
)
def test_format_number(value: float, expected: str) -> None:
    assert format_number(value) == expected


@pytest.mark.parametrize("unit", ["Percent", "Bytes", "Count", "Milliseconds", "Bits/Second", None])
@pytest.mark.parametrize("value", [1e300, -1e300, math.inf, math.nan, 5e-324])
def test_extreme_values_stay_short(value: float, unit: str | None) -> None:
    assert len(format_value(value, unit)) < 20
