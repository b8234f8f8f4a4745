"""Latency histograms for the benchmarks: HdrHistogram (the ``hdrhistogram`` package)
in microseconds, with the percentiles every result file reports.

An HdrHistogram keeps every recorded value to 3 significant figures (0.1% of the value)
in a fixed amount of memory, whatever the count, so a run of millions of requests costs
no more than a run of ten, and histograms from several load processes add up exactly:
each process encodes its own (:meth:`Latency.encode`, a compressed base64 string) and
the parent decodes and adds them (:meth:`Latency.merge`).

Values are recorded in whole microseconds from 1 µs to one hour. A value outside that
range is clamped to it and counted in ``clamped`` (the library itself would silently
drop it, which would flatter the tail).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_FIGURES = 3

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50_ms", 50.0), ("p90_ms", 90.0), ("p99_ms", 99.0), ("p999_ms", 99.9),
    ("p9999_ms", 99.99))
"""The reported percentiles: key in the result file and percentile (0..100)."""

FIGURE_KEYS = (*(key for key, _ in PERCENTILES), "max_ms", "mean_ms")


class Latency:
    """A latency histogram in microseconds, read in milliseconds.

    ``record_seconds`` takes a duration in seconds (what ``time.perf_counter``
    differences give); ``figures`` gives p50/p90/p99/p99.9/p99.99, max and mean in
    milliseconds (three decimals) and the count.
    """

    __slots__ = ("clamped", "histogram")

    def __init__(self) -> None:
        self.histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
        self.clamped = 0

    @property
    def count(self) -> int:
        return int(self.histogram.get_total_count())

    def record_us(self, value_us: int, count: int = 1) -> None:
        """Record ``count`` occurrences of ``value_us`` microseconds (clamped to range)."""
        if value_us < LOWEST_US:
            value_us = LOWEST_US
            self.clamped += count
        elif value_us > HIGHEST_US:
            value_us = HIGHEST_US
            self.clamped += count
        self.histogram.record_value(value_us, count)

    def record_seconds(self, seconds: float) -> None:
        """Record a duration in seconds (rounded to the nearest microsecond)."""
        self.record_us(round(seconds * 1_000_000))

    def merge(self, other: Latency | str) -> None:
        """Add another histogram (or the string of :meth:`encode`: its ``clamped``
        count does not travel with it) to this one."""
        if isinstance(other, str):
            self.histogram.decode_and_add(other)
        else:
            self.histogram.add(other.histogram)
            self.clamped += other.clamped

    def encode(self) -> str:
        """The histogram as a compressed base64 string (HdrHistogram's own format)."""
        encoded = self.histogram.encode()
        return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)

    @classmethod
    def decode(cls, encoded: str) -> Latency:
        latency = cls()
        latency.merge(encoded)
        return latency

    @classmethod
    def of(cls, encoded: Iterable[str]) -> Latency:
        """The sum of several encoded histograms."""
        latency = cls()
        for one in encoded:
            latency.merge(one)
        return latency

    def percentile_ms(self, percentile: float) -> float:
        """The value at ``percentile`` (0..100) in milliseconds; 0.0 when empty."""
        if not self.count:
            return 0.0
        return round(self.histogram.get_value_at_percentile(percentile) / 1000, 3)

    def figures(self) -> dict[str, Any]:
        """``{"count", "p50_ms", ..., "p9999_ms", "max_ms", "mean_ms"}`` (and
        ``"clamped"`` when any value was out of range). Zeros when empty."""
        hist = self.histogram
        count = self.count
        out: dict[str, Any] = {"count": count}
        if count:
            values = hist.get_percentile_to_value_dict([p for _, p in PERCENTILES])
            for key, percentile in PERCENTILES:
                out[key] = round(values[percentile] / 1000, 3)
            out["max_ms"] = round(hist.get_max_value() / 1000, 3)
            out["mean_ms"] = round(hist.get_mean_value() / 1000, 3)
        else:
            out.update(dict.fromkeys(FIGURE_KEYS, 0.0))
        if self.clamped:
            out["clamped"] = self.clamped
        return out
