"""An open order's life after it is placed. Every handler of it is on the hot path
(``core/matching.py``, compiled): cancel, amend and expiry, and cancel-all
(``MatchingCore._cancel_all``), which the market makers send with every requote.
``Lifecycle`` remains the name of this job for code that imports it."""

from __future__ import annotations

from matchbook.core.matching import MatchingCore

Lifecycle = MatchingCore
