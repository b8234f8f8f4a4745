"""Durable journal: framed, checksummed segment files with group commit, and snapshots.

Payloads are opaque bytes here; recovery is the newest valid snapshot plus the journal
records after it; :mod:`matchbook.journal.tail` follows a journal being written. See
:mod:`matchbook.journal.segments` and :mod:`matchbook.journal.snapshot` for the on-disk
formats.
"""

from matchbook.journal.segments import (
    DEFAULT_SEGMENT_BYTES,
    HEADER_SIZE,
    DurabilityMode,
    JournalCorruptError,
    JournalError,
    JournalGapError,
    JournalWriter,
    RecoveryReport,
    SegmentFile,
    Truncation,
    WriterStats,
    encode_record,
    iter_records,
    list_segments,
    recover_journal,
    segment_path,
)
from matchbook.journal.snapshot import (
    DAY_NS,
    SNAPSHOT_MAGIC,
    Snapshot,
    SnapshotInfo,
    SnapshotPolicy,
    SnapshotStore,
    next_midnight_utc_ns,
)

__all__ = [
    "DAY_NS",
    "DEFAULT_SEGMENT_BYTES",
    "HEADER_SIZE",
    "SNAPSHOT_MAGIC",
    "DurabilityMode",
    "JournalCorruptError",
    "JournalError",
    "JournalGapError",
    "JournalWriter",
    "RecoveryReport",
    "SegmentFile",
    "Snapshot",
    "SnapshotInfo",
    "SnapshotPolicy",
    "SnapshotStore",
    "Truncation",
    "WriterStats",
    "encode_record",
    "iter_records",
    "list_segments",
    "next_midnight_utc_ns",
    "recover_journal",
    "segment_path",
]
