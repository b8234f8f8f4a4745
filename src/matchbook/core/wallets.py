"""Wallets: deposits, deposit addresses, withdrawals, transfers and adjustments."""

from __future__ import annotations

import hashlib

from matchbook.core.accounts import Withdrawal
from matchbook.core.codes import Code
from matchbook.core.commands import (
    AdjustBalance,
    CompleteWithdrawal,
    CreateAddress,
    Deposit,
    RejectWithdrawal,
    RequestWithdrawal,
    Transfer,
)
from matchbook.core.events import (
    AddressCreated,
    BalanceAdjusted,
    Deposited,
    Event,
    Transferred,
    WithdrawalCompleted,
    WithdrawalRejected,
    WithdrawalRequested,
)
from matchbook.core.matching import MatchingCore
from matchbook.core.symbols import MAX_UNITS


class Wallets(MatchingCore):
    """The wallet commands."""

    def _amount_ok(self, asset: str, amount: int) -> int:
        if asset not in self.markets.assets:
            return Code.UNKNOWN_ASSET
        if not 0 < amount < MAX_UNITS:
            return Code.INVALID_AMOUNT
        return Code.OK

    def _supply_ok(self, asset: str, amount: int) -> int:
        """``SUPPLY_LIMIT`` if bringing ``amount`` more of ``asset`` into the exchange would
        pass its maximum supply, else ``OK``. O(1).

        Only deposits and positive adjustments bring money in; every other command
        (transfer, trade settlement, fee, hold, withdrawal) moves it between accounts
        inside this total, so with the total bounded no balance can pass it either."""
        inside = -self.external_balances[asset]  # what users and the fee account hold
        if inside + amount > self.markets.assets[asset].max_supply_minor:
            return Code.SUPPLY_LIMIT
        return Code.OK

    def _new_wallet_op(self) -> int:
        op = self.next_wallet_op_id
        self.next_wallet_op_id = op + 1
        return op

    def _deposit(self, c: Deposit, out: list[Event]) -> None:
        """A deposit to a user, or to the owner of a deposit address (user 0). O(1)."""
        uid, address = c.user_id, c.address
        code = self._amount_ok(c.asset, c.amount_minor)
        if not code and not uid:
            owner = self.addresses.get(address)
            if owner is None or owner[1] != c.asset:
                code = Code.UNKNOWN_ADDRESS
            else:
                uid = owner[0]
        if not code and uid <= 0:
            code = Code.INVALID_USER
        if not code:
            code = self._supply_ok(c.asset, c.amount_minor)
        if code:
            return self._wallet_reject(c.user_id, code, c, out)
        account = self._account(uid)
        account.credit(c.asset, c.amount_minor)
        self.external_balances[c.asset] -= c.amount_minor
        out.append(Deposited(self._new_wallet_op(), uid, c.asset, c.amount_minor, address,
                             c.reference[:200]))
        return None

    def _create_address(self, c: CreateAddress, out: list[Event]) -> None:
        """The user's deposit address for an asset, derived from (user, asset). O(1)
        (one more hash per rare collision)."""
        if c.asset not in self.markets.assets:
            return self._wallet_reject(c.user_id, Code.UNKNOWN_ASSET, c, out)
        if c.user_id <= 0:
            return self._wallet_reject(c.user_id, Code.INVALID_USER, c, out)
        if (c.user_id, c.asset) in self.user_addresses:
            return self._wallet_reject(c.user_id, Code.ADDRESS_EXISTS, c, out)
        nonce = 0
        while True:  # deterministic: derived from (user, asset), re-derived on a collision
            digest = hashlib.blake2b(f"{c.user_id}:{c.asset}:{nonce}".encode(), digest_size=12,
                                     person=b"mb-address").hexdigest()
            address = f"mb1{c.asset.lower()}{digest}"
            if address not in self.addresses:
                break
            nonce += 1
        self.addresses[address] = (c.user_id, c.asset)
        self.user_addresses[(c.user_id, c.asset)] = address
        self._account(c.user_id)
        out.append(AddressCreated(c.user_id, c.asset, address))
        return None

    def _request_withdrawal(self, c: RequestWithdrawal, out: list[Event]) -> None:
        """Hold the amount and record a pending withdrawal. O(1)."""
        code = self._amount_ok(c.asset, c.amount_minor)
        account = self.accounts.get(c.user_id)
        if not code and c.user_id in self.suspended:
            code = Code.USER_SUSPENDED
        if not code and (account is None or account.free(c.asset) < c.amount_minor):
            code = Code.INSUFFICIENT_FUNDS
        if not code and len(c.destination) > 200:
            code = Code.INVALID_DESTINATION
        if code or account is None:
            return self._wallet_reject(c.user_id, code, c, out)
        account.hold(c.asset, c.amount_minor)
        wid = self._new_wallet_op()
        self.withdrawals[wid] = Withdrawal(wid, c.user_id, c.asset, c.amount_minor, c.destination)
        out.append(WithdrawalRequested(wid, c.user_id, c.asset, c.amount_minor, c.destination))
        return None

    def _settle_withdrawal(self, wid: int, command: object, out: list[Event]) -> Withdrawal | None:
        pending = self.withdrawals.pop(wid, None)
        if pending is None:
            code = (Code.WITHDRAWAL_NOT_PENDING if wid in self.settled_withdrawals
                    else Code.UNKNOWN_WITHDRAWAL)
            self._wallet_reject(0, code, command, out)
            return None
        self.settled_withdrawals.add(wid)
        self.accounts[pending.user_id].spend_held(pending.asset, pending.amount_minor)
        return pending

    def _complete_withdrawal(self, c: CompleteWithdrawal, out: list[Event]) -> None:
        """The pending withdrawal left the exchange: its hold is spent. O(1)."""
        w = self._settle_withdrawal(c.withdrawal_id, c, out)
        if w is not None:
            self.external_balances[w.asset] += w.amount_minor
            out.append(WithdrawalCompleted(w.withdrawal_id, w.user_id, w.asset, w.amount_minor))

    def _reject_withdrawal(self, c: RejectWithdrawal, out: list[Event]) -> None:
        """The pending withdrawal failed: its hold goes back to available. O(1)."""
        w = self._settle_withdrawal(c.withdrawal_id, c, out)
        if w is not None:
            self.accounts[w.user_id].credit(w.asset, w.amount_minor)
            out.append(WithdrawalRejected(w.withdrawal_id, w.user_id, w.asset, w.amount_minor,
                                          c.reason[:200]))

    def _transfer(self, c: Transfer, out: list[Event]) -> None:
        """Move an available amount to the owner of a deposit address. O(1)."""
        code = self._amount_ok(c.asset, c.amount_minor)
        owner = self.addresses.get(c.to_address)
        account = self.accounts.get(c.user_id)
        if not code and (owner is None or owner[1] != c.asset):
            code = Code.UNKNOWN_ADDRESS
        if not code and owner is not None and owner[0] == c.user_id:
            code = Code.TRANSFER_TO_SELF
        if not code and c.user_id in self.suspended:
            code = Code.USER_SUSPENDED
        if not code and (account is None or account.free(c.asset) < c.amount_minor):
            code = Code.INSUFFICIENT_FUNDS
        if code or owner is None or account is None:
            return self._wallet_reject(c.user_id, code, c, out)
        target = self._account(owner[0])
        account.credit(c.asset, -c.amount_minor)
        target.credit(c.asset, c.amount_minor)
        out.append(Transferred(self._new_wallet_op(), c.user_id, owner[0], c.to_address, c.asset,
                               c.amount_minor))
        return None

    def _adjust(self, c: AdjustBalance, out: list[Event]) -> None:
        """An operator's credit or debit of a user's available balance. O(1)."""
        code = self._amount_ok(c.asset, abs(c.amount_minor))
        if not code and c.user_id <= 0:
            code = Code.INVALID_USER
        if not code and not 0 < len(c.reason.strip()) <= 200:
            code = Code.INVALID_REASON
        account = self.accounts.get(c.user_id)
        if not code and c.amount_minor < 0 and (
                account is None or account.free(c.asset) < -c.amount_minor):
            code = Code.INSUFFICIENT_FUNDS
        if not code and c.amount_minor > 0:
            code = self._supply_ok(c.asset, c.amount_minor)
        if code:
            return self._wallet_reject(c.user_id, code, c, out)
        account = self._account(c.user_id)
        account.credit(c.asset, c.amount_minor)
        self.external_balances[c.asset] -= c.amount_minor
        out.append(BalanceAdjusted(self._new_wallet_op(), c.user_id, c.asset, c.amount_minor,
                                   c.reason))
        return None


__all__ = ["Wallets", "Withdrawal"]
