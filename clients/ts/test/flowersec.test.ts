// Against the official flowersec 0.27.0 crate's endpoint (a small binary in
// corridor-testkit): the handshake with both key exchanges, calls,
// notifications both ways, a stream the endpoint opens, and an echo stream.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { connectDirect } from "../src/index.js";
import { type Service, flowersecBin, pattern, readAll, start, stateDir } from "./harness.js";

const options = { WebSocket: WebSocket as never };
// The interop scenario (corridor_testkit::flowersec_peer), and the binary's echo of a note.
const [ECHO_RPC, HELLO_CLIENT, HELLO_SERVER, NOTE_BACK] = [7, 9, 11, 13];
const state = stateDir();
let x25519: Service;
let p256: Service;

beforeAll(async () => {
  [x25519, p256] = await Promise.all([start([], state.path, flowersecBin()), start(["p256"], state.path, flowersecBin())]);
});

afterAll(async () => {
  await Promise.all([x25519?.stop(), p256?.stop()]);
  state.cleanup();
});

/** Echoes `data` and half-closes only after the last byte is back: flowersec 0.27 may drop unread data after an early FIN (DESIGN.md). */
async function echo(stream: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }, data: Uint8Array): Promise<Uint8Array> {
  const writer = stream.writable.getWriter();
  const writing = (async () => {
    for (let at = 0; at < data.length; at += 64 * 1024) await writer.write(data.subarray(at, at + 64 * 1024));
  })();
  const reader = stream.readable.getReader();
  const out = new Uint8Array(data.length);
  let at = 0;
  while (at < data.length) {
    const { value, done } = await reader.read();
    if (done) break;
    out.set(value, at);
    at += value.length;
  }
  await writing;
  await writer.close();
  return out.subarray(0, at);
}

describe.each([
  ["x25519", () => x25519],
  ["p256", () => p256],
])("flowersec 0.27 endpoint, %s", (_, service) => {
  it("calls, is notified both ways, and echoes 8 MiB", async () => {
    const notes: unknown[] = [];
    let noteArrived!: () => void;
    const noteBack = new Promise<void>((resolve) => (noteArrived = resolve));
    const session = await connectDirect(service().ready.direct_info, options);
    const hello = new Promise((resolve) => session.rpc.onNotify(HELLO_CLIENT, resolve));
    session.rpc.onNotify(NOTE_BACK, (payload) => {
      notes.push(payload);
      noteArrived();
    });
    expect(await hello).toEqual({ hello: "client" });
    // A stream the endpoint opened: its hello read, its bytes to the end.
    const pushed = await session.acceptStream();
    expect(pushed.kind).toBe("push");
    expect(new TextDecoder().decode(await readAll(pushed.readable))).toBe("hello from flowersec");
    expect(await session.rpc.call(ECHO_RPC, { n: 1 })).toEqual({ echo: { n: 1 } });
    await session.rpc.notify(HELLO_SERVER, { from: "ts" });
    await noteBack;
    expect(notes).toEqual([{ from: "ts" }]);
    const data = pattern(8 * 1024 * 1024, 11);
    const echoed = await echo(await session.openStream("echo"), data);
    expect(Buffer.compare(Buffer.from(echoed), Buffer.from(data))).toBe(0);
    await session.close();
  });
});
