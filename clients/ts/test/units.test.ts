// The pure parts: base64url, frame limits and the multiplexer's checks on
// what a peer sends.

import { describe, expect, it } from "vitest";
import { b64uDecode, b64uEncode, concat, readU32, u32be } from "../src/bytes.js";
import { FrameReader, encodeHello, readHello } from "../src/hello.js";
import { Mux, RECEIVE_BUFFER, STREAM_WINDOW } from "../src/yamux.js";

function frame(type: number, flags: number, stream: number, length: number, body = new Uint8Array(0)): Uint8Array {
  const h = new Uint8Array(12);
  h[1] = type;
  h[2] = flags >> 8;
  h[3] = flags & 0xff;
  h.set(u32be(stream), 4);
  h.set(u32be(length), 8);
  return concat([h, body]);
}

function mux() {
  const sent: Uint8Array[] = [];
  const failures: string[] = [];
  const m = new Mux(
    async (parts) => void sent.push(concat(parts)),
    { maxInboundStreams: 2, maxOutboundStreams: 4, acceptBacklog: 2, keepaliveIntervalMs: 0, keepaliveTimeoutMs: 0 },
    (error) => void failures.push(error.code),
  );
  return { m, sent, failures };
}

const source = (chunks: Uint8Array[]) => ({ read: async () => chunks.shift() ?? null });

describe("base64url", () => {
  it("round-trips every length and refuses padding, other alphabets and dangling bits", () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      expect(b64uEncode(bytes)).toBe(Buffer.from(bytes).toString("base64url"));
      expect(b64uDecode(b64uEncode(bytes))).toEqual(bytes);
    }
    expect(() => b64uDecode("AAA=")).toThrow();
    expect(() => b64uDecode("AA+/")).toThrow();
    expect(() => b64uDecode("A")).toThrow();
    expect(() => b64uDecode("AB")).toThrow(); // 'B' leaves a bit set past the last byte
  });
});

describe("frames and hellos", () => {
  it("reads frames split anywhere and refuses one over the limit before buffering it", async () => {
    const hello = encodeHello("echo");
    const reader = new FrameReader(source([hello.subarray(0, 3), hello.subarray(3, 9), concat([hello.subarray(9), utf8Bytes("rest")])]), 8192, "hello");
    expect(await readHello(reader)).toBe("echo");
    expect(new TextDecoder().decode(reader.rest())).toBe("rest");
    const huge = new FrameReader(source([u32be(1 << 30)]), 8192, "hello");
    await expect(huge.next()).rejects.toMatchObject({ code: "protocol_error" });
    const bad = new FrameReader(source([concat([u32be(13), utf8Bytes('{"kind":"x","v":2}').subarray(0, 13)])]), 8192, "hello");
    await expect(readHello(bad)).rejects.toMatchObject({ code: "protocol_error" });
  });
});

function utf8Bytes(text: string) {
  return new TextEncoder().encode(text);
}

describe("yamux checks", () => {
  it("answers pings and acknowledges the peer's streams", async () => {
    const { m, sent } = mux();
    m.receive(frame(2, 1, 0, 77));
    m.receive(frame(1, 1, 2, 0));
    await Promise.resolve();
    await new Promise((resolve) => setTimeout(resolve, 0));
    const ping = sent.find((f) => f[1] === 2)!;
    expect([ping[3], readU32(ping, 8)]).toEqual([2, 77]);
    const ack = sent.find((f) => f[1] === 1 && readU32(f, 4) === 2)!;
    expect(ack[3]).toBe(2);
    expect((await m.accept()).id).toBe(2);
  });

  it("ends the session on data past the window, odd ids from the peer and unknown frame types", () => {
    const past = mux();
    past.m.receive(frame(1, 1, 2, 0));
    expect(() => past.m.receive(frame(0, 0, 2, STREAM_WINDOW + 1))).toThrow(/exceeds the window/);
    // Credit covers at most RECEIVE_BUFFER unread: one byte more is past the window.
    const full = mux();
    full.m.receive(frame(1, 1, 2, 0));
    for (let i = 0; i < RECEIVE_BUFFER / STREAM_WINDOW; i++) full.m.receive(frame(0, 0, 2, STREAM_WINDOW, new Uint8Array(STREAM_WINDOW)));
    expect(() => full.m.receive(frame(0, 0, 2, 1, new Uint8Array(1)))).toThrow(/past its window/);
    expect(() => mux().m.receive(frame(1, 1, 3, 0))).toThrow(/this side's parity/);
    expect(() => mux().m.receive(frame(9, 0, 0, 0))).toThrow(/unknown yamux frame type/);
    expect(() => mux().m.receive(concat([new Uint8Array([1]), new Uint8Array(11)]))).toThrow(/version/);
  });

  it("resets streams past the inbound limit and ignores frames for ended streams", async () => {
    const { m, sent } = mux();
    m.receive(frame(1, 1, 2, 0));
    m.receive(frame(1, 1, 4, 0));
    m.receive(frame(1, 1, 6, 0));
    await new Promise((resolve) => setTimeout(resolve, 0));
    const reset = sent.find((f) => readU32(f, 4) === 6)!;
    expect(reset[3]).toBe(8);
    expect(() => m.receive(frame(0, 0, 40, 5, new Uint8Array(5)))).not.toThrow();
  });

  it("gives credit as data arrives until the buffer is full, then as the application reads", async () => {
    const { m, sent } = mux();
    m.receive(frame(1, 1, 2, 0));
    const stream = await m.accept();
    const credit = async () => {
      await new Promise((resolve) => setTimeout(resolve, 0));
      return sent.filter((f) => f[1] === 1 && readU32(f, 4) === 2 && readU32(f, 8) > 0).map((f) => readU32(f, 8));
    };
    for (let i = 0; i < RECEIVE_BUFFER / STREAM_WINDOW; i++) m.receive(frame(0, 0, 2, STREAM_WINDOW, new Uint8Array(STREAM_WINDOW)));
    // Three windows topped up; after the fourth the buffer is full and the peer must wait.
    expect(await credit()).toEqual([STREAM_WINDOW, STREAM_WINDOW, STREAM_WINDOW]);
    expect((await stream.read())?.length).toBe(STREAM_WINDOW);
    expect(await credit()).toEqual([STREAM_WINDOW, STREAM_WINDOW, STREAM_WINDOW, STREAM_WINDOW]);
  });
});
