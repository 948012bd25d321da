// Generated from clients/typescript by `npm run bundle:demo`: do not edit.
// The browser demo's copy of the TypeScript client (served at /demo/missive-client.js).


// dist/errors.js
var ErrorCode = {
  InvalidRequest: 20001,
  Blocked: 20007,
  NotFriends: 20009,
  NotInRecipientsFriends: 20010,
  NotInSendersFriends: 20011,
  MessageNotFound: 20022,
  AlreadyRecalled: 20023,
  RateLimited: 60018,
  UserSigExpired: 70001,
  UserSigForAnotherUser: 70013,
  MsgBodyFormat: 90002,
  ToAccountInvalid: 90003,
  FromAccountInvalid: 90008,
  AdminRequired: 90009,
  ElementFormat: 90010,
  PushPlatformInvalid: 96002,
  PushTokenInvalid: 96003,
  Unavailable: 91e3,
  BodyTooLarge: 93e3
};
var MissiveError = class extends Error {
  name = "MissiveError";
};
var ServerError = class extends MissiveError {
  code;
  info;
  name = "ServerError";
  constructor(code, info) {
    super(`server error ${code}: ${info}`);
    this.code = code;
    this.info = info;
  }
};
var AuthError = class extends MissiveError {
  code;
  info;
  name = "AuthError";
  constructor(code, info) {
    super(`login refused (${code}): ${info}`);
    this.code = code;
    this.info = info;
  }
};
var TimeoutError = class extends MissiveError {
  name = "TimeoutError";
  constructor() {
    super("not connected, and no answer within the request timeout");
  }
};
var LoggedOutError = class extends MissiveError {
  name = "LoggedOutError";
  constructor() {
    super("logged out");
  }
};
var InvalidArgumentError = class extends MissiveError {
  name = "InvalidArgumentError";
};
var ProtocolError = class extends MissiveError {
  name = "ProtocolError";
};
var CacheOwnerError = class extends MissiveError {
  cacheUser;
  user;
  name = "CacheOwnerError";
  constructor(cacheUser, user) {
    super(`the cache belongs to user \`${cacheUser}\`, not \`${user}\`: use one cache per user`);
    this.cacheUser = cacheUser;
    this.user = user;
  }
};
var DisconnectedError = class extends MissiveError {
  name = "DisconnectedError";
  constructor() {
    super("the connection dropped before the server answered");
  }
};

// dist/cache.js
var MemoryStore = class {
  meta = /* @__PURE__ */ new Map();
  byPeer = /* @__PURE__ */ new Map();
  byKey = /* @__PURE__ */ new Map();
  convs = /* @__PURE__ */ new Map();
  async getMeta(key) {
    return this.meta.get(key);
  }
  async setMeta(key, value) {
    this.meta.set(key, value);
  }
  async getMessage(peer, seq) {
    return this.byPeer.get(peer)?.get(seq);
  }
  async putMessage(m) {
    let conv = this.byPeer.get(m.peer);
    if (!conv)
      this.byPeer.set(m.peer, conv = /* @__PURE__ */ new Map());
    const copy = structuredClone(m);
    conv.set(m.seq, copy);
    this.byKey.set(m.msg_key, copy);
  }
  async messages(peer, lo, hi, limit) {
    const conv = this.byPeer.get(peer);
    if (!conv)
      return [];
    return [...conv.values()].filter((m) => m.seq >= lo && m.seq <= hi).sort((a, b) => b.seq - a.seq).slice(0, limit).map((m) => structuredClone(m));
  }
  async messageByKey(msgKey) {
    const m = this.byKey.get(msgKey);
    return m && structuredClone(m);
  }
  async getConversation(peer) {
    const c = this.convs.get(peer);
    return c && { ...c };
  }
  async putConversation(c) {
    this.convs.set(c.peer, { ...c });
  }
  async conversations() {
    return [...this.convs.values()].map((c) => ({ ...c }));
  }
  async deleteConversation(peer, messages) {
    this.convs.delete(peer);
    if (!messages)
      return;
    for (const m of this.byPeer.get(peer)?.values() ?? [])
      this.byKey.delete(m.msg_key);
    this.byPeer.delete(peer);
  }
  close() {
  }
};
var SEQ_MAX = Number.MAX_SAFE_INTEGER;
var LocalCache = class _LocalCache {
  store;
  user;
  queue = Promise.resolve();
  constructor(store, user) {
    this.store = store;
    this.user = user;
  }
  /** Opens `store` for `user`; a store that belongs to another user is refused. */
  static async open(store, user) {
    const owner = await store.getMeta("user");
    if (owner === void 0)
      await store.setMeta("user", user);
    else if (owner !== user)
      throw new CacheOwnerError(owner, user);
    return new _LocalCache(store, user);
  }
  /** Runs `f` after every earlier call: read-modify-write steps never interleave. */
  serial(f) {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => void 0);
    return run;
  }
  async conversation(peer, conversation) {
    return await this.store.getConversation(peer) ?? {
      peer,
      conversation,
      last_seq: 0,
      last_at_ms: 0,
      unread: 0,
      peer_read_seq: 0
    };
  }
  /**
   * Stores a message unless its (peer, seq) is held; true when it is new.
   * Keeps the conversation's last seq and, for an incoming live message,
   * its unread count.
   */
  insert(m, countUnread) {
    return this.serial(async () => {
      const added = await this.store.getMessage(m.peer, m.seq) === void 0;
      if (added)
        await this.store.putMessage(m);
      const c = await this.conversation(m.peer, m.conversation);
      c.last_seq = Math.max(c.last_seq, m.seq);
      c.last_at_ms = Math.max(c.last_at_ms, m.time * 1e3);
      if (added && countUnread && m.from !== this.user)
        c.unread += 1;
      await this.store.putConversation(c);
      return added;
    });
  }
  /** Replaces a held message (a recall or an edit), or stores it. */
  replace(m) {
    return this.serial(() => this.store.putMessage(m));
  }
  /** Up to `count` held messages with seq < before, newest first. */
  page(peer, before, count) {
    return this.serial(() => this.store.messages(peer, 1, before - 1, count));
  }
  /** The held seqs in lo..=hi, ascending. */
  seqs(peer, lo, hi) {
    return this.serial(async () => (await this.store.messages(peer, lo, hi, SEQ_MAX)).map((m) => m.seq).reverse());
  }
  seqOf(msgKey) {
    return this.serial(async () => (await this.store.messageByKey(msgKey))?.seq);
  }
  /** The newest seq known for the conversation with `peer` (held or announced). */
  lastSeq(peer) {
    return this.serial(async () => {
      const c = await this.store.getConversation(peer);
      const [newest] = await this.store.messages(peer, 1, SEQ_MAX, 1);
      return Math.max(c?.last_seq ?? 0, newest?.seq ?? 0);
    });
  }
  /** The server's view of a recent contact (at login). */
  setContact(peer, conversation, lastSeq, lastAtMs, unread, pinned) {
    return this.serial(async () => {
      const c = await this.conversation(peer, conversation);
      c.last_seq = Math.max(c.last_seq, lastSeq);
      c.last_at_ms = Math.max(c.last_at_ms, lastAtMs);
      c.unread = unread;
      c.pinned = pinned;
      await this.store.putConversation(c);
    });
  }
  setPinned(peer, pinned) {
    return this.serial(async () => {
      const c = await this.store.getConversation(peer);
      if (!c)
        return;
      c.pinned = pinned;
      await this.store.putConversation(c);
    });
  }
  /** The conversation with `peer` was deleted; with `clearHistory`, its messages too. */
  forget(peer, clearHistory) {
    return this.serial(() => this.store.deleteConversation(peer, clearHistory));
  }
  /** The recipient sent a read receipt for this user's message `msgKey`. */
  setMessageRead(msgKey) {
    return this.serial(async () => {
      const m = await this.store.messageByKey(msgKey);
      if (!m)
        return void 0;
      m.peer_read = true;
      await this.store.putMessage(m);
      return m;
    });
  }
  /** This user read up to `readSeq` (on any device): unread = held messages from the peer after it. */
  setRead(peer, readSeq) {
    return this.serial(async () => {
      const c = await this.store.getConversation(peer);
      if (!c)
        return;
      const after = await this.store.messages(peer, readSeq + 1, SEQ_MAX, SEQ_MAX);
      c.unread = after.filter((m) => m.from === peer).length;
      await this.store.putConversation(c);
    });
  }
  /** The peer read up to `readSeq` (a read receipt). */
  setPeerRead(peer, readSeq) {
    return this.serial(async () => {
      const c = await this.store.getConversation(peer);
      if (!c)
        return;
      c.peer_read_seq = Math.max(c.peer_read_seq, readSeq);
      await this.store.putConversation(c);
    });
  }
  /** Conversations, pinned first, then most recently active first, with their newest held message. */
  conversations() {
    return this.serial(async () => {
      const out = [];
      for (const c of await this.store.conversations()) {
        const [last] = await this.store.messages(c.peer, 1, SEQ_MAX, 1);
        out.push(last ? { ...c, last_message: last } : c);
      }
      return out.sort((a, b) => Number(b.pinned ?? false) - Number(a.pinned ?? false) || b.last_at_ms - a.last_at_ms || (a.peer < b.peer ? -1 : 1));
    });
  }
  cursor(device) {
    return this.serial(async () => {
      const v = await this.store.getMeta(`cursor:${device}`);
      return v === void 0 ? void 0 : Number(v);
    });
  }
  /** Advances (never lowers) the device's sync cursor. */
  setCursor(device, cursor) {
    return this.serial(async () => {
      const held = Number(await this.store.getMeta(`cursor:${device}`) ?? -1);
      if (cursor > held)
        await this.store.setMeta(`cursor:${device}`, String(cursor));
    });
  }
  close() {
    this.store.close();
  }
};

// dist/protocol.js
var CloseCode = {
  ShuttingDown: 1001,
  AuthFailed: 4001,
  BadLogin: 4002,
  UserSigExpired: 4003,
  TooSlow: 4008
};
function conversationOf(a, b) {
  return a <= b ? `${a}:${b}` : `${b}:${a}`;
}

// dist/client.js
var TYPING_TOO_OFTEN = 60018;
var CONNECT_TIMEOUT_MS = 1e4;
var PING_EVERY_MS = 15e3;
var HISTORY_PAGE_MAX = 100;
function randomU32() {
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0];
}
function gaps(lo, hi, held) {
  const out = [];
  let next = lo;
  for (const s of held) {
    if (s > next)
      out.push([next, s - 1]);
    next = Math.max(next, s + 1);
  }
  if (next <= hi)
    out.push([next, hi]);
  return out;
}
var Client = class {
  user;
  opts;
  store;
  WS;
  handlers = {
    newMessage: /* @__PURE__ */ new Set(),
    refresh: /* @__PURE__ */ new Set(),
    recall: /* @__PURE__ */ new Set(),
    edit: /* @__PURE__ */ new Set(),
    readReceipt: /* @__PURE__ */ new Set(),
    readElsewhere: /* @__PURE__ */ new Set(),
    messageRead: /* @__PURE__ */ new Set(),
    typing: /* @__PURE__ */ new Set(),
    connectionState: /* @__PURE__ */ new Set()
  };
  cache;
  session;
  connected = false;
  /** Logged out or refused: no more connections. */
  stopped;
  connectedWaiters = /* @__PURE__ */ new Set();
  pending = /* @__PURE__ */ new Map();
  nextId = 1;
  /** Sends waiting for their echo, to learn their seq. */
  seqWaiters = /* @__PURE__ */ new Map();
  /** Frames are applied one at a time, in arrival order. */
  frames = Promise.resolve();
  backoff;
  reconnectTimer;
  first;
  fetched = 0;
  constructor(options) {
    const WS = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WS !== "function") {
      throw new InvalidArgumentError("no WebSocket implementation: pass one as `WebSocket` (Node 20: the `ws` package or --experimental-websocket)");
    }
    if (!options.user || !options.device || new TextEncoder().encode(options.device).length > 64) {
      throw new InvalidArgumentError("user must be non-empty and device 1 to 64 bytes");
    }
    this.WS = WS;
    this.user = options.user;
    this.store = options.store ?? new MemoryStore();
    this.opts = {
      url: options.url,
      user: options.user,
      usersig: options.usersig,
      device: options.device,
      platform: options.platform ?? "Web",
      requestTimeoutMs: options.requestTimeoutMs ?? 2e4,
      reconnectMinMs: options.reconnectMinMs ?? 100,
      reconnectMaxMs: options.reconnectMaxMs ?? 5e3
    };
    this.backoff = this.opts.reconnectMinMs;
  }
  // ---- events ------------------------------------------------------------
  on(kind, f) {
    this.handlers[kind].add(f);
    return () => this.handlers[kind].delete(f);
  }
  /** A message this cache has not seen: offline ones at login, recent contacts' latest, then live ones (own sends included). Once per message. Returns an unsubscribe function. */
  onNewMessage(f) {
    return this.on("newMessage", f);
  }
  /** The login (or reconnect) sync is done: the cache is up to date. */
  onRefresh(f) {
    return this.on("refresh", f);
  }
  /** A message was recalled (its body is now empty). */
  onRecall(f) {
    return this.on("recall", f);
  }
  /** A message's body or CloudCustomData changed. */
  onEdit(f) {
    return this.on("edit", f);
  }
  /** The peer read this user's messages up to `readSeq`. */
  onReadReceipt(f) {
    return this.on("readReceipt", f);
  }
  /** This user read the conversation on another device. */
  onReadElsewhere(f) {
    return this.on("readElsewhere", f);
  }
  /** The peer read a message this user sent asking for a read receipt (its cached copy now has `peer_read`). */
  onMessageRead(f) {
    return this.on("messageRead", f);
  }
  /** The peer is typing to this user (online only, never stored). */
  onTyping(f) {
    return this.on("typing", f);
  }
  onConnectionState(f) {
    return this.on("connectionState", f);
  }
  emit(kind, ...args) {
    for (const f of this.handlers[kind]) {
      try {
        f(...args);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }
  // ---- connection ----------------------------------------------------------
  get isConnected() {
    return this.connected;
  }
  /** Messages pulled from the roaming store by `getMessages` so far. */
  get roamingFetched() {
    return this.fetched;
  }
  /**
   * Opens the cache, connects and logs in with the cursor the cache holds.
   * Resolves once the server accepted the login (the sync then arrives as
   * events), or at once if the server cannot be reached (the client keeps
   * trying; the cache serves meanwhile). A refused UserSig rejects with
   * `AuthError`; a store of another user with `CacheOwnerError`.
   */
  async login() {
    if (this.cache)
      throw new InvalidArgumentError("login was already called");
    this.cache = await LocalCache.open(this.store, this.user);
    await new Promise((resolve, reject) => {
      this.first = { resolve, reject };
      this.connect();
    });
  }
  get db() {
    if (!this.cache)
      throw new InvalidArgumentError("call login() first");
    return this.cache;
  }
  connect() {
    this.reconnectTimer = void 0;
    if (this.stopped)
      return;
    this.emit("connectionState", { state: "connecting" });
    let ws;
    try {
      ws = new this.WS(this.opts.url);
    } catch (e) {
      this.ended(void 0, `connect: ${String(e)}`);
      return;
    }
    const s = { ws, loggedIn: false, synced: false, ended: false, lastRx: Date.now(), timers: [] };
    this.session = s;
    s.timers.push(setTimeout(() => {
      if (!s.loggedIn)
        this.cut(s, "no answer to login in time");
    }, CONNECT_TIMEOUT_MS));
    ws.onopen = () => {
      void this.db.cursor(this.opts.device).then((cursor) => {
        if (s.ended)
          return;
        const login = {
          type: "login",
          user: this.user,
          usersig: this.opts.usersig,
          device: this.opts.device,
          platform: this.opts.platform
        };
        if (cursor !== void 0)
          login.cursor = cursor;
        ws.send(JSON.stringify(login));
      });
    };
    ws.onmessage = (ev) => {
      if (s.ended)
        return;
      s.lastRx = Date.now();
      let f;
      try {
        f = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (!s.loggedIn) {
        this.onLoginAnswer(s, f);
        return;
      }
      this.frames = this.frames.then(() => this.onFrame(s, f)).catch(() => void 0);
    };
    ws.onerror = () => this.cut(s, "the connection failed");
    ws.onclose = (ev) => this.ended(s, `closed by the server (${ev.code}): ${ev.reason}`, ev.code, ev.reason);
  }
  onLoginAnswer(s, f) {
    if (f.type === "error") {
      s.refused = { code: f.code, info: f.info };
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
    this.first = void 0;
    for (const w of this.connectedWaiters)
      w();
    this.connectedWaiters.clear();
    s.timers.push(setInterval(() => {
      if (Date.now() - s.lastRx > 3 * PING_EVERY_MS)
        this.cut(s, "no frame from the server for too long");
      else
        s.ws.send(JSON.stringify({ type: "ping" }));
    }, PING_EVERY_MS));
  }
  /** Ends a session from this side (a timeout, a protocol breach). */
  cut(s, reason) {
    this.ended(s, reason);
    try {
      s.ws.close();
    } catch {
    }
  }
  /** A session ended: fail its requests (callers retry the safe ones), then reconnect or stop. */
  ended(s, reason, closeCode, closeReason) {
    if (s) {
      if (s.ended)
        return;
      s.ended = true;
      for (const t of s.timers)
        clearTimeout(t);
      s.ws.onopen = s.ws.onmessage = s.ws.onclose = s.ws.onerror = null;
      if (this.session === s)
        this.session = void 0;
    }
    this.connected = false;
    const failure = this.stopped ?? new DisconnectedError();
    for (const p of this.pending.values())
      p.reject(failure);
    this.pending.clear();
    if (this.stopped)
      return;
    if (s && !s.loggedIn && (closeCode === CloseCode.AuthFailed || closeCode === CloseCode.BadLogin)) {
      const code = s.refused?.code ?? closeCode;
      const info = s.refused?.info ?? closeReason ?? "";
      this.stop(new AuthError(code, info));
      if (this.first)
        this.first.reject(new AuthError(code, info));
      else
        this.emit("connectionState", { state: "authFailed", code, info });
      this.first = void 0;
      return;
    }
    this.emit("connectionState", { state: "disconnected", reason });
    this.first?.resolve();
    this.first = void 0;
    if (s?.synced)
      this.backoff = this.opts.reconnectMinMs;
    const wait = this.backoff * (0.5 + Math.random() / 2);
    this.backoff = Math.min(this.backoff * 2, this.opts.reconnectMaxMs);
    this.reconnectTimer = setTimeout(() => this.connect(), wait);
  }
  stop(why) {
    this.stopped = why;
    if (this.reconnectTimer !== void 0)
      clearTimeout(this.reconnectTimer);
    for (const w of this.connectedWaiters)
      w();
    this.connectedWaiters.clear();
  }
  /** Closes the connection; the cache's data stays for the next login. */
  async logout() {
    if (this.stopped)
      return;
    this.stop(new LoggedOutError());
    const s = this.session;
    if (s) {
      this.ended(s, "logout");
      try {
        s.ws.close(1e3, "logout");
      } catch {
      }
    }
    this.emit("connectionState", { state: "loggedOut" });
    await this.frames;
    this.cache?.close();
  }
  // ---- frames --------------------------------------------------------------
  /** Applies one server frame to the cache, then tells the app. */
  async onFrame(s, f) {
    if ("id" in f && typeof f.id === "number" && this.pending.has(f.id)) {
      const p = this.pending.get(f.id);
      this.pending.delete(f.id);
      if (f.type === "error")
        p.reject(new ServerError(f.code, f.info));
      else
        p.resolve(f);
      return;
    }
    const db = this.db;
    switch (f.type) {
      case "message": {
        const { type: _t, cursor, event, ...rest } = f;
        const m = rest;
        if (event === "recall" || event === "edit") {
          await db.replace(m);
          this.emit(event, m);
        } else {
          if (await db.insert(m, true))
            this.emit("newMessage", m);
          for (const w of this.seqWaiters.get(m.msg_key) ?? [])
            w(m.seq);
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
        for (const c of f.contacts) {
          const latest = [...c.messages ?? []];
          if (c.last_message)
            latest.push(c.last_message);
          latest.sort((a, b) => a.seq - b.seq);
          for (const h of latest) {
            const m = { ...h, peer: c.peer, conversation: c.conversation };
            if (await db.insert(m, false))
              this.emit("newMessage", m);
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
        break;
    }
  }
  // ---- requests --------------------------------------------------------------
  waitConnected(deadline) {
    if (this.stopped)
      return Promise.reject(this.stopped);
    if (this.connected)
      return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.connectedWaiters.delete(ready);
        reject(new TimeoutError());
      }, deadline - Date.now());
      const ready = () => {
        clearTimeout(timer);
        if (this.stopped)
          reject(this.stopped);
        else
          resolve();
      };
      this.connectedWaiters.add(ready);
    });
  }
  /**
   * Sends a request and waits for its reply; with `retry`, a request cut
   * off by a lost connection is sent again after the reconnect.
   */
  async call(frame, retry, attempts = { n: 0 }) {
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    for (; ; ) {
      await this.waitConnected(deadline);
      const s = this.session;
      if (!this.connected || !s)
        continue;
      const id = this.nextId++;
      const reply = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
      attempts.n += 1;
      s.ws.send(JSON.stringify({ ...frame, id }));
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new TimeoutError());
        }, deadline - Date.now());
      });
      try {
        return await Promise.race([reply, timeout]);
      } catch (e) {
        if (e instanceof DisconnectedError && retry)
          continue;
        throw e;
      } finally {
        clearTimeout(timer);
      }
    }
  }
  /** Sends a message of any element types. */
  sendMessage(to, body) {
    return this.send({ to, body });
  }
  /**
   * Sends a message. A retry after a lost connection carries the same
   * `MsgRandom` and `MsgSeq`, so the server stores it once (docs/idempotency.md).
   */
  async send(msg) {
    if (msg.body.length === 0)
      throw new InvalidArgumentError("a message needs at least one element");
    const msgRandom = randomU32();
    const msgSeq = randomU32();
    const fields = { To_Account: msg.to, MsgRandom: msgRandom, MsgSeq: msgSeq, MsgBody: msg.body };
    if (msg.cloudCustomData)
      fields.CloudCustomData = msg.cloudCustomData;
    if (msg.onlineOnly)
      fields.MsgLifeTime = 0;
    if (msg.offlinePushInfo)
      fields.OfflinePushInfo = msg.offlinePushInfo;
    if (msg.syncOtherMachine)
      fields.SyncOtherMachine = msg.syncOtherMachine;
    if (msg.needReadReceipt)
      fields.IsNeedReadReceipt = 1;
    const reply = await this.call({ type: "send", msg: fields }, true);
    if (reply.type !== "sent")
      throw new ProtocolError(`a ${reply.type} frame answered a send`);
    return {
      msg_key: reply.msg_key,
      msg_time: reply.msg_time,
      msg_seq: reply.msg_seq,
      msg_random: msgRandom,
      seq: await this.seqOf(reply.msg_key)
    };
  }
  /** The seq of a sent message, once its echo is in the cache (or undefined after the request timeout). */
  seqOf(msgKey) {
    return new Promise((resolve) => {
      const waiters = this.seqWaiters.get(msgKey) ?? /* @__PURE__ */ new Set();
      this.seqWaiters.set(msgKey, waiters);
      const timer = setTimeout(() => finish(void 0), this.opts.requestTimeoutMs);
      const finish = (seq) => {
        clearTimeout(timer);
        waiters.delete(finish);
        if (waiters.size === 0 && this.seqWaiters.get(msgKey) === waiters)
          this.seqWaiters.delete(msgKey);
        resolve(seq);
      };
      waiters.add(finish);
      void this.db.seqOf(msgKey).then((seq) => seq !== void 0 && finish(seq));
    });
  }
  /**
   * Up to `count` (1 to 100) messages of the conversation with `peer` with
   * seq below `before` (default: from the newest), newest first. Served from
   * the cache; missing seqs in that range are pulled from the roaming store
   * first when online. Offline, what the cache holds.
   */
  async getMessages(peer, count = 20, before) {
    if (!Number.isInteger(count) || count < 1 || count > HISTORY_PAGE_MAX) {
      throw new InvalidArgumentError(`count is ${count}; it must be between 1 and ${HISTORY_PAGE_MAX}`);
    }
    const db = this.db;
    let top = before ?? await db.lastSeq(peer) + 1;
    if (this.connected) {
      if (before === void 0 && top === 1) {
        try {
          const page = await this.call({ type: "history", peer, count }, true);
          await this.storeHistory(peer, page);
          top = await db.lastSeq(peer) + 1;
        } catch {
        }
      } else {
        const lo = Math.max(top - count, 1);
        const held = await db.seqs(peer, lo, top - 1);
        for (const [a, b] of gaps(lo, top - 1, held)) {
          try {
            await this.fetchRange(peer, a, b);
          } catch {
            break;
          }
        }
      }
    }
    return db.page(peer, top, count);
  }
  /** Pulls a..=b of the conversation with `peer` from the roaming store. */
  async fetchRange(peer, a, b) {
    let before = b + 1;
    while (before > a) {
      const page = await this.call({ type: "history", peer, after_seq: a - 1, before_seq: before, count: Math.min(before - a, HISTORY_PAGE_MAX) }, true);
      const oldest = await this.storeHistory(peer, page);
      if (oldest === void 0 || page.type === "history" && page.complete)
        break;
      before = oldest;
    }
  }
  /** Stores a history reply's messages; returns the oldest seq in it. */
  async storeHistory(peer, page) {
    if (page.type !== "history")
      throw new ProtocolError(`a ${page.type} frame answered a history request`);
    let oldest;
    for (const h of page.messages) {
      const m = { ...h, peer, conversation: conversationOf(h.from, h.to) };
      oldest = oldest === void 0 ? m.seq : Math.min(oldest, m.seq);
      if (await this.db.insert(m, false))
        this.fetched += 1;
    }
    return oldest;
  }
  /** Recent contacts from the cache, most recently active first, with unread counts. */
  recentContacts() {
    return this.db.conversations();
  }
  /** Marks the conversation with `peer` read up to `seq` (default: all held). */
  async markRead(peer, seq) {
    const upTo = seq ?? await this.db.lastSeq(peer);
    await this.call({ type: "read", peer, seq: upTo }, true);
    await this.db.setRead(peer, upTo);
  }
  /** Tells `peer` this user read their messages `msgKeys`, each sent asking for a read receipt; their devices raise onMessageRead. */
  async sendReadReceipts(peer, msgKeys) {
    await this.call({ type: "receipt", peer, msg_keys: msgKeys }, true);
  }
  /**
   * Tells `peer`'s online devices this user is typing (onTyping). Repeat it
   * while the user types: the server relays one every 2 s per peer and
   * refuses the rest, which this ignores. Never retried: it is only a hint.
   */
  async typing(peer) {
    try {
      await this.call({ type: "typing", peer }, false);
    } catch (e) {
      if (e instanceof ServerError && e.code === TYPING_TOO_OFTEN)
        return;
      throw e;
    }
  }
  /** Pins (or unpins) the conversation with `peer`: recent contacts list the pinned ones first. */
  async pinConversation(peer, pinned) {
    await this.call({ type: "pin", peer, pinned }, true);
    await this.db.setPinned(peer, pinned);
  }
  /**
   * Deletes the conversation with `peer` from this user's recent contacts
   * (unread zeroed, unpinned); with `clearHistory` its messages so far also
   * leave this user's history, on the server and in the cache.
   */
  async deleteConversation(peer, clearHistory = false) {
    await this.call({ type: "delete_conversation", peer, clear_history: clearHistory }, true);
    await this.db.forget(peer, clearHistory);
  }
  /** Recalls a message this user sent to `peer`. */
  async recall(peer, msgKey) {
    const attempts = { n: 0 };
    try {
      await this.call({ type: "recall", peer, msg_key: msgKey }, true, attempts);
    } catch (e) {
      if (e instanceof ServerError && e.code === ErrorCode.AlreadyRecalled && attempts.n > 1)
        return;
      throw e;
    }
  }
  /** Registers this device's token for offline push (`apns`, `fcm`, `huawei`, `xiaomi`, `oppo`, `vivo`, `meizu`). */
  async setPushToken(platform, token) {
    await this.call({ type: "push_token", platform, token, remove: false }, true);
  }
  async removePushToken(platform, token) {
    await this.call({ type: "push_token", platform, token, remove: true }, true);
  }
};

// dist/indexeddb.js
var VERSION = 1;
function done(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
var IndexedDBStore = class _IndexedDBStore {
  db;
  constructor(db) {
    this.db = db;
  }
  /**
   * Opens (or creates) the database `name` (e.g. `missive-bob`).
   * `factory` defaults to the browser's `indexedDB`.
   */
  static async open(name, factory = globalThis.indexedDB) {
    const req = factory.open(name, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore("meta");
      const messages = db.createObjectStore("messages", { keyPath: ["peer", "seq"] });
      messages.createIndex("by_key", "msg_key");
      db.createObjectStore("conversations", { keyPath: "peer" });
    };
    return new _IndexedDBStore(await done(req));
  }
  async get(store, key) {
    const tx = this.db.transaction(store, "readonly");
    return await done(tx.objectStore(store).get(key));
  }
  async put(store, value, key) {
    const tx = this.db.transaction(store, "readwrite");
    const written = new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    tx.objectStore(store).put(value, key);
    await written;
  }
  getMeta(key) {
    return this.get("meta", key);
  }
  setMeta(key, value) {
    return this.put("meta", value, key);
  }
  getMessage(peer, seq) {
    return this.get("messages", [peer, seq]);
  }
  putMessage(m) {
    return this.put("messages", m);
  }
  messages(peer, lo, hi, limit) {
    const out = [];
    if (lo > hi || limit <= 0)
      return Promise.resolve(out);
    const tx = this.db.transaction("messages", "readonly");
    const req = tx.objectStore("messages").openCursor(IDBKeyRange.bound([peer, lo], [peer, hi]), "prev");
    return new Promise((resolve, reject) => {
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const cursor = req.result;
        if (!cursor || out.length >= limit)
          return resolve(out);
        out.push(cursor.value);
        cursor.continue();
      };
    });
  }
  async messageByKey(msgKey) {
    const tx = this.db.transaction("messages", "readonly");
    return await done(tx.objectStore("messages").index("by_key").get(msgKey));
  }
  getConversation(peer) {
    return this.get("conversations", peer);
  }
  putConversation(c) {
    return this.put("conversations", c);
  }
  async conversations() {
    const tx = this.db.transaction("conversations", "readonly");
    return await done(tx.objectStore("conversations").getAll());
  }
  async deleteConversation(peer, messages) {
    const tx = this.db.transaction(["conversations", "messages"], "readwrite");
    const written = new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    tx.objectStore("conversations").delete(peer);
    if (messages)
      tx.objectStore("messages").delete(IDBKeyRange.bound([peer, 0], [peer, Number.MAX_SAFE_INTEGER]));
    await written;
  }
  close() {
    this.db.close();
  }
};

// dist/elements.js
var elements = {
  text: (text) => ({ MsgType: "TIMTextElem", MsgContent: { Text: text } }),
  face: (index, data = "") => ({ MsgType: "TIMFaceElem", MsgContent: { Index: index, Data: data } }),
  location: (latitude, longitude, desc = "") => ({
    MsgType: "TIMLocationElem",
    MsgContent: { Desc: desc, Latitude: latitude, Longitude: longitude }
  }),
  custom: (data, desc = "", ext = "") => ({
    MsgType: "TIMCustomElem",
    MsgContent: { Data: data, Desc: desc, Ext: ext }
  })
};
function describe(body) {
  return body.map((e) => {
    switch (e.MsgType) {
      case "TIMTextElem":
        return e.MsgContent.Text;
      case "TIMFaceElem":
        return `[face ${e.MsgContent.Index}]`;
      case "TIMLocationElem":
        return `[location ${e.MsgContent.Desc ?? ""}]`;
      case "TIMImageElem":
        return "[image]";
      case "TIMSoundElem":
        return `[audio ${e.MsgContent.Second}s]`;
      case "TIMFileElem":
        return `[file ${e.MsgContent.FileName}]`;
      case "TIMVideoFileElem":
        return `[video ${e.MsgContent.VideoSecond}s]`;
      case "TIMCustomElem":
        return `[custom ${e.MsgContent.Desc || e.MsgContent.Data || ""}]`;
      case "TIMSystemElem":
        return `[system ${e.MsgContent.Text || e.MsgContent.Kind}]`;
    }
  }).join(" ");
}
export {
  AuthError,
  CacheOwnerError,
  Client,
  CloseCode,
  ErrorCode,
  IndexedDBStore,
  InvalidArgumentError,
  LocalCache,
  LoggedOutError,
  MemoryStore,
  MissiveError,
  ProtocolError,
  ServerError,
  TimeoutError,
  conversationOf,
  describe,
  elements,
  gaps
};
