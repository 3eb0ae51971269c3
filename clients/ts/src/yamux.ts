// yamux (the wire format of flowersec v1, libp2p and the Rust `yamux` crate)
// over the record layer's byte stream, client side: this side opens odd
// stream ids. Windows are fixed at 256 KiB per stream, as corridor's Rust
// endpoint and flowersec v1 expect (flowersec refuses an update that takes
// its send window above that). Credit goes back as data arrives while a
// stream holds less than RECEIVE_BUFFER unread, so the peer never waits on
// the application's pace within that bound; a reader that stops stops its
// peer once the buffer is full. Every peer-controlled quantity is
// checked: a frame larger than the window, a stream over the limit or a
// malformed header ends the session with `protocol_error`.

import { readU32, writeU32 } from "./bytes.js";
import { CorridorError } from "./errors.js";

const HEADER = 12;
const enum Type {
  Data = 0,
  WindowUpdate = 1,
  Ping = 2,
  GoAway = 3,
}
const SYN = 1;
const ACK = 2;
const FIN = 4;
const RST = 8;

/** Each stream's receive and initial send window. */
export const STREAM_WINDOW = 256 * 1024;
/** Largest data frame sent (flowersec accepts frames up to a window). */
const MAX_FRAME = 128 * 1024;
/** Unread bytes a stream may hold before it stops giving credit. */
export const RECEIVE_BUFFER = 4 * STREAM_WINDOW;
/** Credit is sent in steps of at least this much (fewer frames). */
const CREDIT_STEP = STREAM_WINDOW / 4;

export interface MuxOptions {
  /** 1 for the client (odd ids, the default), 2 for the accepting side. */
  firstStreamId?: 1 | 2;
  /** Streams the peer may have open towards us. */
  maxInboundStreams: number;
  /** Streams we may have open at once. */
  maxOutboundStreams: number;
  /** Inbound streams waiting for `accept`. */
  acceptBacklog: number;
  /** A ping goes out this often; 0 disables keepalive. */
  keepaliveIntervalMs: number;
  /** A ping unanswered this long ends the session. */
  keepaliveTimeoutMs: number;
}

/** Where frames go: resolves when the bytes have been accepted downstream (backpressure). */
export type FrameSink = (parts: Uint8Array[]) => Promise<void>;

function header(type: Type, flags: number, stream: number, length: number): Uint8Array {
  const h = new Uint8Array(HEADER);
  h[1] = type;
  h[2] = flags >>> 8;
  h[3] = flags & 0xff;
  writeU32(h, 4, stream);
  writeU32(h, 8, length);
  return h;
}

/** Bytes from consecutive records, read frame by frame without copying where a frame sits in one record. */
class ByteQueue {
  private chunks: Uint8Array[] = [];
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  take(n: number): Uint8Array {
    this.length -= n;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, n - at);
      out.set(chunk.subarray(0, used), at);
      at += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/** One yamux stream: a byte reader with window credit and a writer bounded by the peer's credit. */
export class MuxStream {
  private readonly received: Uint8Array[] = [];
  private reader: Waiter<Uint8Array | null> | null = null;
  private creditWaiter: Waiter<void> | null = null;
  private sendWindow = STREAM_WINDOW;
  private recvWindow = STREAM_WINDOW;
  private buffered = 0;
  private remoteClosed = false;
  private localClosed = false;
  private failure: CorridorError | null = null;

  constructor(
    private readonly mux: Mux,
    readonly id: number,
  ) {}

  /** The next bytes, or null once the peer has finished; rejects if the stream was reset. */
  read(): Promise<Uint8Array | null> {
    const chunk = this.received.shift();
    if (chunk) {
      this.consumed(chunk.length);
      return Promise.resolve(chunk);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.remoteClosed) return Promise.resolve(null);
    return new Promise((resolve, reject) => (this.reader = { resolve, reject }));
  }

  /**
   * Writes all of `bytes`, waiting for the peer's credit as needed. Frames go
   * out as credit allows without waiting for each other; the promise settles
   * once the last has been accepted downstream.
   */
  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    let last: Promise<void> = Promise.resolve();
    while (at < bytes.length) {
      if (this.failure) throw this.failure;
      if (this.localClosed) throw new CorridorError("closed", "stream already closed for writing");
      if (this.sendWindow === 0) {
        await new Promise<void>((resolve, reject) => (this.creditWaiter = { resolve, reject }));
        continue;
      }
      const n = Math.min(this.sendWindow, bytes.length - at, MAX_FRAME);
      this.sendWindow -= n;
      const payload = bytes.subarray(at, at + n);
      at += n;
      last = this.mux.send([header(Type.Data, 0, this.id, n), payload]);
      // Awaited below; a failure before then is the session's and reaches every writer.
      last.catch(() => undefined);
    }
    await last;
  }

  /** Half-closes: the peer reads to the end, and this side may still read. */
  async closeWrite(): Promise<void> {
    if (this.localClosed || this.failure) return;
    this.localClosed = true;
    const sent = this.mux.send([header(Type.Data, FIN, this.id, 0)]);
    this.mux.settle(this);
    await sent;
  }

  /** Resets the stream: both directions end at once and unread data is dropped. */
  reset(): void {
    if (this.failure) return;
    void this.mux.send([header(Type.WindowUpdate, RST, this.id, 0)]).catch(() => undefined);
    this.fail(new CorridorError("stream_reset", "stream reset by this side"));
  }

  get finished(): boolean {
    return this.failure !== null || (this.localClosed && this.remoteClosed && this.received.length === 0);
  }

  /** The application took `n` bytes. */
  private consumed(n: number): void {
    this.buffered -= n;
    this.grant();
    this.mux.settle(this);
  }

  /** Tops the peer's window up to a full window, within what the buffer has room for. */
  private grant(): void {
    if (this.remoteClosed || this.failure) return;
    const target = Math.min(STREAM_WINDOW, RECEIVE_BUFFER - this.buffered);
    const delta = target - this.recvWindow;
    if (delta < CREDIT_STEP) return;
    this.recvWindow += delta;
    void this.mux.send([header(Type.WindowUpdate, 0, this.id, delta)]).catch(() => undefined);
  }

  /** @internal A data frame arrived. */
  onData(payload: Uint8Array): void {
    if (payload.length > this.recvWindow) throw new CorridorError("protocol_error", `stream ${this.id}: peer sent past its window`);
    this.recvWindow -= payload.length;
    if (this.failure || payload.length === 0) return;
    if (this.reader) {
      const reader = this.reader;
      this.reader = null;
      reader.resolve(payload);
    } else {
      this.buffered += payload.length;
      this.received.push(payload);
    }
    this.grant();
  }

  /** @internal The peer gave `delta` more bytes of credit. */
  onCredit(delta: number): void {
    this.sendWindow += delta;
    if (this.sendWindow > 0xffffffff) throw new CorridorError("protocol_error", `stream ${this.id}: window overflow`);
    const waiter = this.creditWaiter;
    this.creditWaiter = null;
    waiter?.resolve();
  }

  /** @internal The peer finished sending. */
  onFin(): void {
    this.remoteClosed = true;
    if (this.reader && this.received.length === 0) {
      const reader = this.reader;
      this.reader = null;
      reader.resolve(null);
    }
    this.mux.settle(this);
  }

  /** @internal The stream ended abnormally (reset by the peer, or the session died). */
  fail(error: CorridorError): void {
    if (this.failure) return;
    this.failure = error;
    this.received.length = 0;
    this.buffered = 0;
    this.reader?.reject(error);
    this.creditWaiter?.reject(error);
    this.reader = null;
    this.creditWaiter = null;
    this.mux.settle(this);
  }
}

/** The multiplexer of one session. */
export class Mux {
  private readonly streams = new Map<number, MuxStream>();
  private readonly input = new ByteQueue();
  private pending: { type: Type; flags: number; stream: number; length: number } | null = null;
  private nextId = 1;
  private outbound = 0;
  private inbound = 0;
  private readonly backlog: MuxStream[] = [];
  private acceptor: Waiter<MuxStream> | null = null;
  private failure: CorridorError | null = null;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pingDeadline: ReturnType<typeof setTimeout> | undefined;
  private pingId = 0;
  private pingOutstanding: number | null = null;

  constructor(
    private readonly sink: FrameSink,
    private readonly options: MuxOptions,
    private readonly onFatal: (error: CorridorError) => void,
  ) {
    this.nextId = options.firstStreamId ?? 1;
    if (options.keepaliveIntervalMs > 0) {
      this.pingTimer = setInterval(() => this.keepalive(), options.keepaliveIntervalMs);
    }
  }

  /** Opens a stream; the SYN goes out at once. */
  open(): MuxStream {
    if (this.failure) throw this.failure;
    if (this.outbound >= this.options.maxOutboundStreams) {
      throw new CorridorError("protocol_error", `at most ${this.options.maxOutboundStreams} streams may be open at once`);
    }
    const id = this.nextId;
    this.nextId += 2;
    if (id > 0xffffffff) throw new CorridorError("closed", "stream ids exhausted: reconnect");
    const stream = new MuxStream(this, id);
    this.streams.set(id, stream);
    this.outbound++;
    // The SYN goes out at once: the peer sees the stream before any data.
    void this.send([header(Type.WindowUpdate, SYN, id, 0)]).catch(() => undefined);
    return stream;
  }

  /** The next stream the peer opens. */
  accept(): Promise<MuxStream> {
    const ready = this.backlog.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.acceptor = { resolve, reject }));
  }

  /** Feeds decrypted bytes in order. Throws a `protocol_error` the session must die of. */
  receive(bytes: Uint8Array): void {
    if (this.failure) return;
    this.input.push(bytes);
    for (;;) {
      if (!this.pending) {
        if (this.input.length < HEADER) return;
        const h = this.input.take(HEADER);
        if (h[0] !== 0) throw new CorridorError("protocol_error", `yamux version ${h[0]}`);
        const type = h[1]!;
        if (type > Type.GoAway) throw new CorridorError("protocol_error", `unknown yamux frame type ${type}`);
        this.pending = { type, flags: (h[2]! << 8) | h[3]!, stream: readU32(h, 4), length: readU32(h, 8) };
        if (type === Type.Data && this.pending.length > STREAM_WINDOW) {
          throw new CorridorError("protocol_error", `data frame of ${this.pending.length} bytes exceeds the window`);
        }
      }
      const frame = this.pending;
      const bodyLength = frame.type === Type.Data ? frame.length : 0;
      if (this.input.length < bodyLength) return;
      this.pending = null;
      const body = bodyLength > 0 ? this.input.take(bodyLength) : new Uint8Array(0);
      this.dispatch(frame.type, frame.flags, frame.stream, frame.length, body);
    }
  }

  private dispatch(type: Type, flags: number, id: number, length: number, body: Uint8Array): void {
    if (type === Type.Ping) {
      if (flags & SYN) void this.send([header(Type.Ping, ACK, 0, length)]).catch(() => undefined);
      else if (flags & ACK && length === this.pingOutstanding) {
        this.pingOutstanding = null;
        clearTimeout(this.pingDeadline);
      }
      return;
    }
    if (type === Type.GoAway) {
      const why = length === 0 ? "the peer closed the session" : `the peer ended the session with yamux error ${length}`;
      this.fail(new CorridorError(length === 0 ? "closed" : "protocol_error", why));
      return;
    }
    let stream = this.streams.get(id);
    if (flags & SYN) {
      if (stream || id === 0) throw new CorridorError("protocol_error", `SYN for stream ${id}, which is in use`);
      if (id % 2 === this.nextId % 2) throw new CorridorError("protocol_error", `the peer opened stream id ${id}, of this side's parity`);
      if (this.inbound >= this.options.maxInboundStreams || this.backlog.length >= this.options.acceptBacklog) {
        void this.send([header(Type.WindowUpdate, RST, id, 0)]).catch(() => undefined);
        return;
      }
      stream = new MuxStream(this, id);
      this.streams.set(id, stream);
      this.inbound++;
      void this.send([header(Type.WindowUpdate, ACK, id, 0)]).catch(() => undefined);
      if (this.acceptor) {
        const acceptor = this.acceptor;
        this.acceptor = null;
        acceptor.resolve(stream);
      } else this.backlog.push(stream);
    }
    // A frame for a stream that has ended is late, not hostile: it is ignored.
    if (!stream) return;
    if (type === Type.Data) stream.onData(body);
    else stream.onCredit(length);
    if (flags & RST) stream.fail(new CorridorError("stream_reset", `stream ${id} was reset by the peer`));
    else if (flags & FIN) stream.onFin();
  }

  /** @internal Sends frames unless the session has died. */
  send(parts: Uint8Array[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return this.sink(parts);
  }

  /** @internal Forgets a stream that has ended both ways. */
  settle(stream: MuxStream): void {
    if (!stream.finished || this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    if (stream.id % 2 === this.nextId % 2) this.outbound--;
    else this.inbound--;
  }

  /** Sends a GoAway with `code` (0 normal); the caller closes the carrier. */
  goAway(code: number): Promise<void> {
    return this.send([header(Type.GoAway, 0, 0, code)]);
  }

  /** Ends every stream and pending accept with `error`. */
  fail(error: CorridorError): void {
    if (this.failure) return;
    this.failure = error;
    clearInterval(this.pingTimer);
    clearTimeout(this.pingDeadline);
    for (const stream of [...this.streams.values()]) stream.fail(error);
    this.streams.clear();
    this.acceptor?.reject(error);
    this.acceptor = null;
    this.onFatal(error);
  }

  private keepalive(): void {
    if (this.failure || this.pingOutstanding !== null) return;
    this.pingId = (this.pingId + 1) >>> 0;
    this.pingOutstanding = this.pingId;
    void this.send([header(Type.Ping, SYN, 0, this.pingId)]).catch(() => undefined);
    this.pingDeadline = setTimeout(
      () => this.fail(new CorridorError("keepalive_timeout", `no answer to a keepalive ping within ${this.options.keepaliveTimeoutMs} ms`)),
      this.options.keepaliveTimeoutMs,
    );
  }
}
