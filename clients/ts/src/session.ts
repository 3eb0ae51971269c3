// A session: the carrier, the record layer, the multiplexer and the RPC
// stream, composed. Outgoing frames written in one turn of the event loop go
// out as one record (fewer seals and messages); incoming records are opened
// in order and fed to the multiplexer.

import { Carrier, type CloseInfo } from "./carrier.js";
import { CorridorError, errorOf } from "./errors.js";
import { Flag, type Records } from "./fsec1.js";
import { FrameReader, MAX_HELLO_BYTES, encodeHello, readHello } from "./hello.js";
import { MAX_RPC_FRAME_BYTES, Rpc } from "./rpc.js";
import { Mux, type MuxOptions, type MuxStream } from "./yamux.js";

/** A stream as WHATWG streams: reading pulls credit back to the peer, writing waits for the peer's credit. */
export interface DuplexStream {
  /** The kind named in the stream's hello. */
  readonly kind: string;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Ends both directions at once, dropping unread data. */
  reset(): void;
}

/** Outgoing plaintext, batched into records. */
class RecordWriter {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  private batch: Promise<void> | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly records: Records,
    private readonly carrier: Carrier,
    private readonly onError: (error: CorridorError) => void,
  ) {}

  write(parts: Uint8Array[]): Promise<void> {
    for (const part of parts) {
      this.parts.push(part);
      this.bytes += part.length;
    }
    if (!this.batch) {
      this.batch = new Promise<void>((resolve) => queueMicrotask(resolve)).then(() => this.flush());
    }
    return this.batch;
  }

  private flush(): Promise<void> {
    this.batch = null;
    const parts = this.parts;
    const total = this.bytes;
    this.parts = [];
    this.bytes = 0;
    const records: Uint8Array[] = [];
    // Cut the batch into records of at most the record limit.
    const max = this.records.maxPlaintext;
    let record = new Uint8Array(Math.min(total, max));
    let at = 0;
    let left = total;
    for (const part of parts) {
      let from = 0;
      while (from < part.length) {
        const n = Math.min(part.length - from, record.length - at);
        record.set(part.subarray(from, from + n), at);
        at += n;
        from += n;
        if (at === record.length) {
          records.push(record);
          left -= at;
          record = new Uint8Array(Math.min(left, max));
          at = 0;
        }
      }
    }
    const sealed = records.map((plaintext) => this.records.seal(Flag.App, plaintext));
    this.chain = this.chain
      .then(async () => {
        for (const next of sealed) this.carrier.send(await next);
        await this.carrier.drained();
      })
      .catch((error) => {
        const failure = errorOf(error, "closed");
        this.onError(failure);
        throw failure;
      });
    return this.chain;
  }
}

export interface SessionOptions extends MuxOptions {}

/** An established end-to-end encrypted session with an endpoint. */
export class Session {
  /** Calls, notifications and handlers on the `rpc` stream. */
  readonly rpc: Rpc;
  /** Resolves once the session has ended, with why. */
  readonly closed: Promise<CorridorError>;
  private readonly mux: Mux;
  private ended: CorridorError | null = null;
  private resolveClosed!: (error: CorridorError) => void;

  /** @internal Built by `connectTunnel` and `connectDirect`. */
  constructor(
    private readonly carrier: Carrier,
    records: Records,
    options: SessionOptions,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    const writer = new RecordWriter(records, carrier, (error) => this.end(error));
    this.mux = new Mux((parts) => writer.write(parts), options, (error) => this.end(error));
    // Records decrypt concurrently; they reach the multiplexer in arrival order.
    let inbound: Promise<void> = Promise.resolve();
    carrier.deliver((message) => {
      const opening = records.open(message);
      opening.catch(() => undefined);
      inbound = inbound.then(async () => {
        if (this.ended) return;
        let opened;
        try {
          opened = await opening;
        } catch (error) {
          this.mux.fail(errorOf(error, "record_invalid"));
          return;
        }
        if (opened.flag !== Flag.App) return;
        try {
          this.mux.receive(opened.plaintext);
        } catch (error) {
          void this.mux.goAway(1).catch(() => undefined);
          this.mux.fail(errorOf(error, "protocol_error"));
        }
      });
    });
    carrier.onClose((info) => this.mux.fail(closeError(info)));
    const rpcStream = this.mux.open();
    void rpcStream.write(encodeHello("rpc")).catch(() => undefined);
    this.rpc = new Rpc(rpcStream);
    void this.rpc.run(new FrameReader(rpcStream, MAX_RPC_FRAME_BYTES, "RPC frame"));
  }

  /** Opens a stream of `kind`; the endpoint resets it if it does not serve that kind. */
  async openStream(kind: string): Promise<DuplexStream> {
    const stream = this.mux.open();
    await stream.write(encodeHello(kind));
    return duplex(kind, stream, new Uint8Array(0));
  }

  /** The next stream the endpoint opens, after its hello. */
  async acceptStream(): Promise<DuplexStream> {
    for (;;) {
      const stream = await this.mux.accept();
      const reader = new FrameReader(stream, MAX_HELLO_BYTES, "stream hello");
      try {
        const kind = await readHello(reader);
        return duplex(kind, stream, reader.rest());
      } catch {
        stream.reset();
      }
    }
  }

  /** Ends the session: a GoAway, then the carrier closes. Resolves once closed. */
  async close(): Promise<void> {
    if (!this.ended) {
      await this.mux.goAway(0).catch(() => undefined);
      this.end(new CorridorError("closed", "the session was closed by this side"));
    }
    await this.carrier.closed;
  }

  private end(error: CorridorError): void {
    if (this.ended) return;
    this.ended = error;
    this.mux.fail(error);
    this.rpc?.fail(error);
    this.carrier.close(error.code === "closed" ? 1000 : 1002, error.code);
    this.resolveClosed(error);
  }
}

function closeError(info: CloseInfo): CorridorError {
  const detail = `code ${info.code}${info.reason ? `, ${info.reason}` : ""}`;
  return new CorridorError("closed", `the connection closed (${detail})`, { reason: info.reason });
}

function duplex(kind: string, stream: MuxStream, head: Uint8Array): DuplexStream {
  let first: Uint8Array | null = head.length > 0 ? head : null;
  const readable = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (first) {
          controller.enqueue(first);
          first = null;
          return;
        }
        const chunk = await stream.read();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
      cancel() {
        stream.reset();
      },
    },
    // Pull only when the application reads: credit returns to the peer as it consumes.
    { highWaterMark: 0 },
  );
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) => stream.write(chunk),
    close: () => stream.closeWrite(),
    abort: () => stream.reset(),
  });
  return { kind, readable, writable, reset: () => stream.reset() };
}
