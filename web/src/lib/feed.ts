// The one WebSocket of the UI (/ws): public channels of the chosen symbol (book, trades,
// ticker, candles) and, once signed in, the private orders and balances streams.
//
// Book: a snapshot replaces the local book; deltas apply in update-id order; a gap (or
// the server's `resync`) resubscribes with `since` and the epoch, so the server sends
// what was missed or a fresh snapshot; a crossed book is cleared and re-snapshotted; a
// reconnect resubscribes the same way. Trades are deduplicated by id. Every change only
// marks the feed dirty: the view is published at most once per animation frame, and
// no more often than ``minIntervalMs``.
import { LocalBook, type BookDelta, type BookSnapshot, type Level } from "./book";
import { Tape, type TapeTrade } from "./tape";
import type { Balance } from "./market";

export interface Ticker {
  symbol: string;
  open: string | null;
  high: string | null;
  low: string | null;
  last: string | null;
  volume: string;
  trades: number;
  change: string | null;
  best_bid: string | null;
  best_ask: string | null;
}

export interface Candle {
  start_ns: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  trades: number;
}

export interface Fill {
  trade_id: string;
  price: string;
  quantity: string;
  is_maker: boolean;
  fee: string;
  fee_asset: string;
}

export interface OrderView {
  order_id: string;
  client_order_id: string | null;
  symbol: string;
  side: "buy" | "sell";
  type: string;
  price: string | null;
  quantity: string;
  filled_quantity: string;
  remaining_quantity: string;
  status: string;
  time_in_force: string;
  post_only: boolean;
  stop_price: string | null;
  display_quantity: string | null;
  expire_time_ns: number | null;
}

export interface OrderEvent {
  type: "order";
  event: "accepted" | "filled" | "cancelled" | "expired" | "triggered" | "amended" | "rejected";
  seq: number;
  timestamp_ns: number;
  order: OrderView | null;
  order_id?: string | null;
  code?: number;
  message?: string;
  fill?: Fill;
  cancel_reason?: string | null;
}

export type ConnectionStatus = "connecting" | "live" | "reconnecting" | "offline";

export interface FeedView {
  symbol: string;
  bids: Level[];
  asks: Level[];
  updateId: number;
  synced: boolean;
  trades: TapeTrade[];
  ticker: Ticker | null;
  candle: Candle | null;
  interval: string;
  openOrders: OrderView[];
  balances: Balance[] | null;
  status: ConnectionStatus;
  lastMessageAt: number;
  signedIn: boolean;
  resyncs: number;
}

export interface FeedOptions {
  url: string;
  WebSocketImpl?: typeof WebSocket;
  /** Schedules the publication of the view (requestAnimationFrame in the browser). */
  schedule?: (run: () => void) => void;
  /** At least this long between two views (ms): the stream may bring hundreds of
   * changes a second; the screen shows them at most this often (0: every frame). */
  minIntervalMs?: number;
  /** When the book and the tape both changed, show the tape one frame after the book
   * (default true). */
  splitFrames?: boolean;
  now?: () => number;
  depth?: number;
  onView: (view: FeedView) => void;
  onOrderEvent?: (event: OrderEvent) => void;
  onError?: (code: number, message: string) => void;
  /** Trades missed while disconnected (REST), merged into the tape by id. */
  loadTrades?: (symbol: string) => Promise<TapeTrade[]>;
  pingMs?: number;
  staleMs?: number;
}

type Message = Record<string, unknown> & { type?: string };

export class Feed {
  private readonly opts: FeedOptions;
  private socket: WebSocket | null = null;
  private symbol = "";
  private interval = "1m";
  private token: string | null = null;
  private book = new LocalBook("");
  private tape = new Tape(80);
  private ticker: Ticker | null = null;
  private candle: Candle | null = null;
  private orders = new Map<string, OrderView>();
  /** The sorted open orders as last published: a new array only when they changed, so
   * the views that show them do not redraw for every book delta. */
  private ordersView: OrderView[] | null = null;
  private balances: Balance[] | null = null;
  private status: ConnectionStatus = "offline";
  private lastMessageAt = 0;
  private awaitingBook = false;
  private resyncs = 0;
  private scheduled = false;
  private attempts = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private signedIn = false;

  constructor(opts: FeedOptions) {
    this.opts = opts;
  }

  // -- control -------------------------------------------------------------------------

  start(symbol: string, interval = "1m"): void {
    this.symbol = symbol;
    this.interval = interval;
    this.book = new LocalBook(symbol);
    this.stopped = false;
    this.connect();
    const pingMs = this.opts.pingMs ?? 2000;
    this.timer = setInterval(() => this.tick(), Math.min(pingMs, 1000));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "closed by the page");
    this.status = "offline";
    this.publish();
  }

  setSymbol(symbol: string): void {
    if (symbol === this.symbol) return;
    const previous = this.symbol;
    this.symbol = symbol;
    this.book = new LocalBook(symbol);
    this.tape.clear();
    this.ticker = null;
    this.candle = null;
    if (this.isOpen()) {
      for (const channel of ["book", "trades", "ticker"]) this.send({ op: "unsubscribe", channel, symbol: previous });
      this.send({ op: "unsubscribe", channel: "candles", symbol: previous, interval: this.interval });
      this.subscribePublic();
    }
    this.loadTrades();
    this.publish();
  }

  setInterval(interval: string): void {
    if (interval === this.interval) return;
    if (this.isOpen()) {
      this.send({ op: "unsubscribe", channel: "candles", symbol: this.symbol, interval: this.interval });
      this.send({ op: "subscribe", channel: "candles", symbol: this.symbol, interval });
    }
    this.interval = interval;
    this.candle = null;
    this.publish();
  }

  /** Sign the connection in (a fresh token re-authenticates it), or out: signing out,
   * or in as someone else, needs a new connection. */
  setToken(token: string | null): void {
    const before = this.token;
    if (token === before) return;
    this.token = token;
    if (!this.isOpen()) return;
    if (token && before && this.signedIn) {
      this.send({ op: "auth", token, request_id: "reauth" });
    } else {
      this.orders.clear();
      this.ordersView = null;
      this.balances = null;
      this.signedIn = false;
      this.socket?.close(4000, "user changed");
    }
  }

  // -- connection ----------------------------------------------------------------------

  private isOpen(): boolean {
    return this.socket !== null && this.socket.readyState === 1;
  }

  private connect(): void {
    if (this.stopped) return;
    const Impl = this.opts.WebSocketImpl ?? WebSocket;
    this.status = this.attempts === 0 ? "connecting" : "reconnecting";
    const socket = new Impl(this.opts.url);
    this.socket = socket;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.attempts = 0;
      this.status = "live";
      this.lastMessageAt = this.now();
      if (this.token) this.send({ op: "auth", token: this.token, request_id: "auth" });
      this.subscribePublic();
      this.loadTrades();
      this.publish();
    };
    socket.onmessage = (event: MessageEvent) => {
      if (socket !== this.socket) return;
      this.lastMessageAt = this.now();
      let message: Message;
      try {
        message = JSON.parse(String(event.data)) as Message;
      } catch {
        return;
      }
      this.handle(message);
    };
    socket.onclose = () => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.signedIn = false;
      if (this.stopped) return;
      this.status = "reconnecting";
      this.attempts++;
      const delay = Math.min(250 * 2 ** Math.min(this.attempts - 1, 5), 5000);
      this.reconnectTimer = setTimeout(() => this.connect(), this.attempts === 1 ? 0 : delay);
      this.publish();
    };
    socket.onerror = () => {
      /* onclose follows */
    };
    this.publish();
  }

  private tick(): void {
    const now = this.now();
    const staleMs = this.opts.staleMs ?? 20000;
    if (this.isOpen()) {
      if (now - this.lastMessageAt >= (this.opts.pingMs ?? 2000)) this.send({ op: "ping" });
      if (now - this.lastMessageAt > staleMs) this.socket?.close(4001, "no data");  // a dead link
    }
    this.publish(); // the badge's age moves even when nothing arrives
  }

  private send(message: Record<string, unknown>): void {
    if (this.isOpen()) this.socket!.send(JSON.stringify(message));
  }

  private subscribePublic(): void {
    const symbol = this.symbol;
    this.subscribeBook();
    this.send({ op: "subscribe", channel: "trades", symbol });
    this.send({ op: "subscribe", channel: "ticker", symbol });
    this.send({ op: "subscribe", channel: "candles", symbol, interval: this.interval });
  }

  /** Subscribe to the book: with `since` when the local book is in sync (the server
   * resumes with the missed deltas or answers with a snapshot), plainly otherwise. */
  private subscribeBook(): void {
    const message: Record<string, unknown> = { op: "subscribe", channel: "book", symbol: this.symbol };
    if (this.book.synced) {
      message.since = this.book.updateId;
      if (this.book.epoch) message.epoch = this.book.epoch;
    }
    this.awaitingBook = true;
    this.send(message);
  }

  private resync(clear: boolean): void {
    this.resyncs++;
    if (clear) this.book.clear();
    this.subscribeBook();
  }

  private loadTrades(): void {
    const load = this.opts.loadTrades;
    if (!load) return;
    const symbol = this.symbol;
    load(symbol).then((trades) => {
      if (symbol !== this.symbol) return;
      if (this.tape.add(trades)) this.publish();
    }, () => undefined);
  }

  // -- messages ------------------------------------------------------------------------

  handle(message: Message): void {
    switch (message.type) {
      case "subscribed":
        if (message.channel === "book" && typeof message.epoch === "string") {
          if (this.book.epoch && this.book.epoch !== message.epoch) this.book.clear();
          this.book.epoch = message.epoch;
        }
        if (message.channel === "book" && message.resumed === true) this.awaitingBook = false;
        return;
      case "book_snapshot": {
        const snapshot = message as unknown as BookSnapshot;
        if (snapshot.symbol !== this.symbol) return;
        this.book.applySnapshot(snapshot);
        this.awaitingBook = false;
        break;
      }
      case "book_delta": {
        const delta = message as unknown as BookDelta;
        if (delta.symbol !== this.symbol) return;
        const outcome = this.book.applyDelta(delta);
        if (outcome === "gap" && !this.awaitingBook) this.resync(false);
        else if (outcome === "crossed") this.resync(true);
        else if (outcome === "no_snapshot" || outcome === "stale" || outcome === "gap") return;
        break;
      }
      case "resync":
        if (message.channel === "book" && message.symbol === this.symbol) this.resync(false);
        if (message.channel === "trades") this.loadTrades();
        return;
      case "trade": {
        const trade = message as unknown as TapeTrade & { symbol: string };
        if (trade.symbol !== this.symbol || !this.tape.add([trade])) return;
        break;
      }
      case "ticker":
        if (message.symbol !== this.symbol) return;
        this.ticker = message as unknown as Ticker;
        break;
      case "candle":
        if (message.symbol !== this.symbol || message.interval !== this.interval) return;
        this.candle = message as unknown as Candle;
        break;
      case "authenticated":
        if (!this.signedIn) {
          this.signedIn = true;
          this.send({ op: "subscribe", channel: "orders" });
          this.send({ op: "subscribe", channel: "balances" });
        }
        break;
      case "orders_snapshot":
        this.orders = new Map((message.orders as OrderView[]).map((o) => [o.order_id, o]));
        this.ordersView = null;
        break;
      case "order":
        this.onOrder(message as unknown as OrderEvent);
        break;
      case "balances":
        this.mergeBalances(message.balances as Balance[]);
        break;
      case "error":
        if (message.request_id === "auth" || message.request_id === "reauth") this.signedIn = false;
        this.opts.onError?.(Number(message.code), String(message.message ?? ""));
        return;
      default:
        return; // pong, heartbeat, unsubscribed, result
    }
    this.publish();
  }

  private onOrder(event: OrderEvent): void {
    const order = event.order;
    if (order) {
      this.ordersView = null;
      if (["filled", "cancelled", "expired"].includes(order.status)) this.orders.delete(order.order_id);
      else this.orders.set(order.order_id, order);
    }
    this.opts.onOrderEvent?.(event);
  }

  private mergeBalances(changed: Balance[]): void {
    const merged = new Map((this.balances ?? []).map((b) => [b.asset, b]));
    for (const b of changed) merged.set(b.asset, b);
    this.balances = [...merged.values()].sort((a, b) => a.asset.localeCompare(b.asset));
  }

  // -- the view ------------------------------------------------------------------------

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  private publishedAt = -Infinity;
  /** Something changed while a view was already scheduled. */
  private dirty = false;
  /** The trades as last published (the tape may be one frame behind the book). */
  private shownTrades: TapeTrade[] = [];
  private lastView: FeedView | null = null;

  private publish(): void {
    this.dirty = true;
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.publishedAt + (this.opts.minIntervalMs ?? 0) - this.now();
    if (wait > 0) {
      // too soon after the last view: the changes wait, merged, for the next one
      setTimeout(() => this.schedule(() => this.flushView()), wait);
      return;
    }
    this.schedule(() => this.flushView());
  }

  private schedule(run: () => void): void {
    (this.opts.schedule ?? ((r: () => void) => requestAnimationFrame(r)))(run);
  }

  /** Publish the view. When both the book and the tape changed, the book goes now and
   * the tape on the next frame: the ladder's and the tape's redraws are the two costly
   * ones, and one frame doing both is twice as long a task on the main thread (a
   * busy machine stretches it past 50 ms) as two frames doing one each. */
  private flushView(): void {
    this.scheduled = false;
    this.dirty = false;
    this.publishedAt = this.now();
    const bookMoved = this.levelsCache === null || this.levelsCache.book !== this.book || this.levelsCache.version !== this.book.version;
    const tapeMoved = this.shownTrades !== this.tape.trades;
    if (!(bookMoved && tapeMoved && this.lastView && this.opts.splitFrames !== false)) {
      this.shownTrades = this.tape.trades;
      this.emit(this.view());
      return;
    }
    this.emit(this.view());
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      this.shownTrades = this.tape.trades;
      // the view just shown with the new trades only: a later book change waits its turn
      this.emit({ ...this.lastView!, trades: this.shownTrades });
      if (this.dirty) {
        this.dirty = false;
        this.publish();
      }
    });
  }

  private emit(view: FeedView): void {
    this.lastView = view;
    this.opts.onView(view);
  }

  private levelsCache: { book: LocalBook; version: number; bids: Level[]; asks: Level[] } | null = null;

  view(): FeedView {
    const depth = this.opts.depth ?? 40;
    const book = this.book;
    let cache = this.levelsCache;
    if (!cache || cache.book !== book || cache.version !== book.version) {
      cache = this.levelsCache = { book, version: book.version, bids: book.levels("bids", depth), asks: book.levels("asks", depth) };
    }
    return {
      symbol: this.symbol,
      bids: cache.bids,
      asks: cache.asks,
      updateId: this.book.updateId,
      synced: this.book.synced,
      trades: this.shownTrades,
      ticker: this.ticker,
      candle: this.candle,
      interval: this.interval,
      openOrders: this.ordersView ??= [...this.orders.values()].sort((a, b) => (BigInt(b.order_id) > BigInt(a.order_id) ? 1 : -1)),
      balances: this.balances,
      status: this.status,
      lastMessageAt: this.lastMessageAt,
      signedIn: this.signedIn,
      resyncs: this.resyncs,
    };
  }
}

export type Badge = { kind: "live" } | { kind: "reconnecting" } | { kind: "stale"; seconds: number };

/** The connection badge from the link and the age of the last data. */
export function badgeOf(status: ConnectionStatus, lastMessageAt: number, now: number, staleAfterMs = 4000): Badge {
  if (status !== "live") return { kind: "reconnecting" };
  const age = now - lastMessageAt;
  if (age > staleAfterMs) return { kind: "stale", seconds: Math.floor(age / 1000) };
  return { kind: "live" };
}
