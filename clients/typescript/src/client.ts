// The client: one WebSocket per device (docs/protocol.md), logged in with a
// UserSig, synced from the cursor the cache holds, kept alive and
// reconnected with backoff. The app's calls wait for the connection and are
// sent again after a reconnect when repeating them is safe.

import { LocalCache, MemoryStore, type CacheStore, type Conversation } from "./cache.js";
import type { Element } from "./elements.js";
import {
  AuthError,
  DisconnectedError,
  ErrorCode,
  InvalidArgumentError,
  LoggedOutError,
  ProtocolError,
  ServerError,
  TimeoutError,
} from "./errors.js";
import { CloseCode, conversationOf, type HistoryMessage, type Message, type ServerFrame } from "./protocol.js";

/** What the client needs of a WebSocket: the browser's, Node 22's, or `ws`'s. */
export interface WebSocketLike {
  onopen: ((ev: never) => unknown) | null;
  onmessage: ((ev: { data: unknown }) => unknown) | null;
  onclose: ((ev: { code: number; reason: string }) => unknown) | null;
  onerror: ((ev: never) => unknown) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /** `ws://host:8081/v1/ws` */
  url: string;
  user: string;
  usersig: string;
  /** A stable id of this device (the same after restarts), 1 to 64 bytes. */
  device: string;
  /** `iPhone`, `Android`, `Web`, `PC`, `iPad` or `Mac`; default `Web`. */
  platform?: string;
  /** Where the cache lives: `MemoryStore` (default) or `IndexedDBStore`. */
  store?: CacheStore;
  /** A WebSocket constructor; default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** How long one call may take, retries across reconnects included; default 20 s. */
  requestTimeoutMs?: number;
  /** Reconnect backoff: the first wait, doubled after each failure up to the max. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** A message to send. */
export interface Outgoing {
  to: string;
  body: Element[];
  cloudCustomData?: string;
  /** Deliver only to devices online now (`MsgLifeTime` 0): nothing waits offline. */
  onlineOnly?: boolean;
  /** Tencent `OfflinePushInfo`, passed through. */
  offlinePushInfo?: Record<string, unknown>;
  /** 2: do not show it on this user's other devices (Tencent `SyncOtherMachine`). */
  syncOtherMachine?: 1 | 2;
  needReadReceipt?: boolean;
}

/** What the server said about a send. */
export interface SentMessage {
  msg_key: string;
  /** Unix seconds. */
  msg_time: number;
  msg_seq: number;
  msg_random: number;
  /** The message's seq in its conversation, from its echo (undefined if it did not come in time). */
  seq: number | undefined;
}

export type ConnectionState =
  | { state: "connecting" }
  | { state: "connected" }
  /** The connection dropped; the client reconnects with backoff. */
  | { state: "disconnected"; reason: string }
  /** The UserSig was refused: the client stops. Log in again with a fresh one. */
  | { state: "authFailed"; code: number; info: string }
  | { state: "loggedOut" };

interface Handlers {
  newMessage: (m: Message) => void;
  refresh: () => void;
  recall: (m: Message) => void;
  edit: (m: Message) => void;
  readReceipt: (peer: string, readSeq: number) => void;
  readElsewhere: (peer: string, readSeq: number) => void;
  messageRead: (peer: string, msgKey: string, seq: number) => void;
  typing: (from: string) => void;
  connectionState: (s: ConnectionState) => void;
}

/** A typing indicator within 2 s of the last one to the same peer. */
const TYPING_TOO_OFTEN = 60018;

const CONNECT_TIMEOUT_MS = 10_000;
/** Ping after this long; give up on a connection silent for three periods. */
const PING_EVERY_MS = 15_000;
const HISTORY_PAGE_MAX = 100;

/** One connection attempt and what came of it. */
interface Session {
  ws: WebSocketLike;
  loggedIn: boolean;
  synced: boolean;
  ended: boolean;
  refused?: { code: number; info: string };
  lastRx: number;
  timers: ReturnType<typeof setTimeout>[];
}

interface Pending {
  resolve: (f: ServerFrame) => void;
  reject: (e: Error) => void;
}

function randomU32(): number {
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!;
}

/** The ranges of lo..=hi not in `held` (ascending). */
export function gaps(lo: number, hi: number, held: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let next = lo;
  for (const s of held) {
    if (s > next) out.push([next, s - 1]);
    next = Math.max(next, s + 1);
  }
  if (next <= hi) out.push([next, hi]);
  return out;
}

export class Client {
  readonly user: string;
  private readonly opts: Required<Omit<ClientOptions, "store" | "WebSocket">>;
  private readonly store: CacheStore;
  private readonly WS: WebSocketConstructor;
  private readonly handlers: { [K in keyof Handlers]: Set<Handlers[K]> } = {
    newMessage: new Set(),
    refresh: new Set(),
    recall: new Set(),
    edit: new Set(),
    readReceipt: new Set(),
    readElsewhere: new Set(),
    messageRead: new Set(),
    typing: new Set(),
    connectionState: new Set(),
  };
  private cache: LocalCache | undefined;
  private session: Session | undefined;
  private connected = false;
  /** Logged out or refused: no more connections. */
  private stopped: Error | undefined;
  private connectedWaiters = new Set<() => void>();
  private pending = new Map<number, Pending>();
  private nextId = 1;
  /** Sends waiting for their echo, to learn their seq. */
  private seqWaiters = new Map<string, Set<(seq: number) => void>>();
  /** Frames are applied one at a time, in arrival order. */
  private frames: Promise<void> = Promise.resolve();
  private backoff: number;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private first: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private fetched = 0;

  constructor(options: ClientOptions) {
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket;
    if (typeof WS !== "function") {
      throw new InvalidArgumentError(
        "no WebSocket implementation: pass one as `WebSocket` (Node 20: the `ws` package or --experimental-websocket)",
      );
    }
    if (!options.user || !options.device || new TextEncoder().encode(options.device).length > 64) {
      throw new InvalidArgumentError("user must be non-empty and device 1 to 64 bytes");
    }
    this.WS = WS as WebSocketConstructor;
    this.user = options.user;
    this.store = options.store ?? new MemoryStore();
    this.opts = {
      url: options.url,
      user: options.user,
      usersig: options.usersig,
      device: options.device,
      platform: options.platform ?? "Web",
      requestTimeoutMs: options.requestTimeoutMs ?? 20_000,
      reconnectMinMs: options.reconnectMinMs ?? 100,
      reconnectMaxMs: options.reconnectMaxMs ?? 5_000,
    };
    this.backoff = this.opts.reconnectMinMs;
  }

  // ---- events ------------------------------------------------------------

  private on<K extends keyof Handlers>(kind: K, f: Handlers[K]): () => void {
    this.handlers[kind].add(f);
    return () => this.handlers[kind].delete(f);
  }

  /** A message this cache has not seen: offline ones at login, recent contacts' latest, then live ones (own sends included). Once per message. Returns an unsubscribe function. */
  onNewMessage(f: Handlers["newMessage"]) {
    return this.on("newMessage", f);
  }
  /** The login (or reconnect) sync is done: the cache is up to date. */
  onRefresh(f: Handlers["refresh"]) {
    return this.on("refresh", f);
  }
  /** A message was recalled (its body is now empty). */
  onRecall(f: Handlers["recall"]) {
    return this.on("recall", f);
  }
  /** A message's body or CloudCustomData changed. */
  onEdit(f: Handlers["edit"]) {
    return this.on("edit", f);
  }
  /** The peer read this user's messages up to `readSeq`. */
  onReadReceipt(f: Handlers["readReceipt"]) {
    return this.on("readReceipt", f);
  }
  /** This user read the conversation on another device. */
  onReadElsewhere(f: Handlers["readElsewhere"]) {
    return this.on("readElsewhere", f);
  }
  /** The peer read a message this user sent asking for a read receipt (its cached copy now has `peer_read`). */
  onMessageRead(f: Handlers["messageRead"]) {
    return this.on("messageRead", f);
  }
  /** The peer is typing to this user (online only, never stored). */
  onTyping(f: Handlers["typing"]) {
    return this.on("typing", f);
  }
  onConnectionState(f: Handlers["connectionState"]) {
    return this.on("connectionState", f);
  }

  private emit<K extends keyof Handlers>(kind: K, ...args: Parameters<Handlers[K]>): void {
    for (const f of this.handlers[kind]) {
      try {
        (f as (...a: Parameters<Handlers[K]>) => void)(...args);
      } catch (e) {
        // An app handler's bug must not stop the sync: report it apart.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  // ---- connection ----------------------------------------------------------

  get isConnected(): boolean {
    return this.connected;
  }

  /** Messages pulled from the roaming store by `getMessages` so far. */
  get roamingFetched(): number {
    return this.fetched;
  }

  /**
   * Opens the cache, connects and logs in with the cursor the cache holds.
   * Resolves once the server accepted the login (the sync then arrives as
   * events), or at once if the server cannot be reached (the client keeps
   * trying; the cache serves meanwhile). A refused UserSig rejects with
   * `AuthError`; a store of another user with `CacheOwnerError`.
   */
  async login(): Promise<void> {
    if (this.cache) throw new InvalidArgumentError("login was already called");
    this.cache = await LocalCache.open(this.store, this.user);
    await new Promise<void>((resolve, reject) => {
      this.first = { resolve, reject };
      this.connect();
    });
  }

  private get db(): LocalCache {
    if (!this.cache) throw new InvalidArgumentError("call login() first");
    return this.cache;
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.stopped) return;
    this.emit("connectionState", { state: "connecting" });
    let ws: WebSocketLike;
    try {
      ws = new this.WS(this.opts.url);
    } catch (e) {
      this.ended(undefined, `connect: ${String(e)}`);
      return;
    }
    const s: Session = { ws, loggedIn: false, synced: false, ended: false, lastRx: Date.now(), timers: [] };
    this.session = s;
    s.timers.push(
      setTimeout(() => {
        if (!s.loggedIn) this.cut(s, "no answer to login in time");
      }, CONNECT_TIMEOUT_MS),
    );
    ws.onopen = () => {
      void this.db.cursor(this.opts.device).then((cursor) => {
        if (s.ended) return;
        const login: Record<string, unknown> = {
          type: "login",
          user: this.user,
          usersig: this.opts.usersig,
          device: this.opts.device,
          platform: this.opts.platform,
        };
        if (cursor !== undefined) login.cursor = cursor;
        ws.send(JSON.stringify(login));
      });
    };
    ws.onmessage = (ev) => {
      if (s.ended) return;
      s.lastRx = Date.now();
      let f: ServerFrame;
      try {
        f = JSON.parse(String(ev.data)) as ServerFrame;
      } catch {
        return; // not JSON: outside the protocol, nothing to apply
      }
      if (!s.loggedIn) {
        this.onLoginAnswer(s, f);
        return;
      }
      this.frames = this.frames.then(() => this.onFrame(s, f)).catch(() => undefined);
    };
    // Browsers follow an error with a close event, Node 20's WebSocket not always
    // (a refused connection): end the session here either way.
    ws.onerror = () => this.cut(s, "the connection failed");
    ws.onclose = (ev) => this.ended(s, `closed by the server (${ev.code}): ${ev.reason}`, ev.code, ev.reason);
  }

  private onLoginAnswer(s: Session, f: ServerFrame): void {
    if (f.type === "error") {
      s.refused = { code: f.code, info: f.info }; // the close (4001) follows
      return;
    }
    if (f.type !== "login_ok") {
      this.cut(s, `unexpected answer to login: ${f.type}`);
      return;
    }
    s.loggedIn = true;
    this.connected = true;
    this.emit("connectionState", { state: "connected" });
    this.first?.resolve();
    this.first = undefined;
    for (const w of this.connectedWaiters) w();
    this.connectedWaiters.clear();
    s.timers.push(
      setInterval(() => {
        if (Date.now() - s.lastRx > 3 * PING_EVERY_MS) this.cut(s, "no frame from the server for too long");
        else s.ws.send(JSON.stringify({ type: "ping" }));
      }, PING_EVERY_MS),
    );
  }

  /** Ends a session from this side (a timeout, a protocol breach). */
  private cut(s: Session, reason: string): void {
    // Ended first: closing a failed socket may fire its error event again, at once.
    this.ended(s, reason);
    try {
      s.ws.close();
    } catch {
      // already closing
    }
  }

  /** A session ended: fail its requests (callers retry the safe ones), then reconnect or stop. */
  private ended(s: Session | undefined, reason: string, closeCode?: number, closeReason?: string): void {
    if (s) {
      if (s.ended) return;
      s.ended = true;
      for (const t of s.timers) clearTimeout(t);
      s.ws.onopen = s.ws.onmessage = s.ws.onclose = s.ws.onerror = null;
      if (this.session === s) this.session = undefined;
    }
    this.connected = false;
    const failure = this.stopped ?? new DisconnectedError();
    for (const p of this.pending.values()) p.reject(failure);
    this.pending.clear();
    if (this.stopped) return;

    // 4001: a refused UserSig; 4002: a login the server cannot accept. Retrying would fail the same way.
    if (s && !s.loggedIn && (closeCode === CloseCode.AuthFailed || closeCode === CloseCode.BadLogin)) {
      const code = s.refused?.code ?? closeCode;
      const info = s.refused?.info ?? closeReason ?? "";
      this.stop(new AuthError(code, info));
      if (this.first) this.first.reject(new AuthError(code, info));
      else this.emit("connectionState", { state: "authFailed", code, info });
      this.first = undefined;
      return;
    }
    this.emit("connectionState", { state: "disconnected", reason });
    // Unreachable at login: work from the cache meanwhile.
    this.first?.resolve();
    this.first = undefined;
    if (s?.synced) this.backoff = this.opts.reconnectMinMs;
    // Jitter spreads the reconnects of many clients after an outage.
    const wait = this.backoff * (0.5 + Math.random() / 2);
    this.backoff = Math.min(this.backoff * 2, this.opts.reconnectMaxMs);
    this.reconnectTimer = setTimeout(() => this.connect(), wait);
  }

  private stop(why: Error): void {
    this.stopped = why;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    for (const w of this.connectedWaiters) w();
    this.connectedWaiters.clear();
  }

  /** Closes the connection; the cache's data stays for the next login. */
  async logout(): Promise<void> {
    if (this.stopped) return;
    this.stop(new LoggedOutError());
    const s = this.session;
    if (s) {
      this.ended(s, "logout");
      try {
        s.ws.close(1000, "logout");
      } catch {
        // already closing
      }
    }
    this.emit("connectionState", { state: "loggedOut" });
    await this.frames;
    this.cache?.close();
  }

  // ---- frames --------------------------------------------------------------

  /** Applies one server frame to the cache, then tells the app. */
  private async onFrame(s: Session, f: ServerFrame): Promise<void> {
    if ("id" in f && typeof f.id === "number" && this.pending.has(f.id)) {
      const p = this.pending.get(f.id)!;
      this.pending.delete(f.id);
      if (f.type === "error") p.reject(new ServerError(f.code, f.info));
      else p.resolve(f);
      return;
    }
    const db = this.db;
    switch (f.type) {
      case "message": {
        const { type: _t, cursor, event, ...rest } = f;
        const m: Message = rest;
        if (event === "recall" || event === "edit") {
          await db.replace(m);
          this.emit(event, m);
        } else {
          if (await db.insert(m, true)) this.emit("newMessage", m);
          for (const w of this.seqWaiters.get(m.msg_key) ?? []) w(m.seq);
          this.seqWaiters.delete(m.msg_key);
        }
        await db.setCursor(this.opts.device, cursor);
        break;
      }
      case "read":
        if (f.reader === this.user) {
          await db.setRead(f.peer, f.read_seq);
          this.emit("readElsewhere", f.peer, f.read_seq);
        } else {
          await db.setPeerRead(f.peer, f.read_seq);
          this.emit("readReceipt", f.peer, f.read_seq);
        }
        await db.setCursor(this.opts.device, f.cursor);
        break;
      case "receipt":
        await db.setMessageRead(f.msg_key);
        this.emit("messageRead", f.peer, f.msg_key, f.seq);
        await db.setCursor(this.opts.device, f.cursor);
        break;
      case "typing":
        this.emit("typing", f.from);
        break;
      case "contacts":
        // The login's recent contacts: their latest messages are new when
        // this cache has not seen them; their unread counts are the server's.
        for (const c of f.contacts) {
          const latest = [...(c.messages ?? [])];
          if (c.last_message) latest.push(c.last_message);
          latest.sort((a, b) => a.seq - b.seq);
          for (const h of latest) {
            const m: Message = { ...h, peer: c.peer, conversation: c.conversation };
            if (await db.insert(m, false)) this.emit("newMessage", m);
          }
          await db.setContact(c.peer, c.conversation, c.last_seq, c.last_at_ms, c.unread, c.pinned);
        }
        break;
      case "sync_done":
        await db.setCursor(this.opts.device, f.cursor);
        s.synced = true;
        this.emit("refresh");
        break;
      default:
        break; // pong; an error without a pending request
    }
  }

  // ---- requests --------------------------------------------------------------

  private waitConnected(deadline: number): Promise<void> {
    if (this.stopped) return Promise.reject(this.stopped);
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.connectedWaiters.delete(ready);
        reject(new TimeoutError());
      }, deadline - Date.now());
      const ready = () => {
        clearTimeout(timer);
        if (this.stopped) reject(this.stopped);
        else resolve();
      };
      this.connectedWaiters.add(ready);
    });
  }

  /**
   * Sends a request and waits for its reply; with `retry`, a request cut
   * off by a lost connection is sent again after the reconnect.
   */
  private async call(frame: Record<string, unknown>, retry: boolean, attempts = { n: 0 }): Promise<ServerFrame> {
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    for (;;) {
      await this.waitConnected(deadline);
      const s = this.session;
      if (!this.connected || !s) continue; // dropped again meanwhile
      const id = this.nextId++;
      const reply = new Promise<ServerFrame>((resolve, reject) => this.pending.set(id, { resolve, reject }));
      attempts.n += 1;
      s.ws.send(JSON.stringify({ ...frame, id }));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new TimeoutError());
        }, deadline - Date.now());
      });
      try {
        return await Promise.race([reply, timeout]);
      } catch (e) {
        if (e instanceof DisconnectedError && retry) continue;
        throw e;
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** Sends a message of any element types. */
  sendMessage(to: string, body: Element[]): Promise<SentMessage> {
    return this.send({ to, body });
  }

  /**
   * Sends a message. A retry after a lost connection carries the same
   * `MsgRandom` and `MsgSeq`, so the server stores it once (docs/idempotency.md).
   */
  async send(msg: Outgoing): Promise<SentMessage> {
    if (msg.body.length === 0) throw new InvalidArgumentError("a message needs at least one element");
    const msgRandom = randomU32();
    const msgSeq = randomU32();
    const fields: Record<string, unknown> = { To_Account: msg.to, MsgRandom: msgRandom, MsgSeq: msgSeq, MsgBody: msg.body };
    if (msg.cloudCustomData) fields.CloudCustomData = msg.cloudCustomData;
    if (msg.onlineOnly) fields.MsgLifeTime = 0;
    if (msg.offlinePushInfo) fields.OfflinePushInfo = msg.offlinePushInfo;
    if (msg.syncOtherMachine) fields.SyncOtherMachine = msg.syncOtherMachine;
    if (msg.needReadReceipt) fields.IsNeedReadReceipt = 1;
    const reply = await this.call({ type: "send", msg: fields }, true);
    if (reply.type !== "sent") throw new ProtocolError(`a ${reply.type} frame answered a send`);
    return {
      msg_key: reply.msg_key,
      msg_time: reply.msg_time,
      msg_seq: reply.msg_seq,
      msg_random: msgRandom,
      seq: await this.seqOf(reply.msg_key),
    };
  }

  /** The seq of a sent message, once its echo is in the cache (or undefined after the request timeout). */
  private seqOf(msgKey: string): Promise<number | undefined> {
    return new Promise((resolve) => {
      // Listen before looking, so an echo stored in between is not missed.
      const waiters = this.seqWaiters.get(msgKey) ?? new Set();
      this.seqWaiters.set(msgKey, waiters);
      const timer = setTimeout(() => finish(undefined), this.opts.requestTimeoutMs);
      const finish = (seq: number | undefined) => {
        clearTimeout(timer);
        waiters.delete(finish);
        if (waiters.size === 0 && this.seqWaiters.get(msgKey) === waiters) this.seqWaiters.delete(msgKey);
        resolve(seq);
      };
      waiters.add(finish);
      void this.db.seqOf(msgKey).then((seq) => seq !== undefined && finish(seq));
    });
  }

  /**
   * Up to `count` (1 to 100) messages of the conversation with `peer` with
   * seq below `before` (default: from the newest), newest first. Served from
   * the cache; missing seqs in that range are pulled from the roaming store
   * first when online. Offline, what the cache holds.
   */
  async getMessages(peer: string, count = 20, before?: number): Promise<Message[]> {
    if (!Number.isInteger(count) || count < 1 || count > HISTORY_PAGE_MAX) {
      throw new InvalidArgumentError(`count is ${count}; it must be between 1 and ${HISTORY_PAGE_MAX}`);
    }
    const db = this.db;
    let top = before ?? (await db.lastSeq(peer)) + 1;
    if (this.connected) {
      if (before === undefined && top === 1) {
        // Nothing known about this conversation: ask for its newest page.
        try {
          const page = await this.call({ type: "history", peer, count }, true);
          await this.storeHistory(peer, page);
          top = (await db.lastSeq(peer)) + 1;
        } catch {
          // offline or refused: serve what is held
        }
      } else {
        const lo = Math.max(top - count, 1);
        const held = await db.seqs(peer, lo, top - 1);
        for (const [a, b] of gaps(lo, top - 1, held)) {
          try {
            await this.fetchRange(peer, a, b);
          } catch {
            break; // offline or a failed pull: serve what is held
          }
        }
      }
    }
    return db.page(peer, top, count);
  }

  /** Pulls a..=b of the conversation with `peer` from the roaming store. */
  private async fetchRange(peer: string, a: number, b: number): Promise<void> {
    let before = b + 1;
    while (before > a) {
      const page = await this.call(
        { type: "history", peer, after_seq: a - 1, before_seq: before, count: Math.min(before - a, HISTORY_PAGE_MAX) },
        true,
      );
      const oldest = await this.storeHistory(peer, page);
      if (oldest === undefined || (page.type === "history" && page.complete)) break;
      before = oldest;
    }
  }

  /** Stores a history reply's messages; returns the oldest seq in it. */
  private async storeHistory(peer: string, page: ServerFrame): Promise<number | undefined> {
    if (page.type !== "history") throw new ProtocolError(`a ${page.type} frame answered a history request`);
    let oldest: number | undefined;
    for (const h of page.messages as HistoryMessage[]) {
      const m: Message = { ...h, peer, conversation: conversationOf(h.from, h.to) };
      oldest = oldest === undefined ? m.seq : Math.min(oldest, m.seq);
      if (await this.db.insert(m, false)) this.fetched += 1;
    }
    return oldest;
  }

  /** Recent contacts from the cache, most recently active first, with unread counts. */
  recentContacts(): Promise<Conversation[]> {
    return this.db.conversations();
  }

  /** Marks the conversation with `peer` read up to `seq` (default: all held). */
  async markRead(peer: string, seq?: number): Promise<void> {
    const upTo = seq ?? (await this.db.lastSeq(peer));
    await this.call({ type: "read", peer, seq: upTo }, true);
    await this.db.setRead(peer, upTo);
  }

  /** Tells `peer` this user read their messages `msgKeys`, each sent asking for a read receipt; their devices raise onMessageRead. */
  async sendReadReceipts(peer: string, msgKeys: string[]): Promise<void> {
    await this.call({ type: "receipt", peer, msg_keys: msgKeys }, true);
  }

  /**
   * Tells `peer`'s online devices this user is typing (onTyping). Repeat it
   * while the user types: the server relays one every 2 s per peer and
   * refuses the rest, which this ignores. Never retried: it is only a hint.
   */
  async typing(peer: string): Promise<void> {
    try {
      await this.call({ type: "typing", peer }, false);
    } catch (e) {
      if (e instanceof ServerError && e.code === TYPING_TOO_OFTEN) return;
      throw e;
    }
  }

  /** Pins (or unpins) the conversation with `peer`: recent contacts list the pinned ones first. */
  async pinConversation(peer: string, pinned: boolean): Promise<void> {
    await this.call({ type: "pin", peer, pinned }, true);
    await this.db.setPinned(peer, pinned);
  }

  /**
   * Deletes the conversation with `peer` from this user's recent contacts
   * (unread zeroed, unpinned); with `clearHistory` its messages so far also
   * leave this user's history, on the server and in the cache.
   */
  async deleteConversation(peer: string, clearHistory = false): Promise<void> {
    await this.call({ type: "delete_conversation", peer, clear_history: clearHistory }, true);
    await this.db.forget(peer, clearHistory);
  }

  /** Recalls a message this user sent to `peer`. */
  async recall(peer: string, msgKey: string): Promise<void> {
    const attempts = { n: 0 };
    try {
      await this.call({ type: "recall", peer, msg_key: msgKey }, true, attempts);
    } catch (e) {
      // A retry whose first attempt went through before the connection dropped.
      if (e instanceof ServerError && e.code === ErrorCode.AlreadyRecalled && attempts.n > 1) return;
      throw e;
    }
  }

  /** Registers this device's token for offline push (`apns`, `fcm`, `huawei`, `xiaomi`, `oppo`, `vivo`, `meizu`). */
  async setPushToken(platform: string, token: string): Promise<void> {
    await this.call({ type: "push_token", platform, token, remove: false }, true);
  }

  async removePushToken(platform: string, token: string): Promise<void> {
    await this.call({ type: "push_token", platform, token, remove: true }, true);
  }
}
