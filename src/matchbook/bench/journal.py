"""Micro-benchmark of journal appends (framing, write and fsync per batch)."""

from __future__ import annotations

import os
import time

from matchbook.journal.segments import DurabilityMode, JournalWriter

__all__ = ["bench_journal_append"]


def bench_journal_append(
    directory: str | os.PathLike[str],
    mode: DurabilityMode,
    batch_size: int,
    records: int,
    payload_size: int = 64,
) -> dict[str, float | int | str]:
    """Append ``records`` records of ``payload_size`` bytes in batches of ``batch_size``.

    The journal in ``directory`` is continued (use an empty directory for comparable
    runs). Batches are built before timing; each :meth:`JournalWriter.append_batch`
    call is timed with ``time.perf_counter_ns``. Returns ``appends_per_sec``,
    ``batches_per_sec``, ``batch_latency_us_mean``/``_p50``/``_p99`` (nearest rank),
    ``fsyncs``, ``bytes_written``, ``elapsed_s`` and the parameters.

    Raises ``ValueError`` if ``batch_size`` or ``records`` is < 1 or ``payload_size`` < 0.
    """
    if batch_size < 1 or records < 1 or payload_size < 0:
        raise ValueError(
            f"need batch_size >= 1, records >= 1, payload_size >= 0; "
            f"got {batch_size}, {records}, {payload_size}"
        )
    payload = bytes(i & 0xFF for i in range(payload_size))
    with JournalWriter(directory, mode) as writer:
        seq = (writer.last_seq or 0) + 1
        batches: list[list[tuple[int, int, bytes]]] = []
        remaining = records
        while remaining:
            count = min(batch_size, remaining)
            batches.append([(s, s * 1_000, payload) for s in range(seq, seq + count)])
            seq += count
            remaining -= count
        latencies_ns = [0] * len(batches)
        append_batch = writer.append_batch
        clock = time.perf_counter_ns
        started = clock()
        for index, batch in enumerate(batches):
            before = clock()
            append_batch(batch)
            latencies_ns[index] = clock() - before
        elapsed_ns = max(clock() - started, 1)
        stats = writer.stats()
    latencies_ns.sort()
    count = len(latencies_ns)
    return {
        "mode": mode,
        "batch_size": batch_size,
        "records": records,
        "payload_size": payload_size,
        "elapsed_s": elapsed_ns / 1e9,
        "appends_per_sec": records * 1e9 / elapsed_ns,
        "batches_per_sec": count * 1e9 / elapsed_ns,
        "batch_latency_us_mean": sum(latencies_ns) / count / 1_000,
        "batch_latency_us_p50": _nearest_rank(latencies_ns, 50) / 1_000,
        "batch_latency_us_p99": _nearest_rank(latencies_ns, 99) / 1_000,
        "fsyncs": stats.fsyncs,
        "bytes_written": stats.bytes_written,
    }


def _nearest_rank(sorted_values: list[int], percentile: int) -> int:
    rank = max(1, -(-percentile * len(sorted_values) // 100))
    return sorted_values[rank - 1]
