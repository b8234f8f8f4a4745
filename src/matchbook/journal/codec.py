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
    """A short hash of every asset and symbol parameter."""
    rows: list[Any] = [(a.code, a.decimals) for a in markets.assets.values()]
    for s in markets.symbols.values():
        rows.append((s.name, s.base.code, s.quote.code, str(s.tick_size), str(s.lot_size),
                     s.min_qty_lots, s.max_qty_lots, s.min_notional_minor, s.price_band_bps,
                     s.market_protection_bps, s.fees.maker_ppm, s.fees.taker_ppm,
                     sorted((t, f.maker_ppm, f.taker_ppm) for t, f in s.tier_fees.items())))
    return hashlib.blake2b(msgspec.json.encode(sorted(map(str, rows))),
                           digest_size=8).hexdigest()


def encode_snapshot(engine: Engine) -> bytes:
    return msgspec.json.encode({"format": SNAPSHOT_FORMAT,
                                "markets": markets_fingerprint(engine.markets),
                                "state": engine.snapshot()})


def decode_snapshot(payload: bytes, markets: Markets, *, accounts: bool = True) -> Engine:
    """Rebuild the engine. Raises ``SnapshotMismatchError`` or ``msgspec.DecodeError``."""
    data = msgspec.json.decode(payload)
    if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotMismatchError("unknown snapshot format")
    if data.get("markets") != markets_fingerprint(markets):
        raise SnapshotMismatchError(
            "the snapshot was taken under a different market configuration")
    return Engine.restore(markets, data["state"], accounts=accounts)
