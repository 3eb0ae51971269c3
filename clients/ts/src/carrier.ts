// The carrier: one WebSocket, one record per binary message. It queues
// incoming messages for the handshake, then hands them to the record layer as
// they arrive, and gives writers a way to wait while the socket's send buffer
// is full (the WebSocket API has no other backpressure signal).

import { CorridorError } from "./errors.js";

/** The browser's `WebSocket`, or a compatible constructor such as the `ws` package's in Node 20. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

export interface CloseInfo {
  code: number;
  reason: string;
  /** True when this side closed first. */
  local: boolean;
}

/** Above this many unsent bytes a writer waits; it resumes below a quarter of it. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

export class Carrier {
  private readonly queue: Uint8Array[] = [];
  private waiter: { resolve: (m: Uint8Array) => void; reject: (e: unknown) => void } | null = null;
  private handler: ((m: Uint8Array) => void) | null = null;
  private closeInfo: CloseInfo | null = null;
  private readonly closeListeners: ((info: CloseInfo) => void)[] = [];
  /** Resolves once the socket has closed, by either side. */
  readonly closed: Promise<CloseInfo>;

  private constructor(private readonly socket: WebSocket) {
    let resolveClosed!: (info: CloseInfo) => void;
    this.closed = new Promise((resolve) => (resolveClosed = resolve));
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event: MessageEvent) => {
      const data = event.data;
      // Text frames are not part of the protocol after attach: treat as garbage.
      const message = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(0);
      if (this.handler) this.handler(message);
      else if (this.waiter) {
        const waiter = this.waiter;
        this.waiter = null;
        waiter.resolve(message);
      } else this.queue.push(message);
    };
    socket.onclose = (event: CloseEvent) => {
      const info = this.closeInfo ?? { code: event.code, reason: event.reason, local: false };
      this.closeInfo = info;
      if (this.waiter) this.waiter.reject(closedError(info));
      this.waiter = null;
      for (const listener of this.closeListeners) listener(info);
      resolveClosed(info);
    };
  }

  /** Opens a WebSocket; rejects with `connect_failed` if it does not open within `timeoutMs`. */
  static open(url: string, options: { WebSocket: WebSocketConstructor; protocols?: string[]; timeoutMs: number }): Promise<Carrier> {
    return new Promise((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new options.WebSocket(url, options.protocols);
      } catch (cause) {
        reject(new CorridorError("connect_failed", `cannot open ${url}: ${String(cause)}`, { cause }));
        return;
      }
      const timer = setTimeout(() => {
        socket.close();
        reject(new CorridorError("connect_failed", `${url} did not open within ${options.timeoutMs} ms`));
      }, options.timeoutMs);
      const carrier = new Carrier(socket);
      socket.onopen = () => {
        clearTimeout(timer);
        resolve(carrier);
      };
      socket.onerror = () => undefined;
      void carrier.closed.then((info) => {
        clearTimeout(timer);
        reject(new CorridorError("connect_failed", `${url} closed before opening (code ${info.code}${info.reason ? `, ${info.reason}` : ""})`, { reason: info.reason }));
      });
    });
  }

  send(data: Uint8Array | string): void {
    if (this.closeInfo) throw closedError(this.closeInfo);
    this.socket.send(data as Uint8Array<ArrayBuffer>);
  }

  /** Resolves when the socket's send buffer has room (immediately, usually). */
  drained(): Promise<void> {
    if (this.socket.bufferedAmount < HIGH_WATER_BYTES || this.closeInfo) return Promise.resolve();
    return new Promise((resolve) => {
      const poll = () => {
        if (this.socket.bufferedAmount < HIGH_WATER_BYTES / 4 || this.closeInfo) resolve();
        else setTimeout(poll, 1);
      };
      setTimeout(poll, 1);
    });
  }

  /** The next message (handshake phase only). */
  next(): Promise<Uint8Array> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closeInfo) return Promise.reject(closedError(this.closeInfo));
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** From now on every message goes to `handler`, queued ones first. */
  deliver(handler: (message: Uint8Array) => void): void {
    for (const message of this.queue.splice(0)) handler(message);
    this.handler = handler;
  }

  onClose(listener: (info: CloseInfo) => void): void {
    if (this.closeInfo) listener(this.closeInfo);
    else this.closeListeners.push(listener);
  }

  close(code = 1000, reason = ""): void {
    if (!this.closeInfo) this.closeInfo = { code, reason, local: true };
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.close();
    }
  }
}

function closedError(info: CloseInfo): CorridorError {
  return new CorridorError("closed", `connection closed (code ${info.code}${info.reason ? `, ${info.reason}` : ""})`, { reason: info.reason });
}
