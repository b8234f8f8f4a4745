"""Replay a command stream through this process's build of the core (the build
``MATCHBOOK_PURE_PYTHON`` selects) and write what it answered.

    python tests/build/replay_stream.py STREAM OUT

``STREAM``: msgpack ``{"accounts": bool, "commands": [[seq, ts_ns, command bytes], ...]}``
(commands encoded as in the journal). ``OUT``: msgpack ``{"build": build_info(),
"events": [events of each command, JSON-encoded], "state_hash": ...}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from matchbook import build_info
from matchbook.config import default_markets
from matchbook.core import Engine, RiskLimits
from matchbook.journal.codec import decode_command


def main(stream_path: str, out_path: str) -> None:
    document = msgspec.msgpack.decode(Path(stream_path).read_bytes())
    engine = Engine(default_markets(), accounts=document["accounts"],
                    limits=RiskLimits(max_open_orders=10**9))
    encode = msgspec.json.encode
    events = [encode(engine.apply(seq, ts_ns, decode_command(command)))
              for seq, ts_ns, command in document["commands"]]
    engine._check()
    Path(out_path).write_bytes(msgspec.msgpack.encode(
        {"build": build_info(), "events": events, "state_hash": engine.state_hash()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
