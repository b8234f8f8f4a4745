// The private P2P stream of the signed-in user: its own connection to /ws, signed in
// with the access token, following the P2P channel (trade transitions, chat messages,
// ad changes, notifications). The pages hold their data in REST queries; an event only
// says which ones are stale (and carries a chat line to show at once). After a
// reconnect, events may have been missed: `onResync` refetches everything.
export type P2PEvent = Record<string, unknown> & { type: string };

export interface P2PStreamOptions {
  url: string;
  token: string;
  channels?: string[];
  WebSocketImpl?: typeof WebSocket;
  onEvent: (event: P2PEvent) => void;
  onResync?: () => void;
  onStatus?: (live: boolean) => void;
}

/** The frames the stream passes on: P2P events and notifications (not the answers of
 * the protocol itself). */
export function isP2PEvent(message: Record<string, unknown>): message is P2PEvent {
  const type = message.type;
  return typeof type === "string" && (type.startsWith("p2p") || type === "notification" || type === "trade_message");
}

export class P2PStream {
  private readonly opts: P2PStreamOptions;
  private socket: WebSocket | null = null;
  private stopped = false;
  private attempts = 0;
  private connectedOnce = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private ping: ReturnType<typeof setInterval> | null = null;

  constructor(opts: P2PStreamOptions) {
    this.opts = opts;
  }

  start(): void {
    this.stopped = false;
    this.connect();
    this.ping = setInterval(() => this.send({ op: "ping" }), 15_000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.ping) clearInterval(this.ping);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, "closed by the page");
  }

  private send(message: Record<string, unknown>): void {
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(message));
  }

  private connect(): void {
    if (this.stopped) return;
    const Impl = this.opts.WebSocketImpl ?? WebSocket;
    const socket = new Impl(this.opts.url);
    this.socket = socket;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.attempts = 0;
      this.send({ op: "auth", token: this.opts.token, request_id: "p2p-auth" });
    };
    socket.onmessage = (event: MessageEvent) => {
      if (socket !== this.socket) return;
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(String(event.data)) as Record<string, unknown>;
      } catch {
        return;
      }
      this.handle(message);
    };
    socket.onclose = () => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.opts.onStatus?.(false);
      if (this.stopped) return;
      this.attempts++;
      const delay = Math.min(250 * 2 ** Math.min(this.attempts - 1, 5), 5000);
      this.timer = setTimeout(() => this.connect(), delay);
    };
    socket.onerror = () => undefined;
  }

  handle(message: Record<string, unknown>): void {
    if (message.type === "authenticated") {
      for (const channel of this.opts.channels ?? ["p2p"]) this.send({ op: "subscribe", channel });
      return;
    }
    if (message.type === "subscribed" && (this.opts.channels ?? ["p2p"]).includes(String(message.channel))) {
      // live only once the server follows the channel for us (an older server refuses it)
      this.opts.onStatus?.(true);
      if (this.connectedOnce) this.opts.onResync?.();
      this.connectedOnce = true;
      return;
    }
    if (isP2PEvent(message)) this.opts.onEvent(message);
  }
}
