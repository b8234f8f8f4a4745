"""A user's balances (available and held per asset, in one flat array of int64), and a
pending withdrawal."""

from __future__ import annotations

from collections.abc import Mapping, MutableSequence
from types import MappingProxyType

import msgspec


class Account(msgspec.Struct, gc=False):
    """One user's balances per asset (minor units) and fee tier.

    ``balances`` is one flat sequence of ints for every asset of the markets (an
    ``array("q")`` of C int64s in the compiled build, a list interpreted):
    at ``slots[asset]`` what is available, at the next index what is held. The matching
    path indexes it with the slots its book keeps (``OrderBook.quote_slot`` /
    ``base_slot``): an index costs less than a dict lookup by asset code, and the
    compiled core adds and subtracts the C integers without making Python ints. 64 bits
    always suffice: an asset's supply is capped (``Asset.max_supply_minor``, at most
    10^18 minor units, enforced by deposits), and every balance is part of that supply.
    ``available`` and ``held`` are read-only views by asset code.
    ``user_id`` is the one int object the user's orders share (an order stores no int
    of its own).
    """

    user_id: int
    balances: MutableSequence[int]
    slots: Mapping[str, int]  # asset code -> index of its available amount (shared)
    tier: str = ""

    @property
    def available(self) -> Mapping[str, int]:
        """Available balance per asset code (a read-only copy)."""
        balances = self.balances
        return MappingProxyType({a: balances[i] for a, i in self.slots.items()})

    @property
    def held(self) -> Mapping[str, int]:
        """Held balance per asset code (a read-only copy)."""
        balances = self.balances
        return MappingProxyType({a: balances[i + 1] for a, i in self.slots.items()})

    def free(self, asset: str) -> int:
        """What is available of ``asset``."""
        return self.balances[self.slots[asset]]

    def credit(self, asset: str, amount: int) -> None:
        """Add ``amount`` (negative: take it) to what is available."""
        self.balances[self.slots[asset]] += amount

    def hold(self, asset: str, amount: int) -> None:
        """Move ``amount`` from available to held (negative: back)."""
        i = self.slots[asset]
        self.balances[i] -= amount
        self.balances[i + 1] += amount

    def release(self, asset: str, amount: int) -> None:
        """Move ``amount`` from held back to available."""
        self.hold(asset, -amount)

    def spend_held(self, asset: str, amount: int) -> None:
        """Take ``amount`` out of what is held (it leaves the account)."""
        self.balances[self.slots[asset] + 1] -= amount


class Withdrawal(msgspec.Struct, frozen=True, gc=False):
    withdrawal_id: int
    user_id: int
    asset: str
    amount_minor: int
    destination: str


__all__ = ["Account", "Withdrawal"]
