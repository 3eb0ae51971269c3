// The parsers against random and mutated input (a fuzz run in miniature, on
// every test run): each either accepts the bytes or refuses them with a
// CorridorError naming the layer; nothing else may escape, and nothing hangs.

import { describe, expect, it } from "vitest";
import { concat, u32be } from "../src/bytes.js";
import { CorridorError } from "../src/errors.js";
import { Flag, recordLayer, sessionKeys } from "../src/fsec1.js";
import { FrameReader, encodeHello, readHello } from "../src/hello.js";
import { Mux } from "../src/yamux.js";
import { pattern } from "./harness.js";

/** A small deterministic generator, so a failure names its seed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

function mutate(input: Uint8Array, next: () => number): Uint8Array {
  const out = input.slice();
  const edits = 1 + Math.floor(next() * 4);
  for (let i = 0; i < edits && out.length > 0; i++) out[Math.floor(next() * out.length)] = Math.floor(next() * 256);
  return next() < 0.2 ? out.subarray(0, Math.floor(next() * out.length)) : out;
}

const onlyCorridorErrors = (error: unknown) => {
  if (!(error instanceof CorridorError)) throw error;
};

describe("garbage in", () => {
  it("the multiplexer refuses or ignores 5,000 random and mutated inputs", () => {
    const next = rng(42);
    const valid = concat([new Uint8Array([0, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0]), new Uint8Array([0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 4, 1, 2, 3, 4])]);
    for (let i = 0; i < 5_000; i++) {
      const mux = new Mux(async () => undefined, { maxInboundStreams: 4, maxOutboundStreams: 4, acceptBacklog: 4, keepaliveIntervalMs: 0, keepaliveTimeoutMs: 0 }, () => undefined);
      const input = i % 2 === 0 ? mutate(valid, next) : pattern(Math.floor(next() * 64), i + 1);
      try {
        mux.receive(input);
      } catch (error) {
        onlyCorridorErrors(error);
        expect((error as CorridorError).code).toBe("protocol_error");
      }
    }
  });

  it("hello and frame readers refuse 5,000 mutated frames without other errors", async () => {
    const next = rng(7);
    const hello = encodeHello("echo");
    for (let i = 0; i < 5_000; i++) {
      const input = i % 3 === 0 ? pattern(Math.floor(next() * 40), i + 1) : mutate(hello, next);
      const chunks = [input];
      await readHello(new FrameReader({ read: async () => chunks.shift() ?? null }, 8192, "stream hello")).catch(onlyCorridorErrors);
    }
    // A length prefix past the limit is refused before any body is awaited.
    const huge = new FrameReader({ read: async () => u32be(0xffffffff) }, 8192, "stream hello");
    await expect(huge.next()).rejects.toMatchObject({ code: "protocol_error" });
  });

  it("the record layer refuses 500 mutated records, each with record_invalid", async () => {
    const next = rng(99);
    const transcript = new Uint8Array(32).fill(3);
    const keys = () => sessionKeys(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2), transcript);
    const sender = await recordLayer(await keys(), transcript);
    // The sender's client-to-server records, opened by a layer that expects them: swap directions.
    const valid = await sender.seal(Flag.App, new Uint8Array(100));
    for (let i = 0; i < 500; i++) {
      const receiver = await recordLayer(await keys(), transcript);
      const input = mutate(valid, next);
      // A fresh client-side layer opens server-to-client records, so every input here must fail.
      await expect(receiver.open(input)).rejects.toMatchObject({ code: "record_invalid" });
    }
  });
});
