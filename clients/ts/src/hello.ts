// StreamHello: the first frame on every stream, `u32 BE length | {"kind":..,"v":1}`.

import { concat, fromUtf8, readU32, u32be, utf8 } from "./bytes.js";
import { CorridorError } from "./errors.js";

/** The largest hello accepted (flowersec's default). */
export const MAX_HELLO_BYTES = 8 * 1024;

export function encodeHello(kind: string): Uint8Array {
  if (kind.trim() === "") throw new CorridorError("protocol_error", "a stream kind must not be empty");
  const body = utf8(JSON.stringify({ kind, v: 1 }));
  return concat([u32be(body.length), body]);
}

/** Reads frames of `u32 BE length | body` from a byte source, bounded by `maxBytes`. */
export class FrameReader {
  private buffer: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly source: { read(): Promise<Uint8Array | null> },
    private readonly maxBytes: number,
    private readonly what: string,
  ) {}

  /** The next frame's body, or null at a clean end between frames. */
  async next(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.buffer.length >= 4) {
        const length = readU32(this.buffer, 0);
        if (length > this.maxBytes) throw new CorridorError("protocol_error", `${this.what} of ${length} bytes exceeds the limit of ${this.maxBytes}`);
        if (this.buffer.length >= 4 + length) {
          const body = this.buffer.subarray(4, 4 + length);
          this.buffer = this.buffer.subarray(4 + length);
          return body;
        }
      }
      const chunk = await this.source.read();
      if (chunk === null) {
        if (this.buffer.length === 0) return null;
        throw new CorridorError("protocol_error", `${this.what} cut short`);
      }
      this.buffer = this.buffer.length === 0 ? chunk : concat([this.buffer, chunk]);
    }
  }

  /** Bytes read past the last frame (the start of a stream's payload). */
  rest(): Uint8Array {
    const rest = this.buffer;
    this.buffer = new Uint8Array(0);
    return rest;
  }
}

export async function readHello(reader: FrameReader): Promise<string> {
  const body = await reader.next();
  if (body === null) throw new CorridorError("protocol_error", "stream ended before its hello");
  let hello: unknown;
  try {
    hello = JSON.parse(fromUtf8(body));
  } catch {
    throw new CorridorError("protocol_error", "stream hello is not JSON");
  }
  const { kind, v } = (hello ?? {}) as { kind?: unknown; v?: unknown };
  if (v !== 1) throw new CorridorError("protocol_error", `stream hello version ${String(v)} is not supported`);
  if (typeof kind !== "string" || kind.trim() === "") throw new CorridorError("protocol_error", "stream hello kind is empty");
  return kind;
}

