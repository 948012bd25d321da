// A persistent cache store for browsers: one IndexedDB database per user,
// so a reloaded page shows its history at once and pulls only what it lacks.

import type { CacheStore, ConversationRecord } from "./cache.js";
import type { Message } from "./protocol.js";

const VERSION = 1;

function done<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export class IndexedDBStore implements CacheStore {
  private constructor(private readonly db: IDBDatabase) {}

  /**
   * Opens (or creates) the database `name` (e.g. `missive-bob`).
   * `factory` defaults to the browser's `indexedDB`.
   */
  static async open(name: string, factory: IDBFactory = globalThis.indexedDB): Promise<IndexedDBStore> {
    const req = factory.open(name, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore("meta");
      const messages = db.createObjectStore("messages", { keyPath: ["peer", "seq"] });
      messages.createIndex("by_key", "msg_key");
      db.createObjectStore("conversations", { keyPath: "peer" });
    };
    return new IndexedDBStore(await done(req));
  }

  private async get<T>(store: string, key: IDBValidKey): Promise<T | undefined> {
    const tx = this.db.transaction(store, "readonly");
    return (await done(tx.objectStore(store).get(key))) as T | undefined;
  }

  private async put(store: string, value: unknown, key?: IDBValidKey): Promise<void> {
    const tx = this.db.transaction(store, "readwrite");
    const written = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    tx.objectStore(store).put(value, key);
    await written;
  }

  getMeta(key: string) {
    return this.get<string>("meta", key);
  }
  setMeta(key: string, value: string) {
    return this.put("meta", value, key);
  }
  getMessage(peer: string, seq: number) {
    return this.get<Message>("messages", [peer, seq]);
  }
  putMessage(m: Message) {
    return this.put("messages", m);
  }
  messages(peer: string, lo: number, hi: number, limit: number): Promise<Message[]> {
    const out: Message[] = [];
    if (lo > hi || limit <= 0) return Promise.resolve(out);
    const tx = this.db.transaction("messages", "readonly");
    const req = tx.objectStore("messages").openCursor(IDBKeyRange.bound([peer, lo], [peer, hi]), "prev");
    return new Promise((resolve, reject) => {
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const cursor = req.result;
        if (!cursor || out.length >= limit) return resolve(out);
        out.push(cursor.value as Message);
        cursor.continue();
      };
    });
  }
  async messageByKey(msgKey: string) {
    const tx = this.db.transaction("messages", "readonly");
    return (await done(tx.objectStore("messages").index("by_key").get(msgKey))) as Message | undefined;
  }
  getConversation(peer: string) {
    return this.get<ConversationRecord>("conversations", peer);
  }
  putConversation(c: ConversationRecord) {
    return this.put("conversations", c);
  }
  async conversations() {
    const tx = this.db.transaction("conversations", "readonly");
    return (await done(tx.objectStore("conversations").getAll())) as ConversationRecord[];
  }
  async deleteConversation(peer: string, messages: boolean) {
    const tx = this.db.transaction(["conversations", "messages"], "readwrite");
    const written = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    tx.objectStore("conversations").delete(peer);
    if (messages) tx.objectStore("messages").delete(IDBKeyRange.bound([peer, 0], [peer, Number.MAX_SAFE_INTEGER]));
    await written;
  }
  close() {
    this.db.close();
  }
}
