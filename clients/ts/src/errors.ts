// Typed errors: every failure a caller can meet carries a stable `code` a UI
// can switch on, and the message says what happened in words.

/** Stable names of the ways a session or a call can fail. */
export type ErrorCode =
  /** The grant is malformed, for another role, or uses a suite this client lacks. */
  | "invalid_grant"
  /** The grant's `channel_init_expire_at_unix_s` has passed. */
  | "grant_expired"
  /** The relay closed the connection during attach; `reason` is its close reason (`invalid_token`, `token_replay`, ...). */
  | "attach_refused"
  /** The WebSocket could not be opened or closed before the session was up. */
  | "connect_failed"
  /** The endpoint authenticated this client and refused it; `reason` is its reason (`unknown key`, `key revoked`, ...). */
  | "refused"
  /** The handshake did not finish before its deadline. */
  | "handshake_timeout"
  /** The peer failed authentication (wrong PSK, tampered handshake) or spoke another protocol. */
  | "handshake_failed"
  /** A record failed to decrypt, was out of sequence, too large or malformed: the session is dead. */
  | "record_invalid"
  /** The peer broke the multiplexing protocol (window, stream limits, malformed frame). */
  | "protocol_error"
  /** The peer did not answer keepalive pings in time. */
  | "keepalive_timeout"
  /** The session or stream has been closed. */
  | "closed"
  /** A call or wait ran out of time. */
  | "timeout"
  /** The caller aborted (AbortSignal). */
  | "aborted"
  /** The peer answered a call with an error; see `RpcError.rpcCode`. */
  | "rpc_error"
  /** The peer refused or reset a stream. */
  | "stream_reset";

export class CorridorError extends Error {
  readonly code: ErrorCode;
  /** The relay's or peer's close reason, where one was given. */
  readonly reason: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { reason?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CorridorError";
    this.code = code;
    this.reason = options?.reason;
  }
}

/** The peer's answer to a call was an error envelope. */
export class RpcError extends CorridorError {
  /** The envelope's error code: 404 unknown type, 400 bad request, 429 overloaded, 500 internal, or the application's. */
  readonly rpcCode: number;
  /** The envelope's error message, as the peer wrote it. */
  readonly rpcMessage: string;

  /** Throw one from a `handle` function to answer with this code and message. */
  constructor(rpcCode: number, rpcMessage: string) {
    super("rpc_error", `RPC error ${rpcCode}: ${rpcMessage}`);
    this.name = "RpcError";
    this.rpcCode = rpcCode;
    this.rpcMessage = rpcMessage;
  }
}

export function errorOf(value: unknown, fallback: ErrorCode): CorridorError {
  if (value instanceof CorridorError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new CorridorError(fallback, message, { cause: value });
}
