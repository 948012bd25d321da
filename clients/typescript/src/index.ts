// missive's TypeScript client: log in over the WebSocket protocol
// (docs/protocol.md), receive messages as events, send every element type
// with safe retries, read history from a local cache completed from the
// server's roaming store. See docs/sdk.md.

export { Client, gaps } from "./client.js";
export type { ClientOptions, ConnectionState, Outgoing, SentMessage, WebSocketConstructor, WebSocketLike } from "./client.js";
export { LocalCache, MemoryStore } from "./cache.js";
export type { CacheStore, Conversation, ConversationRecord } from "./cache.js";
export { IndexedDBStore } from "./indexeddb.js";
export { elements, describe } from "./elements.js";
export type * from "./elements.js";
export { CloseCode, conversationOf } from "./protocol.js";
export type { ContactEntry, HistoryMessage, Message, ServerFrame } from "./protocol.js";
export {
  AuthError,
  CacheOwnerError,
  ErrorCode,
  InvalidArgumentError,
  LoggedOutError,
  MissiveError,
  ProtocolError,
  ServerError,
  TimeoutError,
} from "./errors.js";
