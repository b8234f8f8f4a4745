"""The P2P service: the desk's commands from the API's words, and its answers as views.

Every action goes to the engine as one command; its answer is built from the live
desk right after the command's batch (the trade or ad as that batch left it), or the
command's refusal is raised as a P2P error (``errors.p2p_error``: a state mismatch is
a 409 that names the current state, a role a 403, an unknown id a 404).

Idempotency: a key (the body's ``idempotency_key`` or the ``Idempotency-Key`` header)
is remembered by the engine with the first answer's code and target; the same key
again from the same user changes nothing (``P2PRepeated``) and is answered like the
first time: the same status and the trade or ad it concerned, or the same refusal.

Views are personal: a trade is shown to its buyer and seller (and to administrators),
with ``my_role`` and ``allowed_actions`` computed for the caller and the server's
``now``; payment details only to the parties, and to administrators in a dispute.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from matchbook.api import p2p_views as pv
from matchbook.api.errors import ApiCode, ApiError, p2p_error
from matchbook.api.reads import Reads
from matchbook.api.schemas import NewAd
from matchbook.core import Code, Markets
from matchbook.core.codes import message as code_message
from matchbook.core.commands import (
    AddPaymentMethod,
    CancelAd,
    CancelTrade,
    DisputeOutcome,
    LeaveFeedback,
    MarkPaid,
    OpenDispute,
    PauseAd,
    PostAd,
    PostTradeMessage,
    ReleaseEscrow,
    RemovePaymentMethod,
    ResolveDispute,
    ResumeAd,
    TakeAd,
    WithdrawDispute,
)
from matchbook.core.events import (
    AdPosted,
    CommandRejected,
    Event,
    FeedbackLeft,
    P2PRejected,
    P2PRepeated,
    P2PTradeChanged,
    P2PTradeOpened,
    PaymentMethodAdded,
    TradeMessagePosted,
)
from matchbook.runtime.exchange import Exchange
from matchbook.runtime.sequencer import Result

NS = 1_000_000_000
ACTIONS = ("paid", "release", "cancel", "dispute", "withdraw-dispute")


class P2PService:
    """The P2P desk of one running exchange, for REST (and the WebSocket's views)."""

    def __init__(self, exchange: Exchange, reads: Reads) -> None:
        self.exchange = exchange
        self.reads = reads
        self.markets: Markets = exchange.markets

    # -- amounts ---------------------------------------------------------------------

    def asset_minor(self, asset: str, text: str, field: str) -> int:
        """A positive quantity of ``asset`` in its minor units; raises ``ApiError``."""
        known = self.markets.assets.get(asset.upper())
        if known is None:
            raise ApiError(Code.UNKNOWN_ASSET, f"Unknown asset {asset!r}.")
        return _minor(text, known.decimals, field, Code.INVALID_QUANTITY)

    def fiat_minor(self, fiat: str, text: str, field: str) -> int:
        decimals = self.fiat_decimals(fiat)
        return _minor(text, decimals, field, Code.INVALID_PRICE)

    def fiat_decimals(self, fiat: str) -> int:
        known = self.markets.fiats.get(fiat.upper())
        if known is None:
            raise p2p_error(Code.UNKNOWN_FIAT, f"Unknown fiat currency {fiat!r}; known: "
                            f"{', '.join(sorted(self.markets.fiats))}.")
        return int(known.decimals)

    def fmt_asset(self, asset: str, minor: int) -> str:
        return self.markets.assets[asset].format(minor)

    def fmt_fiat(self, fiat: str, minor: int) -> str:
        decimals = self.markets.fiats[fiat].decimals if fiat in self.markets.fiats else 2
        return f"{Decimal(minor).scaleb(-decimals):f}"

    # -- views -----------------------------------------------------------------------

    def method_view(self, m: Any) -> pv.PaymentMethod:
        return pv.PaymentMethod(method_id=m.method_id, name=m.name, details=m.details)

    def margin_price(self, ad: Any) -> int:
        """What a take of margin ad ``ad`` would freeze now (fiat minor units per whole
        unit; the core's rule: the mid of the book plus the margin, half up), 0 without
        a bid and an ask."""
        bid, ask = self.reads.best_prices(ad.price_symbol)
        if not bid or not ask:
            return 0
        symbol = self.markets.symbols[ad.price_symbol]
        tick_num, tick_den = symbol.tick_size.as_integer_ratio()
        decimals = self.markets.fiats[ad.fiat].decimals
        num = (bid + ask) * tick_num * 10**decimals * (10_000 + ad.price_margin_bps)
        den = 2 * tick_den * 10_000
        return int((2 * num + den) // (2 * den))

    def ad_view(self, ad: Any) -> pv.P2PAd:
        fmt = self.markets.assets[ad.asset].format
        margin = not ad.price_minor
        price = ad.price_minor or (self.margin_price(ad) if ad.state == 1 else 0)
        return pv.P2PAd(
            ad_id=ad.ad_id, state=pv.AD_STATES[ad.state],  # type: ignore[arg-type]
            maker_id=ad.user_id, side=pv.P2P_SIDES[ad.side],  # type: ignore[arg-type]
            asset=ad.asset, fiat=ad.fiat,
            price=self.fmt_fiat(ad.fiat, price) if price else None,
            price_margin_bps=ad.price_margin_bps if margin else None,
            price_symbol=ad.price_symbol if margin else None,
            quantity=fmt(ad.qty_minor), remaining=fmt(ad.remaining_minor),
            min_quantity=fmt(ad.min_qty_minor), max_quantity=fmt(ad.max_qty_minor),
            payment_methods=[pv.PaymentMethodRef(method_id=m[0], name=m[1])
                             for m in ad.methods],
            payment_window_seconds=ad.payment_window_s, terms=ad.terms,
            created_at=pv.iso_or_none(ad.created_ns), updated_at=None,
            paused_by_admin=self.reads.p2p_paused_by_admin(ad.ad_id))

    def role(self, trade: Any, viewer_id: int, is_admin: bool) -> str | None:
        """The viewer's role in ``trade``: buyer, seller, admin, or None (not theirs)."""
        if viewer_id == trade.buyer_id:
            return "buyer"
        if viewer_id == trade.seller_id:
            return "seller"
        return "admin" if is_admin else None

    def allowed(self, trade: Any, role: str, viewer_id: int, now: int) -> list[pv.Action]:
        """What ``viewer_id`` (as ``role``) may do in the trade's state now. A deadline
        that has passed fires before the next command: a pending trade past ``pay_by``
        is as good as expired, a paid one past ``escalate_at`` as good as disputed."""
        state = pv.TRADE_STATES[trade.state]
        if state == "pending_payment" and now >= trade.pay_by_ns:
            return []
        if state == "paid" and trade.escalate_at_ns and now >= trade.escalate_at_ns:
            state = "disputed"
        found: list[pv.Action] = []
        if role == "buyer":
            if state == "pending_payment":
                found += ["paid", "cancel"]
            elif state == "paid":
                found.append("cancel")
                if now >= trade.appeal_after_ns:
                    found.append("dispute")
        elif role == "seller":
            if state == "paid":
                found.append("release")
                if now >= trade.appeal_after_ns:
                    found.append("dispute")
            elif state == "disputed":
                found.append("release")
        if state == "disputed" and role in ("buyer", "seller") and (
                trade.dispute_opener == viewer_id and trade.state == 3):
            found.append("withdraw-dispute")
        if role == "admin" and trade.state == 3:
            proposal = trade.proposal
            if proposal is None or proposal[0] != viewer_id:
                found.append("resolve")
        return found

    def trade_view(self, trade: Any, viewer_id: int, is_admin: bool = False,
                   now: int | None = None, fee_minor: int | None = None) -> pv.P2PTrade:
        """``trade`` as ``viewer_id`` sees it; raises 404 for a trade that is not theirs
        (and an administrator who is neither party sees it only once disputed)."""
        return pv.P2PTrade(**self._trade_fields(trade, viewer_id, is_admin, now, fee_minor))

    def _trade_fields(self, trade: Any, viewer_id: int, is_admin: bool, now: int | None,
                      fee_minor: int | None) -> dict[str, Any]:
        role = self.role(trade, viewer_id, is_admin)
        if role is None:
            raise p2p_error(Code.UNKNOWN_P2P_TRADE, code_message(Code.UNKNOWN_P2P_TRADE))
        now = now if now is not None else self.reads.now_ns()
        state = pv.TRADE_STATES[trade.state]
        party = role in ("buyer", "seller")
        in_dispute = state in ("disputed", "resolved_release", "resolved_refund")
        fee: str | None = None
        if state in ("completed", "resolved_release"):
            if fee_minor is None:
                fee_minor = trade.qty_minor * self.markets.p2p.fee_bps // 10_000
            fee = self.fmt_asset(trade.asset, fee_minor)
        pay_by, appeal_after, escalate_at = trade.deadlines()
        dispute: pv.DisputeInfo | None = None
        if in_dispute:
            proposal = trade.proposal
            dispute = pv.DisputeInfo(
                opened_by=trade.dispute_opener or None, reason=None, text=None,
                opened_at=None,
                proposed_outcome=("release" if proposal[1] == DisputeOutcome.RELEASE
                                  else "refund") if proposal else None,
                proposed_by=proposal[0] if proposal else None,
                resolution_note=proposal[2] if proposal else None)
        return dict(
            trade_id=trade.trade_id, ad_id=trade.ad_id, state=state,
            ad_side="sell" if trade.from_sell_ad else "buy", asset=trade.asset,
            fiat=trade.fiat, maker_id=trade.maker_id, buyer_id=trade.buyer_id,
            seller_id=trade.seller_id, quantity=self.fmt_asset(trade.asset, trade.qty_minor),
            price=self.fmt_fiat(trade.fiat, trade.price_minor),
            fiat_amount=self.fmt_fiat(trade.fiat, trade.fiat_amount_minor), fee=fee,
            payment_method=pv.TradePayment(
                method_id=trade.method_id, name=trade.method_name,
                details=trade.method_details if party or in_dispute else None),
            pay_by=pv.iso_or_none(pay_by), appeal_after=pv.iso_or_none(appeal_after),
            escalate_at=pv.iso_or_none(escalate_at),
            created_at=pv.iso_or_none(trade.opened_ns),
            updated_at=pv.iso_or_none(trade.closed_ns or trade.paid_ns or trade.opened_ns),
            dispute=dispute, now=pv.iso(now), my_role=role,
            allowed_actions=self.allowed(trade, role, viewer_id, now))

    def visible_trade(self, trade_id: int, viewer_id: int, is_admin: bool) -> Any:
        """The live trade if the viewer may see it: a party, or an administrator once it
        has been disputed; else 404 (as if it did not exist)."""
        trade = self.reads.p2p_trade(trade_id)
        if trade is None or (viewer_id not in (trade.buyer_id, trade.seller_id) and not (
                is_admin and trade.state in (3, 7, 8))):
            raise p2p_error(Code.UNKNOWN_P2P_TRADE, code_message(Code.UNKNOWN_P2P_TRADE))
        return trade

    # -- commands --------------------------------------------------------------------

    async def _run(self, command: Any) -> list[Event]:
        """Submit ``command``; its events, or its refusal raised. A repeated key is
        returned as ``[P2PRepeated]`` when the first answer was a success."""
        return (await self._result(command)).events

    async def _result(self, command: Any) -> Result:
        """``_run`` with the command's sequence number and time."""
        result = await self.exchange.submit(command)
        for ev in result.events:
            t = type(ev)
            if t is P2PRejected:
                assert isinstance(ev, P2PRejected)
                raise self._refusal(ev.code, ev.message, ev.state, ev.command)
            if t is P2PRepeated:
                assert isinstance(ev, P2PRepeated)
                if ev.code:
                    target = self._current_state(ev.command, ev.target_id)
                    raise self._refusal(ev.code, code_message(ev.code), target, ev.command)
                return Result(result.seq, result.ts_ns, [ev])
            if t is CommandRejected:
                assert isinstance(ev, CommandRejected)
                raise p2p_error(ev.code, ev.message)
        return result

    def _current_state(self, command: str, target_id: int) -> int:
        if command in ("PostAd", "PauseAd", "ResumeAd", "CancelAd"):
            ad = self.reads.p2p_ad(target_id)
            return int(ad.state) if ad is not None else 0
        trade = self.reads.p2p_trade(target_id)
        return int(trade.state) if trade is not None else 0

    @staticmethod
    def _refusal(code: int, text: str, state: int, command: str) -> ApiError:
        word: str | None = None
        if code == Code.STATE_MISMATCH and state:
            names = pv.AD_STATES if command in ("PauseAd", "ResumeAd", "CancelAd") else (
                pv.TRADE_STATES)
            word = names.get(state)
            if word:
                text = f"{text} The {'ad' if names is pv.AD_STATES else 'trade'} is {word}."
        return p2p_error(code, text, word)

    # payment methods

    async def add_method(self, user_id: int, name: str, details: str) -> pv.PaymentMethod:
        events = await self._run(AddPaymentMethod(user_id, name, details))
        added = next(e for e in events if type(e) is PaymentMethodAdded)
        assert isinstance(added, PaymentMethodAdded)
        return pv.PaymentMethod(method_id=added.method_id, name=added.name,
                                details=added.details)

    async def remove_method(self, user_id: int, method_id: int) -> None:
        await self._run(RemovePaymentMethod(user_id, method_id))

    def methods(self, user_id: int) -> list[pv.PaymentMethod]:
        return [self.method_view(m) for m in self.reads.p2p_methods(user_id)]

    # ads

    def ad_command(self, user_id: int, body: NewAd) -> PostAd:
        asset = body.asset.upper()
        fiat = body.fiat.upper()
        if asset not in self.markets.assets:
            raise ApiError(Code.UNKNOWN_ASSET, f"Unknown asset {body.asset!r}.")
        self.fiat_decimals(fiat)
        if (body.price is None) == (body.price_margin_bps is None):
            raise p2p_error(Code.INVALID_AD, "Give either a price or a price_margin_bps with "
                                             "its price_symbol.")
        price = self.fiat_minor(fiat, body.price, "price") if body.price is not None else 0
        symbol = ""
        if body.price_margin_bps is not None:
            try:
                symbol = self.markets.symbol(body.price_symbol or f"{asset}-{fiat}").name
            except KeyError:
                raise p2p_error(Code.INVALID_PRICE_SOURCE,
                                f"No symbol {body.price_symbol or asset + '-' + fiat} "
                                f"to take a margin price from.") from None
        qty = self.asset_minor(asset, body.quantity, "quantity")
        smallest = 1  # without min_quantity: the least worth one fiat minor unit
        if price:
            smallest = -(-10 ** self.markets.assets[asset].decimals // price)
        low = self.asset_minor(asset, body.min_quantity, "min_quantity") if (
            body.min_quantity) else min(qty, smallest)
        high = self.asset_minor(asset, body.max_quantity, "max_quantity") if (
            body.max_quantity) else qty
        return PostAd(user_id, pv.P2P_SIDE_CODES[body.side], asset, fiat, price,
                      body.price_margin_bps or 0, symbol, qty, low, high,
                      tuple(body.payment_method_ids), body.payment_window_seconds, body.terms)

    async def post_ad(self, command: PostAd) -> pv.P2PAd:
        events = await self._run(command)
        # the first AdPosted: deadlines that fired before the command lead the events
        ad_id = next(e.ad_id if isinstance(e, AdPosted) else e.target_id
                     for e in events if isinstance(e, (AdPosted, P2PRepeated)))
        return self.ad_view(self.reads.p2p_ad(ad_id))

    def ad(self, ad_id: int) -> pv.P2PAd:
        ad = self.reads.p2p_ad(ad_id)
        if ad is None:
            raise p2p_error(Code.UNKNOWN_AD, code_message(Code.UNKNOWN_AD))
        return self.ad_view(ad)

    def board(self, side: str | None, asset: str | None, fiat: str | None,
              maker_id: int | None = None, states: frozenset[int] = frozenset({1}),
              limit: int = 100) -> list[pv.P2PAd]:
        """Ads by filters: the public board (open ads, best price first: the lowest
        price of sell ads, the highest of buy ads, then the oldest), or a maker's."""
        side_code = pv.P2P_SIDE_CODES.get(side) if side else None
        asset = asset.upper() if asset else None
        fiat = fiat.upper() if fiat else None
        found = [ad for ad in self.reads.p2p_ads()
                 if ad.state in states and (side_code is None or ad.side == side_code)
                 and (asset is None or ad.asset == asset) and (fiat is None or ad.fiat == fiat)
                 and (maker_id is None or ad.user_id == maker_id)]
        views = [self.ad_view(ad) for ad in found]
        if maker_id is None:
            def key(v: pv.P2PAd) -> tuple[int, Decimal, int]:
                price = Decimal(v.price) if v.price is not None else Decimal(10**30)
                return (0 if v.price is not None else 1,
                        price if v.side == "sell" else -price, v.ad_id)
            views.sort(key=key)
        else:
            views.reverse()  # a maker's newest first
        return views[:limit]

    async def ad_action(self, user_id: int, ad_id: int, action: str, *, admin: bool = False,
                        reason: str = "") -> pv.P2PAd:
        """``pause``, ``resume`` or ``cancel`` by its maker, or (``admin``) by an
        administrator ``user_id`` (moderation: a pause or a removal carries ``reason``)."""
        command: Any
        if admin:
            ad = self.reads.p2p_ad(ad_id)
            if ad is None:
                raise p2p_error(Code.UNKNOWN_AD, code_message(Code.UNKNOWN_AD))
            if action == "pause":
                command = PauseAd(ad.user_id, ad_id, admin_id=user_id, reason=reason)
            elif action == "resume":
                command = ResumeAd(ad.user_id, ad_id, admin_id=user_id)
            else:
                command = CancelAd(ad.user_id, ad_id, admin_id=user_id, reason=reason)
        elif action == "pause":
            command = PauseAd(user_id, ad_id)
        elif action == "resume":
            command = ResumeAd(user_id, ad_id)
        else:
            command = CancelAd(user_id, ad_id, reason=reason or "cancelled by the maker")
        await self._run(command)
        return self.ad(ad_id)

    # trades

    async def take(self, user_id: int, ad_id: int, quantity: str, method_id: int | None,
                   key: str) -> pv.P2PTrade:
        ad = self.reads.p2p_ad(ad_id)
        if ad is None:
            raise p2p_error(Code.UNKNOWN_AD, code_message(Code.UNKNOWN_AD))
        qty = self.asset_minor(ad.asset, quantity, "quantity")
        events = await self._run(TakeAd(user_id, ad_id, qty, method_id or 0, key))
        # the trade this take opened (or, repeated, the first take's), never one whose
        # deadline fired before the command
        trade_id = next(e.trade_id if isinstance(e, P2PTradeOpened) else e.target_id
                        for e in events if isinstance(e, (P2PTradeOpened, P2PRepeated)))
        return self.trade_view(self.reads.p2p_trade(trade_id), user_id)

    async def act(self, user_id: int, trade_id: int, action: str, expected: str, key: str,
                  *, confirm: bool = False, reason: str = "", text: str = "") -> pv.P2PTrade:
        """``paid``, ``release``, ``cancel``, ``dispute`` or ``withdraw-dispute``."""
        state = pv.TRADE_STATE_CODES[expected]
        command: Any
        if action == "paid":
            command = MarkPaid(user_id, trade_id, state, key)
        elif action == "release":
            command = ReleaseEscrow(user_id, trade_id, state, key)
        elif action == "cancel":
            command = CancelTrade(user_id, trade_id, state, confirm, key)
        elif action == "dispute":
            command = OpenDispute(user_id, trade_id, state, reason, text, key)
        elif action == "withdraw-dispute":
            command = WithdrawDispute(user_id, trade_id, state, key)
        else:
            raise ApiError(ApiCode.NOT_FOUND, f"Unknown action {action!r}.")
        events = await self._run(command)
        fee = next((e.fee_minor for e in events
                    if type(e) is P2PTradeChanged and e.trade_id == trade_id), None)
        trade = self.reads.p2p_trade(trade_id)
        return self.trade_view(trade, user_id, fee_minor=fee)

    async def resolve(self, admin_id: int, trade_id: int, outcome: str, note: str,
                      key: str) -> pv.P2PTrade:
        code = DisputeOutcome.RELEASE if outcome == "release" else DisputeOutcome.REFUND
        trade = self.reads.p2p_trade(trade_id)
        if trade is None:
            raise p2p_error(Code.UNKNOWN_P2P_TRADE, code_message(Code.UNKNOWN_P2P_TRADE))
        await self._run(ResolveDispute(admin_id, trade_id, int(code), note,
                                       idempotency_key=key))
        return self.trade_view(self.reads.p2p_trade(trade_id), admin_id, is_admin=True)

    def trades(self, user_id: int, state: str | None, limit: int) -> list[pv.P2PTrade]:
        """``user_id``'s trades, newest first (``state``: one state, ``live`` or
        ``finished``)."""
        now = self.reads.now_ns()
        found = []
        for trade in reversed(self.reads.p2p_trades()):
            if user_id != trade.buyer_id and user_id != trade.seller_id:
                continue
            name = pv.TRADE_STATES[trade.state]
            if (state == "live" and name not in pv.LIVE) or (state == "finished" and (
                    name not in pv.TERMINAL)) or (state not in (None, "live", "finished") and (
                    name != state)):
                continue
            found.append(self.trade_view(trade, user_id, now=now))
            if len(found) >= limit:
                break
        return found

    def disputes(self, admin_id: int, limit: int) -> list[Any]:
        """Disputed trades, oldest dispute first (the live desk)."""
        found = [t for t in self.reads.p2p_trades() if t.state == 3]
        return found[:limit]

    async def post_message(self, user_id: int, trade_id: int, text: str,
                           admin: bool) -> pv.P2PMessage:
        result = await self._result(PostTradeMessage(user_id, trade_id, text, admin))
        posted = next(e for e in result.events if type(e) is TradeMessagePosted)
        assert isinstance(posted, TradeMessagePosted)
        trade = self.reads.p2p_trade(trade_id)
        author = "admin" if admin else ("buyer" if user_id == trade.buyer_id else "seller")
        return pv.P2PMessage(seq=result.seq, message_id=posted.message_id, trade_id=trade_id,
                             user_id=user_id, author=author,  # type: ignore[arg-type]
                             text=posted.text, at=pv.iso(result.ts_ns))

    async def feedback(self, user_id: int, trade_id: int, positive: bool,
                       comment: str) -> pv.P2PFeedback:
        result = await self._result(LeaveFeedback(user_id, trade_id, positive, comment))
        left = next(e for e in result.events if type(e) is FeedbackLeft)
        assert isinstance(left, FeedbackLeft)
        return pv.P2PFeedback(trade_id=left.trade_id, from_user_id=left.from_user_id,
                              to_user_id=left.to_user_id, positive=left.positive,
                              comment=left.comment, at=pv.iso(result.ts_ns))


def _minor(text: str, decimals: int, field: str, code: int) -> int:
    """A positive decimal string as an integer of ``10**-decimals``; raises ``ApiError``
    when it has more decimals than that, or is not positive."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ApiError(code, f"{field}: not a decimal number.") from None
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value(ROUND_HALF_UP):
        raise ApiError(code, f"{field}: at most {decimals} decimals.")
    minor = int(scaled)
    if minor <= 0:
        raise ApiError(code, f"{field} must be positive.")
    if minor >= 2**63:
        raise ApiError(code, f"{field} is too large.")
    return minor
