// The local cache: messages keyed by (peer, seq), the conversations with
// their unread counts, and the device's inbox cursor. Storage is pluggable
// (`CacheStore`): in memory by default, IndexedDB in browsers
// (`IndexedDBStore`); the rules (what is new, what is unread) live here once.

import type { Message } from "./protocol.js";
import { CacheOwnerError } from "./errors.js";

/** A conversation as the cache keeps it. */
export interface Conversation {
  peer: string;
  conversation: string;
  /** The newest seq known (held or announced by the server). */
  last_seq: number;
  /** Unix ms of the last activity. */
  last_at_ms: number;
  unread: number;
  /** How far the peer has read this user's messages (read receipts). */
  peer_read_seq: number;
  /** Pinned by this user: listed first (absent in caches written before pinning). */
  pinned?: boolean;
  /** The newest message held locally. */
  last_message?: Message;
}

export type ConversationRecord = Omit<Conversation, "last_message">;

/** Where the cache keeps its data. Each call is independent; `LocalCache` serialises them. */
export interface CacheStore {
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  getMessage(peer: string, seq: number): Promise<Message | undefined>;
  /** Stores (or replaces) the message at `(m.peer, m.seq)`. */
  putMessage(m: Message): Promise<void>;
  /** Held messages with `lo <= seq <= hi`, newest first, at most `limit`. */
  messages(peer: string, lo: number, hi: number, limit: number): Promise<Message[]>;
  messageByKey(msgKey: string): Promise<Message | undefined>;
  getConversation(peer: string): Promise<ConversationRecord | undefined>;
  putConversation(c: ConversationRecord): Promise<void>;
  conversations(): Promise<ConversationRecord[]>;
  /** Drops the conversation with `peer`; with `messages`, its held messages too. */
  deleteConversation(peer: string, messages: boolean): Promise<void>;
  close(): void;
}

/** The default store: nothing survives the process. */
export class MemoryStore implements CacheStore {
  private readonly meta = new Map<string, string>();
  private readonly byPeer = new Map<string, Map<number, Message>>();
  private readonly byKey = new Map<string, Message>();
  private readonly convs = new Map<string, ConversationRecord>();

  async getMeta(key: string) {
    return this.meta.get(key);
  }
  async setMeta(key: string, value: string) {
    this.meta.set(key, value);
  }
  async getMessage(peer: string, seq: number) {
    return this.byPeer.get(peer)?.get(seq);
  }
  async putMessage(m: Message) {
    let conv = this.byPeer.get(m.peer);
    if (!conv) this.byPeer.set(m.peer, (conv = new Map()));
    const copy = structuredClone(m);
    conv.set(m.seq, copy);
    this.byKey.set(m.msg_key, copy);
  }
  async messages(peer: string, lo: number, hi: number, limit: number) {
    const conv = this.byPeer.get(peer);
    if (!conv) return [];
    return [...conv.values()]
      .filter((m) => m.seq >= lo && m.seq <= hi)
      .sort((a, b) => b.seq - a.seq)
      .slice(0, limit)
      .map((m) => structuredClone(m));
  }
  async messageByKey(msgKey: string) {
    const m = this.byKey.get(msgKey);
    return m && structuredClone(m);
  }
  async getConversation(peer: string) {
    const c = this.convs.get(peer);
    return c && { ...c };
  }
  async putConversation(c: ConversationRecord) {
    this.convs.set(c.peer, { ...c });
  }
  async conversations() {
    return [...this.convs.values()].map((c) => ({ ...c }));
  }
  async deleteConversation(peer: string, messages: boolean) {
    this.convs.delete(peer);
    if (!messages) return;
    for (const m of this.byPeer.get(peer)?.values() ?? []) this.byKey.delete(m.msg_key);
    this.byPeer.delete(peer);
  }
  close() {}
}

const SEQ_MAX = Number.MAX_SAFE_INTEGER;

/** The cache's rules over a store; every change runs alone, in call order. */
export class LocalCache {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly store: CacheStore,
    private readonly user: string,
  ) {}

  /** Opens `store` for `user`; a store that belongs to another user is refused. */
  static async open(store: CacheStore, user: string): Promise<LocalCache> {
    const owner = await store.getMeta("user");
    if (owner === undefined) await store.setMeta("user", user);
    else if (owner !== user) throw new CacheOwnerError(owner, user);
    return new LocalCache(store, user);
  }

  /** Runs `f` after every earlier call: read-modify-write steps never interleave. */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async conversation(peer: string, conversation: string): Promise<ConversationRecord> {
    return (
      (await this.store.getConversation(peer)) ?? {
        peer,
        conversation,
        last_seq: 0,
        last_at_ms: 0,
        unread: 0,
        peer_read_seq: 0,
      }
    );
  }

  /**
   * Stores a message unless its (peer, seq) is held; true when it is new.
   * Keeps the conversation's last seq and, for an incoming live message,
   * its unread count.
   */
  insert(m: Message, countUnread: boolean): Promise<boolean> {
    return this.serial(async () => {
      const added = (await this.store.getMessage(m.peer, m.seq)) === undefined;
      if (added) await this.store.putMessage(m);
      const c = await this.conversation(m.peer, m.conversation);
      c.last_seq = Math.max(c.last_seq, m.seq);
      c.last_at_ms = Math.max(c.last_at_ms, m.time * 1000);
      if (added && countUnread && m.from !== this.user) c.unread += 1;
      await this.store.putConversation(c);
      return added;
    });
  }

  /** Replaces a held message (a recall or an edit), or stores it. */
  replace(m: Message): Promise<void> {
    return this.serial(() => this.store.putMessage(m));
  }

  /** Up to `count` held messages with seq < before, newest first. */
  page(peer: string, before: number, count: number): Promise<Message[]> {
    return this.serial(() => this.store.messages(peer, 1, before - 1, count));
  }

  /** The held seqs in lo..=hi, ascending. */
  seqs(peer: string, lo: number, hi: number): Promise<number[]> {
    return this.serial(async () =>
      (await this.store.messages(peer, lo, hi, SEQ_MAX)).map((m) => m.seq).reverse(),
    );
  }

  seqOf(msgKey: string): Promise<number | undefined> {
    return this.serial(async () => (await this.store.messageByKey(msgKey))?.seq);
  }

  /** The newest seq known for the conversation with `peer` (held or announced). */
  lastSeq(peer: string): Promise<number> {
    return this.serial(async () => {
      const c = await this.store.getConversation(peer);
      const [newest] = await this.store.messages(peer, 1, SEQ_MAX, 1);
      return Math.max(c?.last_seq ?? 0, newest?.seq ?? 0);
    });
  }

  /** The server's view of a recent contact (at login). */
  setContact(peer: string, conversation: string, lastSeq: number, lastAtMs: number, unread: number, pinned: boolean): Promise<void> {
    return this.serial(async () => {
      const c = await this.conversation(peer, conversation);
      c.last_seq = Math.max(c.last_seq, lastSeq);
      c.last_at_ms = Math.max(c.last_at_ms, lastAtMs);
      c.unread = unread;
      c.pinned = pinned;
      await this.store.putConversation(c);
    });
  }

  setPinned(peer: string, pinned: boolean): Promise<void> {
    return this.serial(async () => {
      const c = await this.store.getConversation(peer);
      if (!c) return;
      c.pinned = pinned;
      await this.store.putConversation(c);
    });
  }

  /** The conversation with `peer` was deleted; with `clearHistory`, its messages too. */
  forget(peer: string, clearHistory: boolean): Promise<void> {
    return this.serial(() => this.store.deleteConversation(peer, clearHistory));
  }

  /** The recipient sent a read receipt for this user's message `msgKey`. */
  setMessageRead(msgKey: string): Promise<Message | undefined> {
    return this.serial(async () => {
      const m = await this.store.messageByKey(msgKey);
      if (!m) return undefined;
      m.peer_read = true;
      await this.store.putMessage(m);
      return m;
    });
  }

  /** This user read up to `readSeq` (on any device): unread = held messages from the peer after it. */
  setRead(peer: string, readSeq: number): Promise<void> {
    return this.serial(async () => {
      const c = await this.store.getConversation(peer);
      if (!c) return;
      const after = await this.store.messages(peer, readSeq + 1, SEQ_MAX, SEQ_MAX);
      c.unread = after.filter((m) => m.from === peer).length;
      await this.store.putConversation(c);
    });
  }

  /** The peer read up to `readSeq` (a read receipt). */
  setPeerRead(peer: string, readSeq: number): Promise<void> {
    return this.serial(async () => {
      const c = await this.store.getConversation(peer);
      if (!c) return;
      c.peer_read_seq = Math.max(c.peer_read_seq, readSeq);
      await this.store.putConversation(c);
    });
  }

  /** Conversations, pinned first, then most recently active first, with their newest held message. */
  conversations(): Promise<Conversation[]> {
    return this.serial(async () => {
      const out: Conversation[] = [];
      for (const c of await this.store.conversations()) {
        const [last] = await this.store.messages(c.peer, 1, SEQ_MAX, 1);
        out.push(last ? { ...c, last_message: last } : c);
      }
      return out.sort(
        (a, b) => Number(b.pinned ?? false) - Number(a.pinned ?? false) || b.last_at_ms - a.last_at_ms || (a.peer < b.peer ? -1 : 1),
      );
    });
  }

  cursor(device: string): Promise<number | undefined> {
    return this.serial(async () => {
      const v = await this.store.getMeta(`cursor:${device}`);
      return v === undefined ? undefined : Number(v);
    });
  }

  /** Advances (never lowers) the device's sync cursor. */
  setCursor(device: string, cursor: number): Promise<void> {
    return this.serial(async () => {
      const held = Number((await this.store.getMeta(`cursor:${device}`)) ?? -1);
      if (cursor > held) await this.store.setMeta(`cursor:${device}`, String(cursor));
    });
  }

  close(): void {
    this.store.close();
  }
}
