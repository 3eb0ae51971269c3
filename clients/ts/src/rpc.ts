// Typed RPC on the session's `rpc` stream: flowersec v1's envelope
// `{type_id, request_id, response_to, payload, error{code,message}}` in
// u32-length-prefixed JSON frames. Calls both ways and notifications both ways.

import { concat, fromUtf8, u32be, utf8 } from "./bytes.js";
import { CorridorError, RpcError, errorOf } from "./errors.js";
import { FrameReader } from "./hello.js";
import type { MuxStream } from "./yamux.js";

/** Largest frame sent or accepted (flowersec's default). */
export const MAX_RPC_FRAME_BYTES = 1024 * 1024;
const MAX_ID = Number.MAX_SAFE_INTEGER;

interface Envelope {
  type_id: number;
  request_id: number;
  response_to: number;
  payload: unknown;
  error?: { code: number; message?: string };
}

export interface CallOptions {
  /** Milliseconds before the call fails with `timeout` (default 30 s). */
  timeout?: number;
  /** Aborting fails the call with `aborted`; a late answer is dropped. */
  signal?: AbortSignal;
}

/** A handler for calls from the endpoint: its result is the answer; a thrown `RpcError` keeps its code, anything else is 500. */
export type CallHandler = (payload: unknown) => unknown;
export type NotifyHandler = (payload: unknown) => void;

interface Pending {
  resolve: (payload: unknown) => void;
  reject: (error: unknown) => void;
}

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= MAX_ID;
}

function parseEnvelope(body: Uint8Array): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(body));
  } catch {
    throw new CorridorError("protocol_error", "RPC frame is not JSON");
  }
  const e = value as Partial<Envelope> | null;
  if (typeof e !== "object" || e === null || !isId(e.type_id) || e.type_id > 0xffffffff || !isId(e.request_id) || !isId(e.response_to)) {
    throw new CorridorError("protocol_error", "RPC frame is not an envelope");
  }
  if (e.request_id !== 0 && e.response_to !== 0) throw new CorridorError("protocol_error", "RPC envelope ids are invalid");
  return e as Envelope;
}

export class Rpc {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<number, CallHandler>();
  private readonly listeners = new Map<number, Set<NotifyHandler>>();
  private failure: CorridorError | null = null;

  /** @internal */
  constructor(private readonly stream: MuxStream) {}

  /** Calls `typeId` with `payload` and resolves with the answer's payload. */
  call<T = unknown>(typeId: number, payload: unknown = {}, options: CallOptions = {}): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (options.signal?.aborted) return Promise.reject(new CorridorError("aborted", "call aborted before it was sent"));
    const id = this.nextId;
    this.nextId = id >= MAX_ID ? 1 : id + 1;
    const timeout = options.timeout ?? 30_000;
    return new Promise<T>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        this.pending.delete(id);
      };
      const onAbort = () => {
        cleanup();
        reject(new CorridorError("aborted", `call ${typeId} aborted`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new CorridorError("timeout", `call ${typeId} got no answer within ${timeout} ms`));
      }, timeout);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.pending.set(id, {
        resolve: (value) => {
          cleanup();
          resolve(value as T);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
      });
      this.write({ type_id: typeId, request_id: id, response_to: 0, payload: payload ?? null }).catch((error) => this.pending.get(id)?.reject(error));
    });
  }

  /** Sends a one-way notification. */
  notify(typeId: number, payload: unknown = {}): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return this.write({ type_id: typeId, request_id: 0, response_to: 0, payload: payload ?? null });
  }

  /** Runs `fn` for every notification of `typeId`, in arrival order; returns the unsubscribe function. */
  onNotify(typeId: number, fn: NotifyHandler): () => void {
    let set = this.listeners.get(typeId);
    if (!set) this.listeners.set(typeId, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** Answers the endpoint's calls of `typeId` with `fn`; returns the function that removes it. */
  handle(typeId: number, fn: CallHandler): () => void {
    this.handlers.set(typeId, fn);
    return () => {
      if (this.handlers.get(typeId) === fn) this.handlers.delete(typeId);
    };
  }

  /** @internal Reads envelopes until the stream ends; then fails what is pending. */
  async run(reader: FrameReader): Promise<void> {
    try {
      for (;;) {
        const body = await reader.next();
        if (body === null) throw new CorridorError("closed", "the endpoint closed the RPC stream");
        this.dispatch(parseEnvelope(body));
      }
    } catch (error) {
      this.fail(errorOf(error, "protocol_error"));
      if (error instanceof CorridorError && error.code === "protocol_error") this.stream.reset();
    }
  }

  /** @internal */
  fail(error: CorridorError): void {
    if (this.failure) return;
    this.failure = error;
    for (const pending of [...this.pending.values()]) pending.reject(error);
  }

  private dispatch(envelope: Envelope): void {
    if (envelope.response_to !== 0) {
      const pending = this.pending.get(envelope.response_to);
      // An answer to a call that timed out or was aborted: dropped.
      if (!pending) return;
      if (envelope.error) pending.reject(new RpcError(envelope.error.code, envelope.error.message ?? ""));
      else pending.resolve(envelope.payload);
      return;
    }
    if (envelope.request_id === 0) {
      for (const fn of this.listeners.get(envelope.type_id) ?? []) {
        try {
          fn(envelope.payload);
        } catch {
          // A listener's bug must not end the session.
        }
      }
      return;
    }
    void this.answer(envelope);
  }

  private async answer(request: Envelope): Promise<void> {
    const handler = this.handlers.get(request.type_id);
    let reply: Envelope;
    if (!handler) {
      reply = { type_id: request.type_id, request_id: 0, response_to: request.request_id, payload: null, error: { code: 404, message: "unknown type_id" } };
    } else {
      try {
        const payload = await handler(request.payload);
        reply = { type_id: request.type_id, request_id: 0, response_to: request.request_id, payload: payload ?? null };
      } catch (error) {
        const code = error instanceof RpcError ? error.rpcCode : 500;
        const message = error instanceof RpcError ? error.rpcMessage : error instanceof Error ? error.message : String(error);
        reply = { type_id: request.type_id, request_id: 0, response_to: request.request_id, payload: null, error: { code, message } };
      }
    }
    await this.write(reply).catch(() => undefined);
  }

  private write(envelope: Envelope): Promise<void> {
    const body = utf8(JSON.stringify(envelope));
    if (body.length > MAX_RPC_FRAME_BYTES) return Promise.reject(new CorridorError("protocol_error", `RPC frame of ${body.length} bytes exceeds the limit`));
    return this.stream.write(concat([u32be(body.length), body]));
  }
}
