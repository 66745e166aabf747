"""Numbers with their units, as people read them: ``80%``, ``2 GiB``, ``800``, ``250 ms``.

CloudWatch often sends ``Unit: null`` (or the string "None") even for metrics whose unit is fixed,
so well-known metrics carry their unit here.
"""

from __future__ import annotations

# Units of the metrics this service is usually pointed at (AWS/RDS for Aurora MySQL, and friends).
KNOWN_METRIC_UNITS = {
    "CPUUtilization": "Percent",
    "CPUCreditBalance": "Count",
    "FreeableMemory": "Bytes",
    "FreeLocalStorage": "Bytes",
    "FreeStorageSpace": "Bytes",
    "SwapUsage": "Bytes",
    "VolumeBytesUsed": "Bytes",
    "DatabaseConnections": "Count",
    "ConnectionAttempts": "Count",
    "Deadlocks": "Count/Second",
    "DiskQueueDepth": "Count",
    "ReadLatency": "Seconds",
    "WriteLatency": "Seconds",
    "SelectLatency": "Milliseconds",
    "DMLLatency": "Milliseconds",
    "CommitLatency": "Milliseconds",
    "AuroraReplicaLag": "Milliseconds",
    "AuroraReplicaLagMaximum": "Milliseconds",
    "ReplicaLag": "Seconds",
    "NetworkReceiveThroughput": "Bytes/Second",
    "NetworkTransmitThroughput": "Bytes/Second",
    "ReadThroughput": "Bytes/Second",
    "WriteThroughput": "Bytes/Second",
    "ReadIOPS": "Count/Second",
    "WriteIOPS": "Count/Second",
    "MemoryUtilization": "Percent",
}

_BINARY_PREFIXES = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_BYTE_FACTORS = {
    "Bytes": 1,
    "Kilobytes": 1024,
    "Megabytes": 1024**2,
    "Gigabytes": 1024**3,
    "Terabytes": 1024**4,
}
_BIT_FACTORS = {"Bits": 1, "Kilobits": 1e3, "Megabits": 1e6, "Gigabits": 1e9, "Terabits": 1e12}
_TIME_SUFFIX = {"Seconds": "s", "Milliseconds": "ms", "Microseconds": "µs"}


def unit_for(metric_name: str | None, unit: str | None) -> str | None:
    """The unit to display: the alarm's own, else the metric's known one."""
    if unit:
        return unit
    if not metric_name:
        return None
    known = KNOWN_METRIC_UNITS.get(metric_name)
    if known:
        return known
    return "Percent" if metric_name.endswith(("Utilization", "Percent", "Percentage")) else None


def format_number(value: float) -> str:
    """``80.0`` -> ``80``; ``0.12345`` -> ``0.123``; ``1234.567`` -> ``1234.57``;
    ``1e300`` -> ``1e+300``.

    Total: any float, including nan and infinities, gives a string.
    """
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)  # int() of these raises; "nan"/"inf" says what was sent
    if abs(value) >= 1e15:
        return f"{value:.4g}"  # not 300 digits of a float's noise
    if value == int(value):
        return str(int(value))
    if abs(value) >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def format_value(value: float, unit: str | None) -> str:
    per_second = unit is not None and unit.endswith("/Second")
    base = unit.removesuffix("/Second") if per_second else unit
    suffix = "/s" if per_second else ""
    if base == "Percent":
        return f"{format_number(value)}%"
    if base in _BYTE_FACTORS:
        return _scaled(value * _BYTE_FACTORS[base], 1024, _BINARY_PREFIXES) + suffix
    if base in _BIT_FACTORS:
        return (
            _scaled(value * _BIT_FACTORS[base], 1000, ("bit", "kbit", "Mbit", "Gbit", "Tbit"))
            + suffix
        )
    if base in _TIME_SUFFIX:
        return f"{format_number(value)} {_TIME_SUFFIX[base]}{suffix}"
    if base == "Count":
        return format_number(value) + suffix  # whole counts print as integers (800, not 800.0)
    return format_number(value) + suffix


def _scaled(value: float, step: int, names: tuple[str, ...]) -> str:
    index = 0
    while abs(value) >= step and index < len(names) - 1:
        value /= step
        index += 1
    return f"{format_number(value)} {names[index]}"
