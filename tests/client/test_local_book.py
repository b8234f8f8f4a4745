"""LocalOrderBook: snapshot, contiguous deltas, old deltas ignored, gaps detected."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest

from matchbook.client import BookDelta, BookGap, BookSnapshot, LocalOrderBook
from matchbook.client.messages import decode_message

D = Decimal


def snapshot(update_id: int = 10) -> BookSnapshot:
    return BookSnapshot(symbol="BTC-USD", update_id=update_id, epoch="e1",
                        bids=[(D("100"), D("1")), (D("99"), D("2"))],
                        asks=[(D("101"), D("1.5"))])


def delta(first: int, last: int | None = None, bids: Sequence[tuple[str, str]] = (),
          asks: Sequence[tuple[str, str]] = ()) -> BookDelta:
    return BookDelta(symbol="BTC-USD", first_update_id=first, last_update_id=last or first,
                     bids=[(D(p), D(q)) for p, q in bids], asks=[(D(p), D(q)) for p, q in asks])


def test_a_snapshot_then_contiguous_deltas() -> None:
    book = LocalOrderBook("BTC-USD")
    assert not book.ready
    book.load(snapshot())
    assert book.ready and book.epoch == "e1"
    assert book.apply(delta(11, bids=[("100", "0"), ("99.5", "3")]))
    assert book.apply(delta(12, 13, asks=[("101", "0.5"), ("102", "4")]))
    assert book.update_id == 13
    assert book.bids() == [(D("99.5"), D("3")), (D("99"), D("2"))]
    assert book.asks(1) == [(D("101"), D("0.5"))]
    assert book.best_bid == (D("99.5"), D("3")) and book.best_ask == (D("101"), D("0.5"))
    assert book.spread == D("1.5") and book.mid == D("100.25")
    assert len(book) == 4


def test_old_deltas_are_ignored_and_overlapping_ones_applied() -> None:
    book = LocalOrderBook("BTC-USD")
    book.load(snapshot(10))
    assert not book.apply(delta(9, 10, bids=[("100", "7")]))  # already in the snapshot
    assert book.best_bid == (D("100"), D("1"))
    # merged deltas 8..12 carry each level's value at 12: applying them on 10 is exact
    assert book.apply(delta(8, 12, bids=[("100", "5")]))
    assert book.update_id == 12 and book.best_bid == (D("100"), D("5"))


def test_a_missing_delta_is_a_gap() -> None:
    book = LocalOrderBook("BTC-USD")
    with pytest.raises(BookGap):  # nothing loaded yet
        book.apply(delta(1))
    book.load(snapshot(10))
    with pytest.raises(BookGap) as info:
        book.apply(delta(12))
    assert (info.value.have, info.value.first) == (10, 12)
    assert book.gaps == 2 and book.update_id == 10  # the book is left as it was
    book.clear()
    assert not book.ready and book.best_bid is None and book.mid is None


def test_frames_decode_to_typed_messages() -> None:
    frame = (b'{"type":"book_delta","symbol":"BTC-USD","first_update_id":3,'
             b'"last_update_id":4,"bids":[["100.00","0"]],"asks":[]}')
    message = decode_message(frame)
    assert message == delta(3, 4, bids=[("100.00", "0")])
    assert decode_message(b'{"type":"something_new","x":1}') == {"type": "something_new",
                                                                  "x": 1}
