// Straight to `corridor serve --listen`, and through a hostile man in the
// middle: tampered and oversized records, a handshake that never completes,
// an unknown stream kind.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { type DirectConnectInfo, connectDirect } from "../src/index.js";
import { type Service, pattern, readAll, start, stateDir, writeAll } from "./harness.js";

const options = { WebSocket: WebSocket as never };
const state = stateDir();
let x25519: Service;
let p256: Service;

beforeAll(async () => {
  [x25519, p256] = await Promise.all([
    start(["serve", "--listen", "127.0.0.1:0"], state.path),
    start(["serve", "--listen", "127.0.0.1:0", "--suite", "p256"], state.path),
  ]);
});

afterAll(async () => {
  await Promise.all([x25519?.stop(), p256?.stop()]);
  state.cleanup();
});

type Tamper = (message: Buffer, index: number) => Buffer | null | "drop";

/** A WebSocket proxy to `target` that lets `tamper` rewrite or drop the n-th server-to-client message (null: forward as is). */
async function manInTheMiddle(target: string, tamper: Tamper): Promise<{ url: string; close(): void }> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  server.on("connection", (client) => {
    const upstream = new WebSocket(target);
    const early: Buffer[] = [];
    let fromServer = 0;
    client.on("message", (data: Buffer) => (upstream.readyState === WebSocket.OPEN ? upstream.send(data) : early.push(data)));
    upstream.on("open", () => early.splice(0).forEach((m) => upstream.send(m)));
    upstream.on("message", (data: Buffer) => {
      const out = tamper(data, fromServer++);
      if (out !== "drop") client.send(out ?? data);
    });
    client.on("close", () => upstream.close());
    upstream.on("close", () => client.close());
  });
  const { port } = server.address() as { port: number };
  return { url: `ws://127.0.0.1:${port}/`, close: () => server.close() };
}

const info = (service: Service): DirectConnectInfo => service.ready.direct_info;

describe("direct", () => {
  it("calls and streams with X25519 and with P-256", async () => {
    for (const service of [x25519, p256]) {
      const session = await connectDirect(info(service), options);
      expect(await session.rpc.call(1)).toEqual({ pong: true });
      const stream = await session.openStream("echo");
      const data = pattern(1024 * 1024, 3);
      const [, echoed] = await Promise.all([writeAll(stream.writable, data), readAll(stream.readable)]);
      expect(Buffer.compare(Buffer.from(echoed), Buffer.from(data))).toBe(0);
      await session.close();
    }
  });

  it("resets a stream of a kind the endpoint does not serve", async () => {
    const session = await connectDirect(info(x25519), options);
    const stream = await session.openStream("no-such-kind");
    await expect(readAll(stream.readable)).rejects.toMatchObject({ code: "stream_reset" });
    // The session lives on.
    expect(await session.rpc.call(1)).toEqual({ pong: true });
    await session.close();
  });

  it("kills the session on a tampered record", async () => {
    // Server-to-client messages: 0 handshake response, 1 finished record, then records.
    const mitm = await manInTheMiddle(info(x25519).ws_url, (message, index) => {
      if (index !== 2) return null;
      const copy = Buffer.from(message);
      copy[copy.length - 1]! ^= 1;
      return copy;
    });
    const session = await connectDirect({ ...info(x25519), ws_url: mitm.url }, options);
    await expect(session.rpc.call(1)).rejects.toMatchObject({ code: "record_invalid" });
    expect((await session.closed).code).toBe("record_invalid");
    mitm.close();
  });

  it("kills the session on an oversized record", async () => {
    const mitm = await manInTheMiddle(info(x25519).ws_url, (message, index) => (index === 2 ? Buffer.concat([message, Buffer.alloc(1024 * 1024)]) : null));
    const session = await connectDirect({ ...info(x25519), ws_url: mitm.url }, options);
    await expect(session.rpc.call(1)).rejects.toMatchObject({ code: "record_invalid" });
    expect((await session.closed).message).toMatch(/too large/);
    mitm.close();
  });

  it("ends a session whose peer stops answering keepalive pings", async () => {
    // After the handshake (messages 0 and 1) nothing from the endpoint gets through.
    const mitm = await manInTheMiddle(info(x25519).ws_url, (_, index) => (index >= 2 ? "drop" : null));
    const session = await connectDirect({ ...info(x25519), ws_url: mitm.url }, { ...options, keepaliveInterval: 100 });
    const started = Date.now();
    const reason = await session.closed;
    expect(reason.code).toBe("keepalive_timeout");
    // One interval to send the ping, one timeout (the interval) to give up on it.
    expect(Date.now() - started).toBeLessThan(2_000);
    mitm.close();
  });

  it("gives up on a handshake that never completes", async () => {
    const silent = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve) => silent.once("listening", () => resolve()));
    const { port } = silent.address() as { port: number };
    const started = Date.now();
    const error = await connectDirect({ ...info(x25519), ws_url: `ws://127.0.0.1:${port}/` }, { ...options, handshakeTimeout: 300 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "handshake_timeout" });
    expect(Date.now() - started).toBeLessThan(5_000);
    silent.close();
  });

  it("refuses a wrong PSK", async () => {
    const wrong = { ...info(x25519), e2ee_psk_b64u: Buffer.alloc(32, 9).toString("base64url") };
    await expect(connectDirect(wrong, options)).rejects.toMatchObject({ code: "handshake_failed" });
  });
});
