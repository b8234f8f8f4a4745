"""Crash test: kill -9 a journaling engine at random moments, then check recovery.

A trial starts a *child* process::

    python -m matchbook.tools.crash child --data-dir D --seed S

which opens a :class:`~matchbook.journal.durable.DurableEngine` in mode ``fsync``
(small segments, frequent snapshots, sequencer time that crosses 00:00 UTC), funds
its users, then submits a seeded stream of random commands in batches and, each time
``submit`` returns, writes the last acknowledged sequence number to stdout (one line,
flushed). The parent reads those acknowledgements, sends ``SIGKILL`` at a random
moment (sometimes before the first acknowledgement). A SIGKILL never tears a
``write`` in half, so in about half the trials the parent then damages what a power
loss could have damaged: the records after the last acknowledgement and the newest
snapshot (the batch in flight) are cut short, zero-filled or overwritten with garbage
from a random byte on. Then it recovers and checks that:

* every acknowledged sequence number survived (``ack <= recovered last seq``);
* the recovered state (newest valid snapshot + journal tail, after cutting a torn
  tail) has the same ``state_hash()`` as a clean replay of the recovered journal from
  seq 1 in a fresh engine, ignoring snapshots;
* ``Engine._check()`` passes (balances conserved, holds consistent) and every
  snapshot file left behind is valid (a kill during a snapshot leaves no half file);
* the engine reopens and accepts more commands, and a second recovery agrees with it.

``python -m matchbook.tools.crash run --trials N`` runs N trials with a progress bar
and prints a summary (``make crash-test`` runs 50). Exit status 1 if a trial failed.

:class:`CommandStream` (the seeded generator) is also used by the journal's tests.
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matchbook.core import Engine, Markets, RiskLimits
from matchbook.core.commands import (
    BUY,
    FOK,
    GTC,
    GTD,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    AdjustBalance,
    AdvanceTime,
    AmendOrder,
    AnyCommand,
    CancelAll,
    CancelOrder,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    HaltTrading,
    PlaceOrder,
    ReinstateUser,
    RejectWithdrawal,
    RequestWithdrawal,
    ResumeTrading,
    SetFeeTier,
    SuspendUser,
    Transfer,
)
from matchbook.core.events import Applied, OrderAccepted, WithdrawalRequested
from matchbook.journal.codec import decode_command
from matchbook.journal.durable import DurabilityConfig, DurableEngine, recover
from matchbook.journal.segments import HEADER_SIZE, iter_records, list_segments
from matchbook.journal.snapshot import DAY_NS, SnapshotStore

__all__ = [
    "CHILD_CONFIG",
    "CommandStream",
    "TrialResult",
    "markets_and_limits",
    "replay_from_start",
    "run_trial",
    "run_trials",
]

MS_NS = 1_000_000
START_TS_NS = 1_709_251_200 * 10**9  # 2024-03-01 00:00:00 UTC

# a plausible mid per symbol (ticks) and the price step orders use around it
MID_TICKS = {"BTC-USD": 5_000_000, "ETH-USD": 300_000, "SOL-USD": 150_000, "ETH-BTC": 5_000}
STEP_TICKS = {"BTC-USD": 1, "ETH-USD": 1, "SOL-USD": 5, "ETH-BTC": 1}
# what each user deposits first, in minor units: far more than the stream can spend
FUNDING_MINOR = {"USD": 10**15, "BTC": 10**12, "ETH": 10**13, "SOL": 10**14}

CHILD_CONFIG = DurabilityConfig(
    mode="fsync",
    snapshot_every_commands=2_000,
    snapshot_every_seconds=0,
    snapshot_daily=True,
    snapshots_kept=3,
    segment_bytes=128 * 1024,
)
"""How the child journals: fsync per batch, small segments, frequent snapshots."""


def markets_and_limits(path: str | Path | None = None) -> tuple[Markets, RiskLimits]:
    """The markets and risk limits of the configuration file (default: the shipped one).

    Replaying a journal needs the very configuration it was written under.
    """
    from matchbook.config import read_config, risk_limits
    from matchbook.core import load_markets

    config = read_config(path)
    markets = load_markets(config)
    return markets, risk_limits(markets, config)


# ------------------------------------------------------------------------- the stream


class CommandStream:
    """Seeded random commands aimed at the live state of ``engine``.

    Deposits and deposit addresses for every user come first (:meth:`funding`, only
    for an engine without accounts), then :meth:`batch` draws a mix of limit orders
    (passive and crossing; GTC, IOC, FOK, GTD, post-only, icebergs, client ids, every
    self-trade prevention mode), stops, market orders (by quantity and by quote amount),
    cancels (by id and by client id), amends, cancel-alls, withdrawals (requested,
    completed, rejected), transfers between users' addresses, balance adjustments, fee
    tiers, suspensions and halts, with a sequencer clock that moves 0..2 ms a command.

    Cancels, amends and withdrawal decisions name ids read from the engine (and from the
    events passed to :meth:`observe`), so most of them are valid; some are not, as in
    real traffic. The same seed and the same engine states give the same commands.
    """

    def __init__(self, seed: int, engine: Engine, *, users: int = 50,
                 start_ts_ns: int = START_TS_NS) -> None:
        self.rng = random.Random(seed)
        self.engine = engine
        self.users = users
        self.symbols = [name for name in MID_TICKS if name in engine.books]
        if not self.symbols:
            raise ValueError(f"none of {sorted(MID_TICKS)} is configured")
        self.assets = sorted({a for name in self.symbols
                              for a in (engine.books[name].symbol.base.code,
                                        engine.books[name].symbol.quote.code)})
        self.mids = {}
        for name in self.symbols:
            last = engine.books[name].last_price
            self.mids[name] = last or MID_TICKS[name]
        self.ts_ns = max(engine.last_ts, start_ts_ns)
        self._open = sorted(engine.orders)
        self._withdrawals = sorted(engine.withdrawals)
        self._coid = 0

    # -- feedback ----------------------------------------------------------------------

    def observe(self, applied: Iterable[Applied]) -> None:
        """Learn new order and withdrawal ids from what ``submit`` returned."""
        for _, _, _, events in applied:
            for event in events:
                if isinstance(event, OrderAccepted):
                    self._open.append(event.order_id)
                elif isinstance(event, WithdrawalRequested):
                    self._withdrawals.append(event.withdrawal_id)

    def _pick(self, ids: list[int], live: dict[int, Any]) -> int:
        """A random id of ``ids`` still in ``live`` (dead ones are dropped), or 0."""
        rng = self.rng
        while ids:
            index = rng.randrange(len(ids))
            found = ids[index]
            if found in live:
                return found
            ids[index] = ids[-1]
            ids.pop()
        return 0

    # -- drawing -----------------------------------------------------------------------

    def funding(self) -> list[AnyCommand]:
        """Deposits of every asset and a deposit address per asset, for every user."""
        if self.engine.accounts:
            return []
        commands: list[AnyCommand] = []
        for uid in range(1, self.users + 1):
            for asset in self.assets:
                commands.append(Deposit(asset, FUNDING_MINOR.get(asset, 10**12), user_id=uid,
                                        reference=f"funding-{uid}-{asset}"))
                commands.append(CreateAddress(uid, asset))
        return commands

    def stamp(self, commands: Sequence[AnyCommand]) -> list[tuple[AnyCommand, int]]:
        """``(command, ts_ns)`` pairs on the stream's clock."""
        out = []
        for command in commands:
            self.ts_ns += self.rng.randrange(0, 2 * MS_NS)
            out.append((command, self.ts_ns))
        return out

    def batch(self, size: int) -> list[tuple[AnyCommand, int]]:
        """``size`` random commands with their timestamps."""
        return self.stamp([self.command() for _ in range(size)])

    def command(self) -> AnyCommand:
        """One random command drawn against the engine's current state."""
        rng = self.rng
        engine = self.engine
        if engine.halted and rng.random() < 0.3:
            return ResumeTrading()
        if rng.random() < 0.05:  # halts are short
            halted = [name for name in self.symbols if engine.books[name].halted]
            if halted:
                return ResumeTrading(rng.choice(halted))
        r = rng.random()
        if r < 0.45:
            return self._limit()
        if r < 0.48:
            return self._stop()
        if r < 0.58:
            return self._market()
        if r < 0.76:
            return self._cancel()
        if r < 0.83:
            return self._amend()
        if r < 0.84:
            uid = rng.randint(1, self.users)
            return CancelAll(uid, rng.choice(["", *self.symbols]))
        if r < 0.88:
            return self._withdrawal()
        if r < 0.92:
            return self._transfer()
        if r < 0.94:
            return self._deposit_or_adjust()
        if r < 0.95:
            return SetFeeTier(rng.randint(1, self.users), rng.choice(("", "vip")))
        if r < 0.96:
            return self._operations()
        return AdvanceTime()

    def _mid(self, name: str) -> int:
        rng = self.rng
        mid = self.mids[name] + rng.randint(-2, 2) * STEP_TICKS[name]
        last = self.engine.books[name].last_price
        if last and abs(mid - last) * 50 > last:  # stay within 2% of the last trade
            mid = last
        mid = max(mid, 100)
        self.mids[name] = mid
        return mid

    def _client_id(self) -> str:
        if self.rng.random() < 0.1:
            self._coid += 1
            return f"c{self._coid}"
        return ""

    def _limit(self) -> PlaceOrder:
        rng = self.rng
        name = rng.choice(self.symbols)
        mid = self._mid(name)
        step = STEP_TICKS[name]
        side = BUY if rng.random() < 0.5 else SELL
        if rng.random() < 0.2:
            through = rng.randint(0, 5) * step
            price = mid + through if side == BUY else mid - through
        else:
            behind = rng.randint(1, 30) * step
            price = mid - behind if side == BUY else mid + behind
        qty = rng.randint(1, 40)
        tif, expire, display, post_only = GTC, 0, 0, False
        roll = rng.random()
        if roll < 0.05:
            tif, expire = GTD, self.ts_ns + rng.randint(50, 5_000) * MS_NS
        elif roll < 0.10:
            tif = IOC
        elif roll < 0.12:
            tif = FOK
        elif roll < 0.17 and qty > 4:
            display = rng.randint(1, qty - 1)
        elif roll < 0.22:
            post_only = True
        stp = rng.randint(1, 4) if rng.random() < 0.1 else 1
        return PlaceOrder(rng.randint(1, self.users), name, side, LIMIT, qty_lots=qty,
                          price_ticks=price, tif=tif, post_only=post_only,
                          display_lots=display, client_order_id=self._client_id(), stp=stp,
                          expire_ts_ns=expire)

    def _stop(self) -> PlaceOrder:
        rng = self.rng
        name = rng.choice(self.symbols)
        last = self.engine.books[name].last_price or self.mids[name]
        step = STEP_TICKS[name]
        side = BUY if rng.random() < 0.5 else SELL
        distance = rng.randint(1, 20) * step
        stop = last + distance if side == BUY else max(1, last - distance)
        if rng.random() < 0.5:
            return PlaceOrder(rng.randint(1, self.users), name, side, STOP_MARKET,
                              qty_lots=rng.randint(1, 10), stop_price_ticks=stop)
        limit = stop + 5 * step if side == BUY else max(1, stop - 5 * step)
        return PlaceOrder(rng.randint(1, self.users), name, side, STOP_LIMIT,
                          qty_lots=rng.randint(1, 10), price_ticks=limit, stop_price_ticks=stop)

    def _market(self) -> PlaceOrder:
        rng = self.rng
        name = rng.choice(self.symbols)
        uid = rng.randint(1, self.users)
        if rng.random() < 0.1:
            symbol = self.engine.books[name].symbol
            budget = symbol.notional_minor(self.mids[name], rng.randint(1, 10))
            return PlaceOrder(uid, name, BUY, MARKET, quote_amount_minor=budget, tif=IOC)
        side = BUY if rng.random() < 0.5 else SELL
        tif = FOK if rng.random() < 0.1 else IOC
        return PlaceOrder(uid, name, side, MARKET, qty_lots=rng.randint(1, 8), tif=tif)

    def _cancel(self) -> CancelOrder:
        rng = self.rng
        orders = self.engine.orders
        oid = self._pick(self._open, orders)
        if not oid:
            return CancelOrder(rng.randint(1, self.users), rng.randint(1, 10**6))
        order = orders[oid]
        if order.client_order_id and rng.random() < 0.5:
            return CancelOrder(order.user_id, 0, order.client_order_id)
        if rng.random() < 0.02:  # someone else's order
            return CancelOrder(order.user_id % self.users + 1, oid)
        return CancelOrder(order.user_id, oid)

    def _amend(self) -> AmendOrder | CancelOrder:
        rng = self.rng
        orders = self.engine.orders
        oid = self._pick(self._open, orders)
        if not oid:
            return self._cancel()
        order = orders[oid]
        filled = order.qty - order.leaves
        if order.leaves > 1 and rng.random() < 0.5:
            return AmendOrder(order.user_id, oid, qty_lots=filled + rng.randint(1, order.leaves))
        step = STEP_TICKS.get(order.symbol, 1)
        move = rng.choice((-3, -2, -1, 1, 2, 3)) * step
        return AmendOrder(order.user_id, oid, price_ticks=max(1, order.price + move),
                          qty_lots=order.qty + rng.randint(0, 3) if rng.random() < 0.3 else 0)

    def _withdrawal(self) -> AnyCommand:
        rng = self.rng
        pending = self.engine.withdrawals
        if rng.random() < 0.5:
            wid = self._pick(self._withdrawals, pending)
            if wid:
                if rng.random() < 0.7:
                    return CompleteWithdrawal(wid)
                return RejectWithdrawal(wid, "compliance check")
        asset = rng.choice(self.assets)
        amount = rng.randint(1, 10**6) * 10**rng.randint(0, 4)
        return RequestWithdrawal(rng.randint(1, self.users), asset, amount,
                                 f"ext-{rng.randint(1, 10**6)}")

    def _transfer(self) -> AnyCommand:
        rng = self.rng
        sender = rng.randint(1, self.users)
        receiver = rng.randint(1, self.users)
        asset = rng.choice(self.assets)
        address = self.engine.user_addresses.get((receiver, asset))
        if address is None:
            return CreateAddress(receiver, asset)
        return Transfer(sender, address, asset, rng.randint(1, 10**7))

    def _deposit_or_adjust(self) -> AnyCommand:
        rng = self.rng
        uid = rng.randint(1, self.users)
        asset = rng.choice(self.assets)
        if rng.random() < 0.7:
            address = self.engine.user_addresses.get((uid, asset))
            if address is not None and rng.random() < 0.5:
                return Deposit(asset, rng.randint(1, 10**8), address=address,
                               reference=f"tx-{rng.getrandbits(32):08x}")
            return Deposit(asset, rng.randint(1, 10**8), user_id=uid, reference="top-up")
        return AdjustBalance(uid, asset, rng.randint(-10**6, 10**6) or 1, "correction")

    def _operations(self) -> AnyCommand:
        rng = self.rng
        engine = self.engine
        roll = rng.random()
        if roll < 0.4:
            suspended = sorted(engine.suspended)
            if suspended:
                return ReinstateUser(rng.choice(suspended))
            return SuspendUser(rng.randint(1, self.users), end_p2p_ads=True)
        halted = [name for name in self.symbols if engine.books[name].halted]
        if halted:
            return ResumeTrading(rng.choice(halted))
        if roll < 0.95:
            return HaltTrading(rng.choice(self.symbols))
        return HaltTrading()


# ------------------------------------------------------------------------- the child


def child(data_dir: Path, seed: int, *, users: int = 50, max_batch: int = 64,
          max_commands: int = 10_000_000, config: DurabilityConfig = CHILD_CONFIG,
          out: Any = None) -> None:
    """Journal a random stream into ``data_dir`` until killed, acknowledging each batch.

    Continues an existing ``data_dir``. Stops after ``max_commands`` or when stdout is
    closed (the parent went away).
    """
    out = out or sys.stdout
    markets, limits = markets_and_limits()
    rng = random.Random(f"batches-{seed}")
    # sequencer time starts up to 10 s before a midnight, so many runs cross 00:00 UTC
    start = START_TS_NS + rng.randrange(1, 30) * DAY_NS - rng.randrange(0, 10_000) * MS_NS
    with DurableEngine.open(data_dir, markets, config=config, limits=limits) as durable:
        stream = CommandStream(seed, durable.engine, users=users, start_ts_ns=start)
        funding = stream.funding()
        submitted = 0
        try:
            for index in range(0, len(funding), max_batch):
                applied = durable.submit(stream.stamp(funding[index:index + max_batch]))
                stream.observe(applied)
                out.write(f"{durable.last_seq}\n")
                out.flush()
            while submitted < max_commands:
                size = rng.randint(1, max_batch)
                applied = durable.submit(stream.batch(size))
                stream.observe(applied)
                submitted += size
                out.write(f"{durable.last_seq}\n")
                out.flush()
        except BrokenPipeError:
            return


# ------------------------------------------------------------------------- the parent


@dataclass(frozen=True, slots=True)
class TrialResult:
    """One kill-and-recover trial. ``problems`` is empty when every check passed."""

    seed: int
    data_dir: Path
    acks: int  # acknowledgements read
    last_ack: int  # highest acknowledged seq (0: killed before the first)
    recovered_seq: int
    unacknowledged_kept: int  # records journaled but not yet acknowledged at the kill
    truncated_bytes: int  # torn tail cut on recovery
    torn: str  # how the in-flight batch was damaged after the kill ("": not at all)
    in_snapshot: bool  # killed while writing a snapshot (its temporary file was left)
    snapshot_seq: int  # snapshot recovery started from (0: none)
    snapshots: int
    recovery_seconds: float
    seconds: float
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def replay_from_start(journal: Path, markets: Markets) -> Engine:
    """A fresh engine fed every journal record from seq 1 (snapshots ignored).

    Raises ``AssertionError`` if the journal does not start at seq 1 or has a gap.
    """
    engine = Engine(markets)
    apply = engine.apply
    expected = 1
    for seq, ts_ns, payload in iter_records(journal, from_seq=1):
        assert seq == expected, f"journal record {seq} where {expected} was expected"
        apply(seq, ts_ns, decode_command(payload))
        expected += 1
    return engine


def _child_command(data_dir: Path, seed: int) -> list[str]:
    return [sys.executable, "-m", "matchbook.tools.crash", "child",
            "--data-dir", str(data_dir), "--seed", str(seed)]


def _run_child_and_kill(data_dir: Path, seed: int, rng: random.Random,
                        timeout: float) -> tuple[list[int], str]:
    """Start the child, SIGKILL it at a random moment; return its acks and its stderr."""
    if rng.random() < 0.1:
        kill_after = 0  # during start-up or the first batches, before any ack is read
    else:
        kill_after = rng.choice((rng.randint(1, 20), rng.randint(1, 400)))
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(_child_command(data_dir, seed), stdout=subprocess.PIPE,
                                stderr=errors, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        lines: list[bytes] = []
        deadline = time.monotonic() + timeout
        try:
            if kill_after == 0:
                time.sleep(rng.uniform(0.0, 0.6))
            else:
                while len(lines) < kill_after and time.monotonic() < deadline:
                    line = proc.stdout.readline()
                    if not line:
                        break  # the child died on its own: reported below
                    lines.append(line)
                time.sleep(rng.uniform(0.0, 0.003))  # land anywhere in a later batch
            proc.send_signal(signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        lines += proc.stdout.read().splitlines(keepends=True)
        proc.stdout.close()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if proc.returncode != -signal.SIGKILL:
        stderr = f"child exited with status {proc.returncode} before the kill\n{stderr}"
    # a line cut by the kill has no newline: it was never fully acknowledged
    return [int(line) for line in lines if line.endswith(b"\n")], stderr


def _tear_unacknowledged(data_dir: Path, after_seq: int, rng: random.Random) -> str:
    """Damage the journal after record ``after_seq`` as a power loss could: the batch in
    flight at the kill reached the disk only in part (cut short, zero-filled or garbage
    from some byte on). Records up to ``after_seq`` are left intact. Returns what was
    done ("" if there was nothing after ``after_seq``)."""
    segments = [s for s in list_segments(data_dir / "journal") if s.path.stat().st_size]
    if not segments:
        return ""
    path = segments[-1].path
    data = path.read_bytes()
    offset, first_seq = 0, segments[-1].first_seq
    while offset + HEADER_SIZE <= len(data) and first_seq <= after_seq:
        (length,) = struct.unpack_from("<I", data, offset)
        offset += HEADER_SIZE + length
        first_seq += 1
    if first_seq <= after_seq or offset >= len(data):
        return ""
    start = rng.randrange(offset, len(data))
    how = rng.choice(("cut", "zeros", "garbage"))
    if how == "cut":
        tail = b""
    elif how == "zeros":
        tail = bytes(len(data) - start)
    else:
        tail = rng.randbytes(len(data) - start)
    path.write_bytes(data[:start] + tail)
    return f"{how} {len(data) - start} bytes after seq {first_seq - 1}"


def run_trial(data_dir: Path, seed: int, *, timeout: float = 60.0,
              more_batches: int = 5, tear: float = 0.5) -> TrialResult:
    """One trial in an empty (or absent) ``data_dir``; see the module docstring."""
    started = time.perf_counter()
    rng = random.Random(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    acks, stderr = _run_child_and_kill(data_dir, seed, rng, timeout)
    if stderr.strip():
        problems.append(f"child stderr: {stderr.strip()[-2000:]}")
    if acks != sorted(set(acks)):
        problems.append("acknowledgements are not strictly increasing")
    last_ack = max(acks, default=0)
    markets, limits = markets_and_limits()
    snapshots = SnapshotStore(data_dir / "snapshots").list()
    in_snapshot = any((data_dir / "snapshots").glob(".snapshot-*.tmp"))
    torn = ""
    if rng.random() < tear:  # only what no ack and no snapshot covers may be torn
        torn = _tear_unacknowledged(data_dir, max([last_ack, *(s.seq for s in snapshots)]),
                                    rng)

    try:
        engine, info = recover(data_dir, markets)
    except Exception as exc:  # every failure is a finding of the trial
        problems.append(f"recovery failed: {type(exc).__name__}: {exc}")
        return TrialResult(
            seed=seed, data_dir=data_dir, acks=len(acks), last_ack=last_ack, recovered_seq=0,
            unacknowledged_kept=0, truncated_bytes=0, torn=torn, in_snapshot=in_snapshot,
            snapshot_seq=0,
            snapshots=len(snapshots), recovery_seconds=0.0,
            seconds=time.perf_counter() - started, problems=tuple(problems))
    if info.last_seq < last_ack:
        problems.append(f"acknowledged seq {last_ack} lost: recovered only to {info.last_seq}")
    try:
        clean = replay_from_start(data_dir / "journal", markets)
    except AssertionError as exc:
        problems.append(f"clean replay from seq 1 failed: {exc}")
    else:
        if clean.last_seq != info.last_seq:
            problems.append(f"clean replay ends at seq {clean.last_seq}, "
                            f"recovery at {info.last_seq}")
        elif clean.state_hash() != engine.state_hash():
            problems.append(f"state hash after recovery (snapshot {info.snapshot_seq} + "
                            f"{info.replayed} records) differs from a clean replay")
    try:
        engine._check()
    except AssertionError as exc:
        problems.append(f"invariant broken after recovery: {exc}")
    if torn and info.truncated is None and not torn.startswith("cut"):
        problems.append(f"the journal was torn ({torn}) but recovery cut nothing")
    snapshots = SnapshotStore(data_dir / "snapshots").list()
    problems += [f"invalid snapshot {s.path.name}: {s.problem}" for s in snapshots if not s.valid]

    # the engine must open on what the crash left and keep working
    try:
        with DurableEngine.open(data_dir, markets, config=CHILD_CONFIG,
                                limits=limits) as durable:
            if durable.last_seq != info.last_seq:
                problems.append(f"reopened at seq {durable.last_seq}, expected {info.last_seq}")
            stream = CommandStream(seed + 1, durable.engine)
            funding = stream.stamp(stream.funding())
            for index in range(0, len(funding), 64):
                stream.observe(durable.submit(funding[index:index + 64]))
            for _ in range(more_batches):
                stream.observe(durable.submit(stream.batch(rng.randint(1, 64))))
            durable.engine._check()
            live_seq, live_hash = durable.last_seq, durable.engine.state_hash()
        again, _ = recover(data_dir, markets)
        if (again.last_seq, again.state_hash()) != (live_seq, live_hash):
            problems.append("recovery after more commands differs from the live engine")
    except Exception as exc:  # every failure is a finding of the trial
        problems.append(f"reopening and submitting failed: {type(exc).__name__}: {exc}")

    truncated = info.truncated.bytes_removed if info.truncated is not None else 0
    return TrialResult(
        seed=seed, data_dir=data_dir, acks=len(acks), last_ack=last_ack,
        recovered_seq=info.last_seq, unacknowledged_kept=info.last_seq - last_ack,
        truncated_bytes=truncated, torn=torn, in_snapshot=in_snapshot,
        snapshot_seq=info.snapshot_seq,
        snapshots=len(snapshots), recovery_seconds=info.seconds,
        seconds=time.perf_counter() - started,
        problems=tuple(problems))


def run_trials(trials: int, *, seed: int = 1, directory: Path | None = None,
               keep: bool = False,
               progress: Callable[[TrialResult], None] | None = None) -> list[TrialResult]:
    """Run ``trials`` trials with seeds ``seed, seed + 1, ...``, each in its own directory
    under ``directory`` (default: a temporary one). Directories of passed trials are
    removed unless ``keep``; failed ones are always kept for inspection."""
    root = Path(tempfile.mkdtemp(prefix="matchbook-crash-", dir=directory))
    results = []
    for index in range(trials):
        trial_seed = seed + index
        result = run_trial(root / f"trial-{trial_seed}", trial_seed)
        if result.ok and not keep:
            shutil.rmtree(result.data_dir, ignore_errors=True)
        results.append(result)
        if progress is not None:
            progress(result)
    if all(r.ok for r in results) and not keep:
        shutil.rmtree(root, ignore_errors=True)
    return results


def _print_summary(results: list[TrialResult], seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    failed = [r for r in results if not r.ok]
    table = Table(title=f"crash test: {len(results)} trials (SIGKILL, mode fsync) "
                        f"in {seconds:.1f} s")
    table.add_column("figure")
    table.add_column("value", justify="right")
    count = max(len(results), 1)
    rows = [
        ("trials passed", f"{len(results) - len(failed)} / {len(results)}"),
        ("killed before the first ack", str(sum(1 for r in results if not r.acks))),
        ("acknowledged commands (sum of last acks)", f"{sum(r.last_ack for r in results):,}"),
        ("acknowledged commands lost", "0" if not any(
            r.recovered_seq < r.last_ack for r in results) else "[red]some"),
        ("killed while writing a snapshot", str(sum(1 for r in results if r.in_snapshot))),
        ("in-flight batches torn after the kill", str(sum(1 for r in results if r.torn))),
        ("torn tails cut on recovery", str(sum(1 for r in results if r.truncated_bytes))),
        ("unacknowledged records kept (in-flight batch on disk)",
         str(sum(1 for r in results if r.unacknowledged_kept))),
        ("recoveries from a snapshot", str(sum(1 for r in results if r.snapshot_seq))),
        ("mean recovery time", f"{sum(r.recovery_seconds for r in results) / count * 1e3:.1f} ms"),
        ("max recovered seq", f"{max((r.recovered_seq for r in results), default=0):,}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for r in failed:
        console.print(f"[red]trial seed {r.seed} failed[/red] (kept in {r.data_dir}):")
        for problem in r.problems:
            console.print(f"  - {problem}", markup=False)
    if not failed:
        console.print("[green]every acknowledged command survived; every recovery matched "
                      "a clean replay[/green]")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m matchbook.tools.crash",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    child_parser = commands.add_parser("child", help="journal random commands until killed")
    child_parser.add_argument("--data-dir", type=Path, required=True)
    child_parser.add_argument("--seed", type=int, required=True)
    child_parser.add_argument("--users", type=int, default=50)
    child_parser.add_argument("--max-batch", type=int, default=64)
    child_parser.add_argument("--max-commands", type=int, default=10_000_000)
    run_parser = commands.add_parser("run", help="run kill-and-recover trials")
    run_parser.add_argument("--trials", type=int, default=10)
    run_parser.add_argument("--seed", type=int, default=1, help="seed of the first trial")
    run_parser.add_argument("--dir", type=Path, default=None,
                            help="where trial directories go (default: the temp dir)")
    run_parser.add_argument("--keep", action="store_true", help="keep passed trials' data")
    args = parser.parse_args(argv)

    if args.command == "child":
        child(args.data_dir, args.seed, users=args.users, max_batch=args.max_batch,
              max_commands=args.max_commands)
        return 0

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    # cut tails are expected here and counted in the summary
    logging.getLogger("matchbook.journal").setLevel(logging.ERROR)
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn()) as progress:
        task = progress.add_task("crash trials", total=args.trials)
        failures = 0

        def advance(result: TrialResult) -> None:
            nonlocal failures
            failures += not result.ok
            progress.update(task, advance=1,
                            description=f"crash trials ({failures} failed)" if failures
                            else "crash trials")

        results = run_trials(args.trials, seed=args.seed, directory=args.dir, keep=args.keep,
                             progress=advance)
    _print_summary(results, time.perf_counter() - started)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
