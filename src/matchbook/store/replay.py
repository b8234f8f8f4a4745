"""Records re-derived from the journal: the commands of ``data_dir/journal`` replayed
through an engine restored to the right point (newest snapshot at or before it, then the
journal), with the events they produce. Events are not journaled, only commands: a
catch-up and a rebuild of the read model come from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from matchbook.core import Engine, Markets
from matchbook.journal.codec import decode_command
from matchbook.journal.durable import recover
from matchbook.journal.segments import iter_records, list_segments, recover_journal
from matchbook.store.errors import JournalNotFromStartError, ProjectionError
from matchbook.store.rows import Record


class JournalReplay:
    """Records after ``after_seq`` with their events, re-derived from the journal.

    The engine is restored to ``after_seq`` on the first ``take`` (snapshot + replay);
    records are read up to the journal's last intact record at that moment.
    """

    def __init__(self, data_dir: Path, markets: Markets, after_seq: int,
                 accounts: bool) -> None:
        self.data_dir = data_dir
        self.markets = markets
        self.after_seq = after_seq
        self.accounts = accounts
        self._records: Iterator[Record] | None = None

    def take(self, n: int) -> list[Record]:
        if self._records is None:
            self._records = self._generate()
        return list(islice(self._records, n))

    def _generate(self) -> Iterator[Record]:
        journal = self.data_dir / "journal"
        end = recover_journal(journal, dry_run=True, verify_from=self.after_seq + 1).last_seq or 0
        if end < self.after_seq:
            raise ProjectionError(
                f"the read model is at seq {self.after_seq} but the journal in {journal} "
                f"ends at seq {end}: it is not the journal this read model was built from")
        if end == self.after_seq:
            return
        engine = restored_engine(self.data_dir, self.markets, self.accounts, self.after_seq)
        expected = self.after_seq + 1
        apply = engine.apply
        for seq, ts_ns, payload in iter_records(journal, from_seq=expected):
            if seq != expected:
                raise JournalNotFromStartError(
                    f"the journal in {journal} continues at seq {seq}, the projection needs "
                    f"seq {expected}")
            command = decode_command(payload)
            yield seq, ts_ns, command, apply(seq, ts_ns, command)
            if seq >= end:
                return
            expected += 1


def restored_engine(data_dir: Path, markets: Markets, accounts: bool, seq: int) -> Engine:
    """An engine at ``seq``: the newest snapshot at or before it, then the journal."""
    if seq == 0:
        return Engine(markets, accounts=accounts)
    engine, _ = recover(data_dir, markets, accounts=accounts, to_seq=seq, truncate=False)
    if engine.last_seq != seq:
        raise ProjectionError(
            f"the read model is at seq {seq} but the journal in {data_dir} restores seq "
            f"{engine.last_seq}: it is not the journal this read model was built from")
    return engine


def check_from_start(journal: Path) -> None:
    """Raise :class:`JournalNotFromStartError` unless the journal's first segment starts
    at sequence number 1 (older segments were removed: a rebuild needs all of them)."""
    segments = [s for s in list_segments(journal) if s.path.stat().st_size > 0]
    if segments and segments[0].first_seq != 1:
        raise JournalNotFromStartError(
            f"cannot rebuild the read model: the journal in {journal} starts at seq "
            f"{segments[0].first_seq} ({segments[0].path.name}), not 1")
