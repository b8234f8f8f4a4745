// The order form's draft, shared so that a click on the ladder sets its price.
import { create } from "zustand";
import { EMPTY_DRAFT, type OrderDraft } from "../lib/orderForm";

interface TicketState {
  draft: OrderDraft;
  update: (change: Partial<OrderDraft>) => void;
  reset: () => void;
}

export const useTicket = create<TicketState>((set, get) => ({
  draft: EMPTY_DRAFT,
  update: (change) => set({ draft: { ...get().draft, ...change } }),
  reset: () => set({ draft: { ...EMPTY_DRAFT, side: get().draft.side, type: get().draft.type } }),
}));
