// Typed errors. A server refusal keeps missive's Tencent error code
// (docs/errors.md) unchanged, so an app can switch on it.

/** Tencent error codes a client commonly meets (the full list: docs/errors.md). */
export const ErrorCode = {
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
  Unavailable: 91000,
  BodyTooLarge: 93000,
} as const;

export class MissiveError extends Error {
  override name = "MissiveError";
}

/** The server refused a request. */
export class ServerError extends MissiveError {
  override name = "ServerError";
  constructor(
    readonly code: number,
    readonly info: string,
  ) {
    super(`server error ${code}: ${info}`);
  }
}

/** The server refused the login (a bad, expired or foreign UserSig; a malformed login). */
export class AuthError extends MissiveError {
  override name = "AuthError";
  constructor(
    readonly code: number,
    readonly info: string,
  ) {
    super(`login refused (${code}): ${info}`);
  }
}

/** No answer within the request timeout (including the wait for a reconnect). */
export class TimeoutError extends MissiveError {
  override name = "TimeoutError";
  constructor() {
    super("not connected, and no answer within the request timeout");
  }
}

export class LoggedOutError extends MissiveError {
  override name = "LoggedOutError";
  constructor() {
    super("logged out");
  }
}

/** A bad argument, caught before anything is sent. */
export class InvalidArgumentError extends MissiveError {
  override name = "InvalidArgumentError";
}

/** The server sent something outside the protocol. */
export class ProtocolError extends MissiveError {
  override name = "ProtocolError";
}

/** The cache belongs to another user: use one cache per user. */
export class CacheOwnerError extends MissiveError {
  override name = "CacheOwnerError";
  constructor(
    readonly cacheUser: string,
    readonly user: string,
  ) {
    super(`the cache belongs to user \`${cacheUser}\`, not \`${user}\`: use one cache per user`);
  }
}

/** Internal: the connection dropped before the answer came (retried when safe). */
export class DisconnectedError extends MissiveError {
  override name = "DisconnectedError";
  constructor() {
    super("the connection dropped before the server answered");
  }
}
