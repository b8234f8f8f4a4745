"""The read model's errors."""

from __future__ import annotations


class ProjectionError(Exception):
    """The read model cannot follow the stream (see the message)."""


class ProjectionGapError(ProjectionError):
    """A record does not continue the projection: ``expected_seq`` was due, ``found_seq``
    came. Nothing of the batch was written."""

    def __init__(self, expected_seq: int, found_seq: int) -> None:
        super().__init__(f"the projection is at seq {expected_seq - 1}: record {found_seq} "
                         f"would leave a gap (re-read the missing records from the journal)")
        self.expected_seq = expected_seq
        self.found_seq = found_seq


class JournalNotFromStartError(ProjectionError):
    """A rebuild needs the journal from sequence number 1."""
