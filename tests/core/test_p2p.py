"""The P2P desk, row by row of P2P.md's transition table, then every refusal.

Each scenario runs on an engine whose invariants (``Engine._check``, which includes the
desk's: conservation with escrow, escrow = open sell ads + live trades, ...) are
asserted after every command.
"""

from __future__ import annotations

import msgspec
import pytest
from helpers import MARKETS, Market, events_of_type, names, one
from p2p_helpers import (
    CONFIG,
    FEE_BPS,
    Desk,
    assert_refused,
    fiat,
    minor,
)

from matchbook.config import read_config
from matchbook.core import (
    AdjustBalance,
    ConfigError,
    CreateAddress,
    OrderType,
    PlaceOrder,
    ReinstateUser,
    RequestWithdrawal,
    Side,
    SuspendUser,
    Transfer,
    load_markets,
)
from matchbook.core.codes import Code
from matchbook.core.commands import (
    AddPaymentMethod,
    AdState,
    CancelAd,
    CancelTrade,
    DisputeOutcome,
    LeaveFeedback,
    MarkPaid,
    OpenDispute,
    P2PSide,
    PauseAd,
    PostAd,
    PostTradeMessage,
    RecordOutage,
    ReleaseEscrow,
    RemovePaymentMethod,
    ResolveDispute,
    ResumeAd,
    TakeAd,
    TradeState,
    WithdrawDispute,
)
from matchbook.core.events import (
    AdChanged,
    AddressCreated,
    CommandRejected,
    DisputeResolutionProposed,
    FeedbackLeft,
    OrderRejected,
    P2PRepeated,
    P2PTradeChanged,
    P2PTradeOpened,
    P2PUserBanned,
    PaymentMethodAdded,
    PaymentMethodRemoved,
    TradeMessagePosted,
)
from matchbook.core.ledger import entries
from matchbook.core.p2p import DISPUTED, PAID, PENDING, S
from matchbook.core.symbols import P2PConfig
from matchbook.journal.codec import decode_command, encode_command

BTC_TOTAL = minor("1000")  # what Desk funds each user with


def changed(events: list[object]) -> P2PTradeChanged:
    return one(events, P2PTradeChanged)  # type: ignore[arg-type]


# =====================================================================================
# ads and escrow
# =====================================================================================


def test_a_sell_ad_puts_its_whole_quantity_in_escrow() -> None:
    desk = Desk()
    ad_id = desk.post(1, qty="2")
    assert desk.free(1) == BTC_TOTAL - minor("2")
    assert desk.escrow() == minor("2")
    assert desk.engine.escrow_of(1) == {"BTC": minor("2")}
    assert desk.ad(ad_id).state == AdState.OPEN


def test_a_buy_ad_escrows_nothing_until_taken() -> None:
    desk = Desk()
    desk.post(1, P2PSide.BUY, qty="2")
    assert desk.escrow() == 0 and desk.free(1) == BTC_TOTAL


def test_cancelling_a_sell_ad_returns_only_what_no_live_trade_holds() -> None:
    desk = Desk()
    ad_id = desk.post(1, qty="1")
    tid = desk.take(2, ad_id, "0.3")
    events = desk.apply(CancelAd(1, ad_id))
    change = one(events, AdChanged)
    assert (change.state, change.escrow_returned_minor) == (AdState.CANCELLED, minor("0.7"))
    assert desk.free(1) == BTC_TOTAL - minor("0.3")
    assert desk.escrow() == minor("0.3")  # the trade still holds its part
    # the trade, cancelled later, pays the seller directly: the ad is gone
    change2 = changed(desk.apply(CancelTrade(2, tid, PENDING)))
    assert (change2.to_seller_minor, change2.to_ad_minor) == (minor("0.3"), 0)
    assert desk.free(1) == BTC_TOTAL and desk.escrow() == 0


def test_pause_and_resume_an_ad() -> None:
    desk = Desk()
    ad_id = desk.post(1)
    assert one(desk.apply(PauseAd(1, ad_id)), AdChanged).state == AdState.PAUSED
    assert_refused(desk.apply_unchanged(TakeAd(2, ad_id, minor("0.1"), 0)), Code.AD_NOT_OPEN,
                   AdState.PAUSED)
    assert one(desk.apply(ResumeAd(1, ad_id)), AdChanged).state == AdState.OPEN
    desk.take(2, ad_id)


def test_an_ad_taken_to_nothing_closes_and_reopens_when_a_trade_is_cancelled() -> None:
    desk = Desk()
    ad_id = desk.post(1, qty="0.5")
    events = desk.apply(TakeAd(2, ad_id, minor("0.5"), 0))
    assert names(events) == ["P2PTradeOpened", "AdChanged"]
    assert desk.ad(ad_id).state == AdState.CLOSED
    tid = one(events, P2PTradeOpened).trade_id
    events = desk.apply(CancelTrade(2, tid, PENDING))
    assert changed(events).to_ad_minor == minor("0.5")
    assert desk.ad(ad_id).state == AdState.OPEN and desk.ad(ad_id).remaining_minor == minor("0.5")
    assert desk.escrow() == minor("0.5")


def test_an_admin_removes_any_ad() -> None:
    desk = Desk()
    ad_id = desk.post(1)
    change = one(desk.apply(CancelAd(0, ad_id, admin_id=99, reason="scam")), AdChanged)
    assert (change.actor_id, change.reason, change.state) == (99, "scam", AdState.CANCELLED)
    assert desk.escrow() == 0


def test_an_admin_pauses_any_ad_with_a_reason_and_only_an_admin_resumes_it() -> None:
    desk = Desk()
    ad_id = desk.post(1)
    change = one(desk.apply(PauseAd(1, ad_id, admin_id=99, reason="suspicious terms")),
                 AdChanged)
    assert (change.actor_id, change.reason, change.state) == (99, "suspicious terms",
                                                              AdState.PAUSED)
    assert desk.engine.p2p.admin_paused == {ad_id: (99, False)}
    assert_refused(desk.apply_unchanged(TakeAd(2, ad_id, minor("0.1"), 0)), Code.AD_NOT_OPEN)
    # its maker can neither resume it nor pause it again; they may still cancel it
    assert_refused(desk.apply_unchanged(ResumeAd(1, ad_id)), Code.AD_PAUSED_BY_ADMIN,
                   AdState.PAUSED)
    assert_refused(desk.apply_unchanged(PauseAd(1, ad_id)), Code.AD_NOT_OPEN)
    assert_refused(desk.apply_unchanged(PauseAd(1, ad_id, admin_id=98, reason="again")),
                   Code.AD_NOT_OPEN)  # one admin pause at a time
    change = one(desk.apply(ResumeAd(1, ad_id, admin_id=98)), AdChanged)  # any admin
    assert (change.actor_id, change.state) == (98, AdState.OPEN)
    assert not desk.engine.p2p.admin_paused
    desk.take(2, ad_id)
    assert desk.escrow() == minor("1")  # moderation moved no money


def test_an_admin_pause_over_the_makers_pause_leaves_it_paused_when_lifted() -> None:
    desk = Desk()
    ad_id = desk.post(1)
    desk.apply(PauseAd(1, ad_id))
    desk.apply(PauseAd(0, ad_id, admin_id=99, reason="review"))
    assert_refused(desk.apply_unchanged(ResumeAd(1, ad_id)), Code.AD_PAUSED_BY_ADMIN)
    change = one(desk.apply(ResumeAd(0, ad_id, admin_id=99)), AdChanged)
    assert change.state == AdState.PAUSED  # the maker's own pause is theirs to lift
    assert one(desk.apply(ResumeAd(1, ad_id)), AdChanged).state == AdState.OPEN


def test_an_admin_paused_ad_takes_back_a_cancelled_trade_and_stays_paused() -> None:
    desk = Desk()
    ad_id = desk.post(1, qty="0.5")
    tid = desk.take(2, ad_id, "0.2")
    desk.apply(PauseAd(0, ad_id, admin_id=99, reason="review"))
    desk.apply(CancelTrade(2, tid, PENDING))  # the trade in flight went on, and ended
    assert desk.ad(ad_id).state == AdState.PAUSED
    assert desk.ad(ad_id).remaining_minor == minor("0.5")
    # the maker cancels it: their escrow comes back and the admin's pause is gone
    returned = one(desk.apply(CancelAd(1, ad_id)), AdChanged).escrow_returned_minor
    assert returned == minor("0.5") and not desk.engine.p2p.admin_paused
    assert desk.free(1) == BTC_TOTAL


def test_an_admin_pause_survives_a_snapshot_and_leaves_earlier_hashes_alone() -> None:
    desk = Desk()
    ad_id = desk.post(1)
    before = desk.engine.snapshot()["p2p"]
    assert "admin_paused" not in before  # what an earlier build wrote hashes the same
    desk.apply(PauseAd(0, ad_id, admin_id=99, reason="review"))
    restored = type(desk.engine).restore(MARKETS, desk.engine.snapshot())
    assert restored.p2p.admin_paused == {ad_id: (99, False)}
    assert restored.state_hash() == desk.engine.state_hash()
    desk.apply(ResumeAd(0, ad_id, admin_id=99))
    assert "admin_paused" not in desk.engine.snapshot()["p2p"]


def test_suspending_a_user_cancels_their_ads_and_lets_their_trades_finish() -> None:
    desk = Desk()
    sell = desk.post(1, qty="1")
    buy = desk.post(1, P2PSide.BUY, qty="1")
    paused = desk.post(1, qty="0.5")
    desk.apply(PauseAd(0, paused, admin_id=99, reason="review"))
    closed = desk.post(1, qty="0.2")
    on_sell = desk.take(2, sell, "0.3")  # 1 sells: 0.3 in the trade's escrow
    on_closed = desk.take(3, closed, "0.2")
    desk.method(3)
    on_buy = desk.take(3, buy, "0.1")  # 1 buys: 3's 0.1 in escrow
    others = desk.post(2, qty="0.4")
    desk.apply(MarkPaid(2, on_sell, PENDING))
    events = desk.apply(SuspendUser(1, end_p2p_ads=True))
    ended = events_of_type(events, AdChanged)
    assert [(e.ad_id, e.state, e.actor_id, e.reason) for e in ended] == [
        (ad, AdState.CANCELLED, 0, "user suspended") for ad in (sell, buy, paused, closed)]
    assert [e.escrow_returned_minor for e in ended] == [minor("0.7"), 0, minor("0.5"), 0]
    assert desk.ad(others).state == AdState.OPEN  # nobody else's
    assert not desk.engine.p2p.admin_paused
    # every ad of theirs is untakeable; what was in their ads' escrow is theirs again
    for ad in (sell, buy, paused, closed):
        assert_refused(desk.apply_unchanged(TakeAd(4, ad, minor("0.1"), 0)), Code.AD_NOT_OPEN)
    assert desk.free(1) == BTC_TOTAL - minor("0.5")
    # the trades in flight run to their end: the counterparties' money is in them
    assert changed(desk.apply(ReleaseEscrow(1, on_sell, PAID))).to_state == TradeState.COMPLETED
    desk.apply(CancelTrade(3, on_closed, PENDING))  # back to the seller: the ad is gone
    assert desk.ad(closed).state == AdState.CANCELLED
    assert desk.free(1) == BTC_TOTAL - minor("0.3")
    desk.apply(MarkPaid(1, on_buy, PENDING))
    assert changed(desk.apply(ReleaseEscrow(3, on_buy, PAID))).to_state == TradeState.COMPLETED


def test_reinstating_a_user_reopens_none_of_their_cancelled_ads() -> None:
    desk = Desk()
    ad_id = desk.post(1)
    desk.apply(SuspendUser(1, end_p2p_ads=True))
    assert_refused(desk.apply_unchanged(_post(1, payment_method_ids=(1,))),
                   Code.USER_SUSPENDED)
    desk.apply(ReinstateUser(1))
    assert desk.ad(ad_id).state == AdState.CANCELLED
    assert_refused(desk.apply_unchanged(ResumeAd(1, ad_id)), Code.AD_NOT_OPEN)
    desk.post(1, methods=(1,))  # they may post again


def test_suspending_a_user_without_p2p_business_changes_no_p2p_state() -> None:
    desk = Desk()
    desk.post(1)
    p2p_before = desk.engine.snapshot()["p2p"]
    assert not events_of_type(desk.apply(SuspendUser(2, end_p2p_ads=True)), AdChanged)
    assert desk.engine.snapshot()["p2p"] == p2p_before


def test_a_suspension_journaled_before_it_ended_ads_replays_as_it_did() -> None:
    desk = Desk()
    ad_id = desk.post(1)
    old = decode_command(msgspec.msgpack.encode(["SuspendUser", 1]))  # as journaled then
    assert old == SuspendUser(1) and isinstance(old, SuspendUser) and not old.end_p2p_ads
    assert decode_command(encode_command(SuspendUser(1, True))) == SuspendUser(1, True)
    assert names(desk.apply(old)) == ["UserSuspended"]
    assert desk.ad(ad_id).state == AdState.OPEN


def test_a_removed_payment_method_stays_on_the_ad_that_copied_it() -> None:
    desk = Desk()
    mid = desk.method(1, "Revolut", "@alice")
    ad_id = desk.post(1, methods=(mid,))
    one(desk.apply(RemovePaymentMethod(1, mid)), PaymentMethodRemoved)
    opened = one(desk.apply(TakeAd(2, ad_id, minor("0.1"), 0)), P2PTradeOpened)
    assert (opened.payment_method_name, opened.payment_details) == ("Revolut", "@alice")


# =====================================================================================
# the transition table, row by row
# =====================================================================================


def test_row_take_a_sell_ad_moves_the_ads_escrow_to_the_trade() -> None:
    desk = Desk()
    ad_id = desk.post(1, qty="1", price="50000.00", window_s=600)
    before = desk.escrow()
    events = desk.apply(TakeAd(2, ad_id, minor("0.25"), 0))
    opened = one(events, P2PTradeOpened)
    assert (opened.buyer_id, opened.seller_id, opened.qty_minor) == (2, 1, minor("0.25"))
    assert opened.fiat_amount_minor == fiat("12500.00")
    assert opened.pay_by_ns == desk.ts_ns + 600 * S
    assert opened.escrow_from_seller_minor == 0 and desk.escrow() == before
    assert opened.ad_remaining_minor == minor("0.75") == desk.ad(ad_id).remaining_minor
    assert desk.trade(opened.trade_id).state == PENDING


def test_row_take_a_buy_ad_moves_the_sellers_free_balance_to_escrow() -> None:
    desk = Desk()
    ad_id = desk.post(1, P2PSide.BUY, qty="1")
    desk.method(2)  # the seller's SEPA account, which the buyer pays to
    opened = one(desk.apply(TakeAd(2, ad_id, minor("0.4"), 0)), P2PTradeOpened)
    assert (opened.buyer_id, opened.seller_id) == (1, 2)
    assert opened.escrow_from_seller_minor == minor("0.4") == desk.escrow()
    assert desk.free(2) == BTC_TOTAL - minor("0.4")
    assert desk.engine.escrow_of(2) == {"BTC": minor("0.4")}


def test_row_mark_paid_by_the_buyer_before_pay_by() -> None:
    desk = Desk()
    tid = desk.pending()
    change = changed(desk.apply(MarkPaid(2, tid, PENDING)))
    assert (change.from_state, change.to_state, change.actor_id) == (PENDING, PAID, 2)
    assert change.appeal_after_ns == desk.ts_ns + CONFIG.appeal_after_s * S
    assert change.escalate_at_ns == desk.ts_ns + CONFIG.escalate_after_s * S
    assert change.to_buyer_minor == change.to_seller_minor == change.fee_minor == 0


def test_row_cancel_pending_by_the_buyer_returns_the_quantity_to_the_sell_ad() -> None:
    desk = Desk()
    ad_id = desk.post(1, qty="1")
    tid = desk.take(2, ad_id, "0.3")
    events = desk.apply(CancelTrade(2, tid, PENDING))
    change = changed(events)
    assert (change.to_state, change.to_ad_minor, change.to_seller_minor) == (
        TradeState.CANCELLED, minor("0.3"), 0)
    assert one(events, AdChanged).remaining_minor == minor("1")
    assert desk.escrow() == minor("1")


def test_row_cancel_pending_on_a_buy_ad_returns_the_escrow_to_the_seller() -> None:
    desk = Desk()
    ad_id = desk.post(1, P2PSide.BUY, qty="1")
    desk.method(2)
    tid = desk.take(2, ad_id, "0.3")
    change = changed(desk.apply(CancelTrade(1, tid, PENDING)))
    assert change.to_seller_minor == minor("0.3")
    assert desk.free(2) == BTC_TOTAL and desk.escrow() == 0
    assert desk.ad(ad_id).remaining_minor == minor("1")


def test_row_pay_by_passes_the_trade_expires_and_counts_against_the_buyer() -> None:
    desk = Desk()
    tid = desk.pending(window_s=300)
    pay_by = desk.trade(tid).pay_by_ns
    assert not desk.advance(pay_by - 1)  # not yet
    events = desk.advance(pay_by)
    change = changed(events)
    assert (change.to_state, change.actor_id, change.to_ad_minor) == (
        TradeState.EXPIRED, 0, minor("0.1"))
    assert desk.engine.p2p.strikes[2] == [pay_by]


def test_row_release_from_paid_pays_the_buyer_less_the_fee() -> None:
    desk = Desk()
    tid = desk.paid("0.5")
    escrow = desk.escrow()
    change = changed(desk.apply(ReleaseEscrow(1, tid, PAID)))
    fee = minor("0.5") * FEE_BPS // 10_000
    assert fee > 0
    assert (change.to_state, change.to_buyer_minor, change.fee_minor) == (
        TradeState.COMPLETED, minor("0.5") - fee, fee)
    assert desk.free(2) == BTC_TOTAL + minor("0.5") - fee
    assert desk.engine.fee_balances["BTC"] == fee
    assert desk.escrow() == escrow - minor("0.5")


def test_row_cancel_after_paid_needs_the_explicit_confirmation() -> None:
    desk = Desk()
    tid = desk.paid()
    assert_refused(desk.apply_unchanged(CancelTrade(2, tid, PAID)), Code.CONFIRM_REQUIRED, PAID)
    change = changed(desk.apply(CancelTrade(2, tid, PAID, confirm=True)))
    assert (change.to_state, change.to_ad_minor) == (TradeState.CANCELLED, minor("0.1"))


@pytest.mark.parametrize("by", [1, 2], ids=["seller", "buyer"])
def test_row_open_dispute_after_the_appeal_delay(by: int) -> None:
    desk = Desk()
    tid = desk.paid()
    desk.advance(desk.trade(tid).appeal_after_ns)
    escrow = desk.escrow()
    change = changed(desk.apply(OpenDispute(by, tid, PAID, "other", "see chat")))
    assert (change.to_state, change.actor_id) == (DISPUTED, by)
    assert desk.escrow() == escrow  # frozen, nothing moved


def test_row_escalate_at_passes_a_paid_trade_becomes_a_dispute_without_moving_money() -> None:
    desk = Desk()
    tid = desk.paid()
    balances = (desk.free(1), desk.free(2), desk.escrow())
    change = changed(desk.advance(desk.trade(tid).escalate_at_ns))
    assert (change.to_state, change.actor_id) == (DISPUTED, 0)
    assert change.to_buyer_minor == change.to_seller_minor == change.to_ad_minor == 0
    assert (desk.free(1), desk.free(2), desk.escrow()) == balances


def test_row_release_from_disputed_by_the_seller() -> None:
    desk = Desk()
    tid = desk.disputed()
    change = changed(desk.apply(ReleaseEscrow(1, tid, DISPUTED)))
    assert change.to_state == TradeState.COMPLETED and change.to_buyer_minor > 0


def test_row_withdraw_dispute_by_whoever_opened_it() -> None:
    desk = Desk()
    tid = desk.disputed(by=1)
    assert_refused(desk.apply_unchanged(WithdrawDispute(2, tid, DISPUTED)),
                   Code.NOT_DISPUTE_OPENER, DISPUTED)
    change = changed(desk.apply(WithdrawDispute(1, tid, DISPUTED)))
    assert change.to_state == PAID


@pytest.mark.parametrize(("outcome", "state"), [
    (DisputeOutcome.RELEASE, TradeState.RESOLVED_RELEASE),
    (DisputeOutcome.REFUND, TradeState.RESOLVED_REFUND)], ids=["release", "refund"])
def test_row_resolve_by_an_admin_below_the_second_approval_amount(
        outcome: int, state: int) -> None:
    desk = Desk()
    tid = desk.disputed("0.5")
    change = changed(desk.apply(ResolveDispute(90, tid, outcome, "bank statement checked")))
    assert (change.to_state, change.actor_id) == (state, 90)
    if outcome == DisputeOutcome.RELEASE:
        assert change.to_buyer_minor + change.fee_minor == minor("0.5")
    else:
        assert change.to_seller_minor == minor("0.5") and change.to_ad_minor == 0
        assert desk.free(1) == BTC_TOTAL - minor("0.5")  # the rest of the ad is in escrow


def test_row_resolve_above_the_amount_needs_a_second_different_admin() -> None:
    desk = Desk()
    tid = desk.disputed("2", qty="5", max_qty="5")
    assert minor("2") > CONFIG.second_approval_minor["BTC"]
    release = DisputeOutcome.RELEASE
    proposed = one(desk.apply(ResolveDispute(90, tid, release, "paid")),
                   DisputeResolutionProposed)
    assert (proposed.admin_id, proposed.outcome) == (90, release)
    assert desk.trade(tid).state == DISPUTED
    assert_refused(desk.apply_unchanged(ResolveDispute(90, tid, release, "again")),
                   Code.SAME_ADMIN, DISPUTED)
    # a different outcome from another admin replaces the proposal, no money moves
    one(desk.apply(ResolveDispute(91, tid, DisputeOutcome.REFUND, "not paid")),
        DisputeResolutionProposed)
    assert desk.trade(tid).state == DISPUTED
    change = changed(desk.apply(ResolveDispute(90, tid, DisputeOutcome.REFUND, "agreed")))
    assert (change.to_state, change.to_seller_minor) == (TradeState.RESOLVED_REFUND, minor("2"))


# =====================================================================================
# prices, fees, feedback, chat
# =====================================================================================


def test_a_margin_price_is_the_books_mid_plus_the_margin_frozen_at_take() -> None:
    desk = Desk()
    desk.rest(3, 1, "0.1", "50000.00")  # bid
    desk.rest(4, 2, "0.1", "50001.01")  # ask: mid 50000.505
    ad_id = desk.post(1, price="", margin_bps=100, price_symbol="BTC-USD")
    opened = one(desk.apply(TakeAd(2, ad_id, minor("0.1"), 0)), P2PTradeOpened)
    # 50000.505 * 1.01 = 50500.51005 -> 50500.51 (half up)
    assert opened.price_minor == fiat("50500.51")
    assert opened.fiat_amount_minor == fiat("5050.05")  # 5050.051 -> 5050.05
    desk.place(3, 2, "0.1")  # the book moves on; the trade's price does not
    assert desk.trade(opened.trade_id).price_minor == fiat("50500.51")


def test_a_fiat_amount_rounds_half_up_to_the_cent() -> None:
    desk = Desk()
    ad_id = desk.post(1, price="0.05", min_qty="0.1")
    # 0.1 BTC at 0.05 USD = 0.005 USD -> 0.01
    assert one(desk.apply(TakeAd(2, ad_id, minor("0.1"), 0)),
               P2PTradeOpened).fiat_amount_minor == 1


def test_feedback_once_per_side_after_completion() -> None:
    desk = Desk()
    tid = desk.completed()
    left = one(desk.apply(LeaveFeedback(2, tid, True, "fast")), FeedbackLeft)
    assert (left.from_user_id, left.to_user_id, left.positive) == (2, 1, True)
    one(desk.apply(LeaveFeedback(1, tid, False)), FeedbackLeft)
    assert_refused(desk.apply_unchanged(LeaveFeedback(2, tid, True)), Code.FEEDBACK_NOT_ALLOWED)


def test_chat_by_both_sides_and_an_admin() -> None:
    desk = Desk()
    tid = desk.pending()
    first = one(desk.apply(PostTradeMessage(2, tid, "sent via SEPA\nref 42")),
                TradeMessagePosted)
    second = one(desk.apply(PostTradeMessage(77, tid, "admin here", admin=True)),
                 TradeMessagePosted)
    assert (first.message_id, second.message_id, second.admin) == (1, 2, True)
    assert_refused(desk.apply_unchanged(PostTradeMessage(3, tid, "hi")), Code.UNKNOWN_P2P_TRADE)


# =====================================================================================
# bans and idempotency
# =====================================================================================


def test_the_cancel_limit_bans_the_buyer_from_new_trades_for_a_while() -> None:
    desk = Desk()
    ad_id = desk.post(1, qty="10", max_qty="1")
    for _ in range(CONFIG.cancel_limit - 1):
        tid = desk.take(2, ad_id)
        assert not events_of_type(desk.apply(CancelTrade(2, tid, PENDING)), P2PUserBanned)
    tid = desk.take(2, ad_id)
    banned = one(desk.apply(CancelTrade(2, tid, PENDING)), P2PUserBanned)
    assert banned.until_ns == desk.ts_ns + CONFIG.ban_s * S
    assert_refused(desk.apply_unchanged(TakeAd(2, ad_id, minor("0.1"), 0)), Code.P2P_BANNED)
    desk.advance(banned.until_ns)
    desk.take(2, ad_id)  # the ban is over


def test_strikes_older_than_a_day_do_not_count() -> None:
    desk = Desk()
    ad_id = desk.post(1, qty="10", max_qty="1")
    for _ in range(CONFIG.cancel_limit - 1):
        desk.apply(CancelTrade(2, desk.take(2, ad_id), PENDING))
    desk.advance(desk.ts_ns + 86_400 * S)
    tid = desk.take(2, ad_id)
    assert not events_of_type(desk.apply(CancelTrade(2, tid, PENDING)), P2PUserBanned)


def test_the_same_idempotency_key_returns_the_first_answer_and_changes_nothing() -> None:
    desk = Desk()
    tid = desk.paid()
    first = desk.apply(ReleaseEscrow(1, tid, PAID, idempotency_key="k1"))
    assert changed(first).to_state == TradeState.COMPLETED
    again = desk.apply_unchanged(ReleaseEscrow(1, tid, PAID, idempotency_key="k1"))
    assert again == [P2PRepeated(1, "ReleaseEscrow", "k1", 0, tid)]
    # a new key is a new request: the trade is completed now (the refusal is remembered)
    refused = desk.apply(ReleaseEscrow(1, tid, PAID, idempotency_key="k2"))
    assert_refused(refused, Code.STATE_MISMATCH, TradeState.COMPLETED)
    assert desk.apply(ReleaseEscrow(1, tid, PAID, idempotency_key="k2")) == [
        P2PRepeated(1, "ReleaseEscrow", "k2", Code.STATE_MISMATCH, tid)]


def test_a_take_repeated_with_its_key_opens_one_trade() -> None:
    desk = Desk()
    ad_id = desk.post(1)
    opened = one(desk.apply(TakeAd(2, ad_id, minor("0.1"), 0, "take-1")), P2PTradeOpened)
    again = desk.apply(TakeAd(2, ad_id, minor("0.1"), 0, "take-1"))
    assert again == [P2PRepeated(2, "TakeAd", "take-1", 0, opened.trade_id)]
    assert len(desk.engine.p2p.trades) == 1


def test_idempotency_keys_are_forgotten_after_a_day() -> None:
    desk = Desk()
    ad_id = desk.post(1, qty="2", max_qty="1")
    desk.apply(TakeAd(2, ad_id, minor("0.1"), 0, "k"))
    desk.advance(desk.ts_ns + 86_400 * S)
    one(desk.apply(TakeAd(2, ad_id, minor("0.1"), 0, "k")), P2PTradeOpened)
    assert len(desk.engine.p2p.idempotency) == 1


# =====================================================================================
# terminal states absorb; escrow is never spendable
# =====================================================================================


TERMINAL_ACTIONS = [
    ("mark-paid", lambda tid, state: MarkPaid(2, tid, state)),
    ("release", lambda tid, state: ReleaseEscrow(1, tid, state)),
    ("cancel", lambda tid, state: CancelTrade(2, tid, state, confirm=True)),
    ("dispute", lambda tid, state: OpenDispute(2, tid, state, "r", "t")),
    ("withdraw-dispute", lambda tid, state: WithdrawDispute(2, tid, state)),
    ("resolve", lambda tid, state: ResolveDispute(90, tid, DisputeOutcome.REFUND, "n", state)),
]


@pytest.mark.parametrize("reach", ["completed", "cancelled", "expired", "resolved_release",
                                   "resolved_refund"])
@pytest.mark.parametrize(("action", "build"), TERMINAL_ACTIONS,
                         ids=[a for a, _ in TERMINAL_ACTIONS])
def test_terminal_states_absorb_every_action(reach: str, action: str, build: object) -> None:
    desk = Desk()
    if reach == "completed":
        tid = desk.completed()
    elif reach == "cancelled":
        tid = desk.cancelled()
    elif reach == "expired":
        tid = desk.pending()
        desk.advance(desk.trade(tid).pay_by_ns)
    else:
        tid = desk.disputed()
        outcome = DisputeOutcome.RELEASE if reach == "resolved_release" else DisputeOutcome.REFUND
        desk.apply(ResolveDispute(90, tid, outcome, "done"))
    state = desk.trade(tid).state
    assert state in (4, 5, 6, 7, 8)
    events = desk.apply_unchanged(build(tid, state))  # type: ignore[operator]
    code = Code.PAYMENT_WINDOW_PASSED if (reach, action) == ("expired", "mark-paid") else (
        Code.STATE_MISMATCH)
    assert_refused(events, code, state)


def test_escrow_is_never_spendable_by_an_order_a_withdrawal_or_a_transfer() -> None:
    market = Market()
    market.deposit(1, "BTC", "1")
    mid = one(market.apply(AddPaymentMethod(1, "SEPA", "x")), PaymentMethodAdded).method_id
    market.apply(PostAd(1, P2PSide.SELL, "BTC", "USD", fiat("50000.00"), 0, "", minor("1"),
                        minor("0.1"), minor("1"), (mid,), 900, ""))
    assert market.balance(1, "BTC") == (0, 0)
    address = one(market.apply(CreateAddress(2, "BTC")), AddressCreated).address
    for command in (
        PlaceOrder(1, "BTC-USD", Side.SELL, OrderType.LIMIT, 1, 5_000_000),
        RequestWithdrawal(1, "BTC", 1, "bc1q"),
        Transfer(1, address, "BTC", 1),
    ):
        [event] = market.apply_unchanged(command)
        assert isinstance(event, OrderRejected | CommandRejected), event
        assert event.code == Code.INSUFFICIENT_FUNDS, event
    desk2 = market.apply_unchanged(PostAd(1, P2PSide.SELL, "BTC", "USD", fiat("50000.00"), 0,
                                          "", minor("0.1"), minor("0.1"), minor("0.1"),
                                          (mid,), 900, ""))
    assert_refused(desk2, Code.INSUFFICIENT_FUNDS)  # nor another ad
    assert market.engine.escrow_balances["BTC"] == minor("1")


def test_shipped_config_has_the_documented_defaults() -> None:
    assert (CONFIG.appeal_after_s, CONFIG.escalate_after_s, CONFIG.cancel_limit,
            CONFIG.ban_s) == (900, 86_400, 3, 86_400)
    assert MARKETS.fiats["EUR"].decimals == 2


# =====================================================================================
# every refusal: a numbered code, its sentence, the target's state, nothing changed
# =====================================================================================


def _sell_ad(desk: Desk) -> int:
    return desk.post(1, qty="1", max_qty="0.5")


def _post(user: int = 1, **fields: object) -> PostAd:
    values: dict[str, object] = dict(
        user_id=user, side=P2PSide.SELL, asset="BTC", fiat="USD",
        price_minor=fiat("50000.00"), price_margin_bps=0, price_symbol="",
        qty_minor=minor("1"), min_qty_minor=minor("0.01"), max_qty_minor=minor("1"),
        payment_method_ids=(1,), payment_window_s=900, terms="")
    values.update(fields)
    return PostAd(**values)  # type: ignore[arg-type]


def _banned(desk: Desk) -> object:
    ad_id = desk.post(1, qty="10", max_qty="1")
    for _ in range(CONFIG.cancel_limit):
        desk.apply(CancelTrade(2, desk.take(2, ad_id), PENDING))
    return TakeAd(2, ad_id, minor("0.1"), 0)


def _expired(desk: Desk) -> object:
    tid = desk.pending()
    desk.advance(desk.trade(tid).pay_by_ns)
    return MarkPaid(2, tid, PENDING)


def _proposed(desk: Desk) -> object:
    tid = desk.disputed("2", qty="5", max_qty="5")
    desk.apply(ResolveDispute(90, tid, DisputeOutcome.RELEASE, "paid"))
    return ResolveDispute(90, tid, DisputeOutcome.RELEASE, "paid, again")


def _margin_ad_without_book(desk: Desk) -> object:
    return TakeAd(2, desk.post(1, price="", margin_bps=0, price_symbol="BTC-USD"),
                  minor("0.1"), 0)


# (case, setup -> the refused command, code); users 1..4 are funded, user 1 has method 1
REFUSALS: list[tuple[str, object, int]] = [
    ("take-an-unknown-ad", lambda d: TakeAd(2, 99, minor("0.1"), 0), Code.UNKNOWN_AD),
    ("pause-an-unknown-ad", lambda d: PauseAd(1, 99), Code.UNKNOWN_AD),
    ("take-a-paused-ad", lambda d: (d.apply(PauseAd(1, a := _sell_ad(d))),
                                    TakeAd(2, a, minor("0.1"), 0))[1], Code.AD_NOT_OPEN),
    ("resume-an-open-ad", lambda d: ResumeAd(1, _sell_ad(d)), Code.AD_NOT_OPEN),
    ("cancel-a-cancelled-ad", lambda d: (d.apply(CancelAd(1, a := _sell_ad(d))),
                                         CancelAd(1, a))[1], Code.AD_NOT_OPEN),
    ("pause-someone-elses-ad", lambda d: PauseAd(2, _sell_ad(d)), Code.AD_NOT_YOURS),
    ("resume-an-ad-an-admin-paused", lambda d: (d.apply(PauseAd(
        1, a := _sell_ad(d), admin_id=90, reason="review")), ResumeAd(1, a))[1],
     Code.AD_PAUSED_BY_ADMIN),
    ("admin-pause-a-cancelled-ad", lambda d: (d.apply(CancelAd(1, a := _sell_ad(d))),
                                              PauseAd(1, a, admin_id=90))[1],
     Code.AD_NOT_OPEN),
    ("admin-resume-an-ad-no-admin-paused", lambda d: (d.apply(PauseAd(1, a := _sell_ad(d))),
                                                      ResumeAd(1, a, admin_id=90))[1],
     Code.AD_NOT_OPEN),
    ("admin-pause-with-a-reason-too-long", lambda d: PauseAd(
        1, _sell_ad(d), admin_id=90, reason="x" * 201), Code.INVALID_TEXT),
    ("admin-pause-an-unknown-ad", lambda d: PauseAd(0, 99, admin_id=90), Code.UNKNOWN_AD),
    ("cancel-someone-elses-ad", lambda d: CancelAd(2, _sell_ad(d)), Code.AD_NOT_YOURS),
    ("take-your-own-ad", lambda d: TakeAd(1, _sell_ad(d), minor("0.1"), 0), Code.OWN_AD),
    ("take-above-the-ads-max", lambda d: TakeAd(2, _sell_ad(d), minor("0.6"), 0),
     Code.QUANTITY_OUT_OF_RANGE),
    ("take-below-the-ads-min", lambda d: TakeAd(2, _sell_ad(d), minor("0.001"), 0),
     Code.QUANTITY_OUT_OF_RANGE),
    ("take-worth-no-cent", lambda d: (
        d.rest(3, Side.BUY, "0.1", "50000.00"), d.rest(4, Side.SELL, "0.1", "50000.02"),
        TakeAd(2, d.post(1, price="", margin_bps=-9_999, price_symbol="BTC-USD",
                         min_qty="0.00000001"), 1, 0))[2], Code.QUANTITY_OUT_OF_RANGE),
    ("take-a-buy-ad-without-the-funds", lambda d: (
        d.method(2), d.apply(AdjustBalance(2, "BTC", -BTC_TOTAL, "drain")),
        TakeAd(2, d.post(1, P2PSide.BUY), minor("0.1"), 0))[2], Code.INSUFFICIENT_FUNDS),
    ("take-a-buy-ad-without-a-matching-method", lambda d: TakeAd(
        2, d.post(1, P2PSide.BUY), minor("0.1"), 0), Code.UNKNOWN_PAYMENT_METHOD),
    ("take-with-a-method-the-ad-does-not-list", lambda d: TakeAd(
        2, _sell_ad(d), minor("0.1"), 77), Code.UNKNOWN_PAYMENT_METHOD),
    ("take-at-a-margin-with-an-empty-book", _margin_ad_without_book, Code.NO_REFERENCE_PRICE),
    ("take-while-banned", _banned, Code.P2P_BANNED),
    ("post-while-banned", lambda d: (_banned(d), _post(2, payment_method_ids=(
        d.method(2),)))[1], Code.P2P_BANNED),
    ("take-while-suspended", lambda d: (d.apply(SuspendUser(2)),
                                        TakeAd(2, _sell_ad(d), minor("0.1"), 0))[1],
     Code.USER_SUSPENDED),
    ("post-with-user-0", lambda d: _post(0), Code.INVALID_USER),
    ("post-a-side-that-is-neither", lambda d: (d.method(1), _post(side=3))[1], Code.INVALID_AD),
    ("post-min-above-max", lambda d: (d.method(1), _post(min_qty_minor=minor("0.6"),
                                                          max_qty_minor=minor("0.5")))[1],
     Code.INVALID_AD),
    ("post-max-above-total", lambda d: (d.method(1), _post(max_qty_minor=minor("2")))[1],
     Code.INVALID_AD),
    ("post-price-and-margin-both", lambda d: (d.method(1), _post(price_margin_bps=10))[1],
     Code.INVALID_AD),
    ("post-terms-too-long", lambda d: (d.method(1), _post(terms="x" * 2001))[1],
     Code.INVALID_AD),
    ("post-without-payment-methods", lambda d: _post(payment_method_ids=()), Code.INVALID_AD),
    ("post-an-unknown-asset", lambda d: (d.method(1), _post(asset="DOGE"))[1],
     Code.UNKNOWN_ASSET),
    ("post-an-unknown-fiat", lambda d: (d.method(1), _post(fiat="JPY"))[1], Code.UNKNOWN_FIAT),
    ("post-a-window-under-5-minutes", lambda d: (d.method(1), _post(payment_window_s=299))[1],
     Code.INVALID_PAYMENT_WINDOW),
    ("post-a-window-over-6-hours", lambda d: (d.method(1), _post(payment_window_s=21_601))[1],
     Code.INVALID_PAYMENT_WINDOW),
    ("post-with-someone-elses-method", lambda d: (d.method(2), _post(1))[1],
     Code.UNKNOWN_PAYMENT_METHOD),
    ("post-a-sell-ad-beyond-the-balance", lambda d: (d.method(1), _post(
        qty_minor=BTC_TOTAL + 1, max_qty_minor=BTC_TOTAL + 1))[1], Code.INSUFFICIENT_FUNDS),
    ("post-a-margin-on-another-assets-symbol", lambda d: (d.method(1), _post(
        price_minor=0, price_symbol="ETH-USD"))[1], Code.INVALID_PRICE_SOURCE),
    ("post-a-margin-in-another-fiat", lambda d: (d.method(1), _post(
        fiat="EUR", price_minor=0, price_symbol="BTC-USD"))[1], Code.INVALID_PRICE_SOURCE),
    ("add-a-method-without-a-name", lambda d: AddPaymentMethod(1, " ", "x"),
     Code.INVALID_PAYMENT_METHOD),
    ("add-a-method-with-long-details", lambda d: AddPaymentMethod(1, "SEPA", "x" * 501),
     Code.INVALID_PAYMENT_METHOD),
    ("remove-someone-elses-method", lambda d: RemovePaymentMethod(2, d.method(1)),
     Code.UNKNOWN_PAYMENT_METHOD),
    ("act-on-an-unknown-trade", lambda d: MarkPaid(2, 99, PENDING), Code.UNKNOWN_P2P_TRADE),
    ("act-on-someone-elses-trade", lambda d: MarkPaid(3, d.pending(), PENDING),
     Code.UNKNOWN_P2P_TRADE),
    ("mark-paid-expecting-another-state", lambda d: MarkPaid(2, d.pending(), PAID),
     Code.STATE_MISMATCH),
    ("mark-paid-twice", lambda d: MarkPaid(2, d.paid(), PAID), Code.STATE_MISMATCH),
    ("release-while-pending", lambda d: ReleaseEscrow(1, d.pending(), PENDING),
     Code.STATE_MISMATCH),
    ("cancel-in-a-dispute", lambda d: CancelTrade(2, d.disputed(), DISPUTED, confirm=True),
     Code.STATE_MISMATCH),
    ("resolve-a-trade-not-in-dispute", lambda d: ResolveDispute(
        90, d.paid(), DisputeOutcome.RELEASE, "n", PAID), Code.STATE_MISMATCH),
    ("mark-paid-by-the-seller", lambda d: MarkPaid(1, d.pending(), PENDING),
     Code.NOT_YOUR_ROLE),
    ("release-by-the-buyer", lambda d: ReleaseEscrow(2, d.paid(), PAID), Code.NOT_YOUR_ROLE),
    ("cancel-by-the-seller", lambda d: CancelTrade(1, d.pending(), PENDING),
     Code.NOT_YOUR_ROLE),
    ("resolve-by-a-party", lambda d: ResolveDispute(1, d.disputed(), DisputeOutcome.REFUND,
                                                    "mine"), Code.NOT_YOUR_ROLE),
    ("mark-paid-after-the-window", _expired, Code.PAYMENT_WINDOW_PASSED),
    ("cancel-after-paying-without-confirm", lambda d: CancelTrade(2, d.paid(), PAID),
     Code.CONFIRM_REQUIRED),
    ("dispute-before-the-appeal-delay", lambda d: OpenDispute(2, d.paid(), PAID, "r", "t"),
     Code.APPEAL_TOO_EARLY),
    ("withdraw-someone-elses-dispute", lambda d: WithdrawDispute(1, d.disputed(by=2),
                                                                 DISPUTED),
     Code.NOT_DISPUTE_OPENER),
    ("withdraw-an-escalated-dispute", lambda d: (
        t := d.paid(), d.advance(d.trade(t).escalate_at_ns),
        WithdrawDispute(2, t, DISPUTED))[2], Code.NOT_DISPUTE_OPENER),
    ("feedback-before-completion", lambda d: LeaveFeedback(2, d.paid(), True),
     Code.FEEDBACK_NOT_ALLOWED),
    ("feedback-on-a-cancelled-trade", lambda d: LeaveFeedback(2, d.cancelled(), True),
     Code.FEEDBACK_NOT_ALLOWED),
    ("dispute-without-a-reason", lambda d: (
        t := d.paid(), d.advance(d.trade(t).appeal_after_ns),
        OpenDispute(2, t, PAID, "", "text"))[2], Code.INVALID_TEXT),
    ("an-empty-chat-line", lambda d: PostTradeMessage(2, d.pending(), "  "), Code.INVALID_TEXT),
    ("a-chat-line-with-a-control-character", lambda d: PostTradeMessage(2, d.pending(),
                                                                        "a\x00b"),
     Code.INVALID_TEXT),
    ("an-idempotency-key-too-long", lambda d: MarkPaid(2, d.pending(), PENDING,
                                                       idempotency_key="k" * 65),
     Code.INVALID_TEXT),
    ("resolve-without-a-note", lambda d: ResolveDispute(90, d.disputed(),
                                                        DisputeOutcome.RELEASE, ""),
     Code.INVALID_TEXT),
    ("resolve-with-an-unknown-outcome", lambda d: ResolveDispute(90, d.disputed(), 3, "n"),
     Code.INVALID_OUTCOME),
    ("the-same-admin-approves-twice", _proposed, Code.SAME_ADMIN),
    ("an-outage-that-ends-before-it-starts", lambda d: RecordOutage(d.ts_ns, d.ts_ns - 1),
     Code.INVALID_OUTAGE),
    ("an-outage-in-the-future", lambda d: RecordOutage(d.ts_ns, d.ts_ns + 10 * S),
     Code.INVALID_OUTAGE),
]


@pytest.mark.parametrize(("setup", "code"), [(s, c) for _, s, c in REFUSALS],
                         ids=[name for name, _, _ in REFUSALS])
def test_refusal(setup: object, code: int) -> None:
    desk = Desk()
    command = setup(desk)  # type: ignore[operator]
    events = desk.apply_unchanged(command)
    refused = assert_refused(events, code)
    assert refused.command == type(command).__name__


def test_every_p2p_code_has_a_refusal_case() -> None:
    p2p_codes = {c for c in Code if 7000 < c < 8000}
    assert p2p_codes <= {code for _, _, code in REFUSALS}


def test_a_refusal_carries_the_trades_current_state() -> None:
    desk = Desk()
    tid = desk.paid()
    refused = assert_refused(desk.apply_unchanged(MarkPaid(2, tid, PENDING)),
                             Code.STATE_MISMATCH, PAID)
    assert refused.target_id == tid


# =====================================================================================
# configuration
# =====================================================================================


@pytest.mark.parametrize(("table", "message_part"), [
    ({"p2p": {"fee_bps": -1}}, "fee_bps must be an integer within 0..1000"),
    ({"p2p": {"fee_bps": "10"}}, "fee_bps must be an integer"),
    ({"p2p": {"appeal_after_s": 900, "escalate_after_s": 600}}, "longer than appeal_after_s"),
    ({"p2p": {"cancel_limit": 0}}, "cancel_limit"),
    ({"p2p": {"timeout": 5}}, "unknown key timeout"),
    ({"p2p": {"second_approval": {"DOGE": "1"}}}, "unknown asset DOGE"),
    ({"p2p": {"second_approval": {"BTC": "0.000000001"}}}, "at most 8 decimals"),
    ({"p2p": {"second_approval": {"BTC": "lots"}}}, "decimal string"),
    ({"fiat": {"EUR": {}}}, "fiat EUR: needs decimals"),
    ({"fiat": {"EUR": {"decimals": 9}}}, "decimals must be within 0..8"),
    ({"fiat": {"E": {"decimals": 2}}}, "3 to 8 letters"),
], ids=["negative-fee", "fee-as-text", "escalate-before-appeal", "no-cancels-allowed",
        "unknown-key", "second-approval-unknown-asset", "second-approval-too-fine",
        "second-approval-not-a-number", "fiat-without-decimals", "fiat-decimals-too-many",
        "fiat-code-too-short"])
def test_a_bad_p2p_config_names_the_entry(table: dict[str, object], message_part: str) -> None:
    config = read_config()
    config.update(table)
    with pytest.raises(ConfigError, match=message_part):
        load_markets(config)


def test_p2p_config_defaults_when_the_tables_are_absent() -> None:
    config = read_config()
    del config["p2p"], config["fiat"]
    markets = load_markets(config)
    assert markets.p2p == P2PConfig()
    assert sorted(markets.fiats) == ["EUR", "GBP", "USD"]
    assert markets.p2p.fee_bps == 0 and markets.p2p.second_approval_minor == {}


def test_the_shipped_second_approval_amounts_are_in_minor_units() -> None:
    assert CONFIG.second_approval_minor["BTC"] == minor("1")
    assert CONFIG.second_approval_minor["SOL"] == MARKETS.assets["SOL"].to_minor("500")


def test_a_cancel_limit_of_one_bans_at_the_first_cancel() -> None:
    config = read_config()
    config["p2p"]["cancel_limit"] = 1
    desk = Desk(markets=load_markets(config))
    tid = desk.pending()
    banned = one(desk.apply(CancelTrade(2, tid, PENDING)), P2PUserBanned)
    assert banned.count == 1


def test_every_escrow_posting_names_its_ad_or_trade() -> None:
    desk = Desk()
    ad_id = desk.post(1, qty="1")
    tid = desk.take(2, ad_id, "0.5")
    desk.apply(MarkPaid(2, tid, PENDING))
    release = desk.apply(ReleaseEscrow(1, tid, PAID))
    cancel = desk.apply(CancelAd(1, ad_id))
    posted = [e for e in desk.log if type(e).__name__ == "AdPosted"]
    rows = [(e.debit, e.credit, e.amount_minor, e.reason, e.reference)
            for e in entries(1, [*posted, *release, *cancel], MARKETS)]
    fee = minor("0.5") * FEE_BPS // 10_000
    assert rows == [
        ("user:1:available", "escrow", minor("1"), "escrow", f"ad:{ad_id}"),
        ("escrow", "user:2:available", minor("0.5") - fee, "p2p_release", f"p2p:{tid}"),
        ("escrow", "fees", fee, "p2p_fee", f"p2p:{tid}"),
        ("escrow", "user:1:available", minor("0.5"), "escrow_return", f"ad:{ad_id}"),
    ]


def test_a_repeat_a_day_later_forgets_the_keys_older_than_a_day_and_nothing_else() -> None:
    desk = Desk()
    ad_id = desk.post(1, qty="2", max_qty="1")
    desk.apply(TakeAd(2, ad_id, minor("0.1"), 0, "old"))
    start = desk.ts_ns
    desk.advance(start + 3600 * S)
    desk.apply(TakeAd(3, ad_id, minor("0.1"), 0, "recent"))
    desk.advance(start + 86_400 * S)  # "old" is a day old now
    again = desk.apply(TakeAd(3, ad_id, minor("0.1"), 0, "recent"))
    assert [type(e) for e in again] == [P2PRepeated]
    assert set(desk.engine.p2p.idempotency) == {(3, "recent")}
