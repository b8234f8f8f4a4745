"""Encoding of journal payloads (commands) and snapshot payloads (engine state).

A journal record's payload is one command, msgpack-encoded as a tagged ``msgspec``
struct (``["PlaceOrder", user_id, symbol, ...]``), so decoding needs no registry of its
own and rejects anything that is not a known command with the right field types.

A snapshot payload is JSON (balances may exceed 64 bits, which msgpack cannot carry):
``{"format": 1, "markets": <fingerprint>, "state": Engine.snapshot()}``. The markets
fingerprint guards against restoring a state under a different market configuration.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from matchbook.core import Engine, Markets
from matchbook.core.commands import AnyCommand

SNAPSHOT_FORMAT = 1

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyCommand)


class SnapshotMismatchError(ValueError):
    """A snapshot was written for another format or market configuration."""


def encode_command(command: AnyCommand) -> bytes:
    """Command -> journal payload. Raises ``OverflowError`` for ints beyond 64 bits."""
    return _encoder.encode(command)


def decode_command(payload: bytes) -> AnyCommand:
    """Journal payload -> command. Raises ``msgspec.DecodeError`` / ``ValidationError``."""
    return _decoder.decode(payload)


def markets_fingerprint(markets: Markets) -> str:
    """A short hash of every asset, symbol, fiat and P2P parameter."""
    rows: list[Any] = [(a.code, a.decimals) for a in markets.assets.values()]
    for s in markets.symbols.values():
        rows.append((s.name, s.base.code, s.quote.code, str(s.tick_size), str(s.lot_size),
                     s.min_qty_lots, s.max_qty_lots, s.min_notional_minor, s.price_band_bps,
                     s.market_protection_bps, s.fees.maker_ppm, s.fees.taker_ppm,
                     sorted((t, f.maker_ppm, f.taker_ppm) for t, f in s.tier_fees.items())))
    # the P2P desk's fiat currencies and settings decide what a replayed command does too
    rows.extend(("fiat", f.code, f.decimals) for f in markets.fiats.values())
    p2p = markets.p2p
    rows.append(("p2p", p2p.fee_bps, p2p.appeal_after_s, p2p.escalate_after_s,
                 p2p.cancel_limit, p2p.ban_s, sorted(p2p.second_approval_minor.items())))
    return hashlib.blake2b(msgspec.json.encode(sorted(map(str, rows))),
                           digest_size=8).hexdigest()


def encode_snapshot(engine: Engine) -> bytes:
    return msgspec.json.encode(snapshot_document(engine.markets, engine.snapshot()))


def snapshot_document(markets: Markets, state: dict[str, Any]) -> dict[str, Any]:
    """What a snapshot payload encodes: ``state`` is ``Engine.snapshot()`` (a copy made
    of fresh containers and immutable values, so it may be encoded on another thread
    while the engine moves on)."""
    return {"format": SNAPSHOT_FORMAT, "markets": markets_fingerprint(markets),
            "state": state}


_json_encode = msgspec.json.Encoder().encode


def encode_json_in_slices(value: Any, rows: int = 2048) -> bytes:
    """``msgspec.json.encode(value)``, byte for byte, in many short calls: lists longer
    than ``rows`` are encoded ``rows`` items at a time and dicts key by key.

    One encoder call holds the interpreter lock until it returns: for a large state one
    call would stall every other thread (the event loop) for as long as it takes. Made
    of short calls, the encoding leaves the lock to the others between slices, so a
    snapshot encoded on a worker thread does not block the loop. O(size of ``value``).
    """
    out: list[bytes] = []
    _slices(value, out, rows)
    return b"".join(out)


def _slices(value: Any, out: list[bytes], rows: int) -> None:
    append = out.append
    if isinstance(value, dict):
        append(b"{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                append(b",")
            # msgspec writes int (and other non-str) keys as JSON strings
            append(_json_encode(key if isinstance(key, str) else str(key)))
            append(b":")
            _slices(item, out, rows)
        append(b"}")
    elif isinstance(value, list | tuple):
        append(b"[")
        for start in range(0, len(value), rows):
            if start:
                append(b",")
            _slices_of_list(value[start:start + rows], out, rows)
        append(b"]")
    else:
        append(_json_encode(value))


def _slices_of_list(items: Any, out: list[bytes], rows: int) -> None:
    """The items of a slice of a list, without its brackets: in one call, unless an item
    is itself large (a dict, or a list longer than ``rows``)."""
    if not any(isinstance(item, dict) or (isinstance(item, list | tuple) and len(item) > rows)
               for item in items):
        if len(items):
            out.append(_json_encode(items)[1:-1])
        return
    for index, item in enumerate(items):
        if index:
            out.append(b",")
        _slices(item, out, rows)


def decode_snapshot(payload: bytes, markets: Markets, *, accounts: bool = True) -> Engine:
    """Rebuild the engine. Raises ``SnapshotMismatchError`` or ``msgspec.DecodeError``."""
    data = msgspec.json.decode(payload)
    if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotMismatchError("unknown snapshot format")
    if data.get("markets") != markets_fingerprint(markets):
        raise SnapshotMismatchError(
            "the snapshot was taken under a different market configuration")
    return Engine.restore(markets, data["state"], accounts=accounts)
