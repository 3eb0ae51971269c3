// Through a real relay: a control plane mints each channel, `corridor serve`
// is the endpoint. Calls, a 16 MiB echo both ways, both key exchanges, and the
// refusals a client must be able to tell apart.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { BUILTIN, type ChannelInitGrant, CorridorError, type Info, type Pong, connectArtifact, connectTunnel, requestGrant } from "../src/index.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Service, launch, pattern, readAll, run, start, stateDir, writeAll } from "./harness.js";

const options = { WebSocket: WebSocket as never };
const state = stateDir();
let relay: Service;
let controlPlane: Service;
let endpoint: Service;
let cpUrl: string;

beforeAll(async () => {
  relay = await start(["relay", "--listen", "127.0.0.1:0"], state.path);
  controlPlane = await start(["controlplane", "--listen", "127.0.0.1:0", "--tunnel-url", relay.ready.ws_url], state.path);
  cpUrl = controlPlane.ready.controlplane_url;
  endpoint = await start(["serve", "--controlplane", cpUrl, "--endpoint-id", "demo"], state.path);
});

afterAll(async () => {
  await Promise.all([endpoint?.stop(), controlPlane?.stop(), relay?.stop()]);
  state.cleanup();
});

describe("through the relay", () => {
  it("calls the endpoint's built-in RPC", async () => {
    const session = await connectArtifact(cpUrl, "demo", options);
    expect(await session.rpc.call<Pong>(BUILTIN.ping, {})).toEqual({ pong: true });
    expect(await session.rpc.call(BUILTIN.echo, { hello: [1, "two"] })).toEqual({ hello: [1, "two"] });
    const info = await session.rpc.call<Info>(BUILTIN.info);
    expect(info.streams).toContain(BUILTIN.echoStream);
    await expect(session.rpc.call(9999)).rejects.toMatchObject({ code: "rpc_error", rpcCode: 404 });
    await session.close();
    expect((await session.closed).code).toBe("closed");
  });

  it("echoes 16 MiB both ways byte for byte", async () => {
    const session = await connectArtifact(cpUrl, "demo", options);
    const data = pattern(16 * 1024 * 1024, 7);
    const stream = await session.openStream("echo");
    const [, echoed] = await Promise.all([writeAll(stream.writable, data), readAll(stream.readable)]);
    expect(echoed.length).toBe(data.length);
    expect(Buffer.compare(Buffer.from(echoed), Buffer.from(data))).toBe(0);
    await session.close();
  });

  it("runs many calls and streams at once on one session", async () => {
    const session = await connectArtifact(cpUrl, "demo", options);
    // 150: within the endpoint's 32 running plus 128 queued calls; past that it answers 429.
    const calls = Array.from({ length: 150 }, (_, i) => session.rpc.call(2, { i }));
    const streams = Array.from({ length: 8 }, async (_, i) => {
      const stream = await session.openStream("echo");
      const data = pattern(300_000 + i, i + 1);
      const [, echoed] = await Promise.all([writeAll(stream.writable, data, 10_000), readAll(stream.readable)]);
      return Buffer.compare(Buffer.from(echoed), Buffer.from(data));
    });
    expect((await Promise.all(calls)).map((answer) => (answer as { i: number }).i)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    expect(await Promise.all(streams)).toEqual(new Array(8).fill(0));
    await session.close();
  });

  it("speaks P-256 when the grant names it", async () => {
    const pair = run(["token", "grant", "--tunnel-url", relay.ready.ws_url, "--suites", "p256"], state.path);
    const grantFile = join(state.path, "p256.json");
    writeFileSync(grantFile, JSON.stringify(pair));
    const server = launch(["serve", "--grant", grantFile], state.path);
    // The relay holds whichever side attaches first until the other comes.
    const session = await connectTunnel(pair.client as ChannelInitGrant, options);
    expect(pair.client.default_suite).toBe(2);
    expect(await session.rpc.call(2, { curve: "p256" })).toEqual({ curve: "p256" });
    await session.close();
    await server.stop();
  });

  it("refuses a used grant with the relay's reason", async () => {
    const grant = await requestGrant(cpUrl, "demo");
    const session = await connectTunnel(grant, options);
    await session.close();
    const error = await connectTunnel(grant, options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorridorError);
    expect(error).toMatchObject({ code: "attach_refused", reason: "token_replay" });
  });

  it("refuses a grant past its init_exp before connecting", async () => {
    const grant = await requestGrant(cpUrl, "demo");
    const error = await connectTunnel({ ...grant, channel_init_expire_at_unix_s: Math.floor(Date.now() / 1000) - 1 }, options).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "grant_expired" });
  });

  it("fails the handshake with a wrong PSK", async () => {
    const grant = await requestGrant(cpUrl, "demo");
    const wrong = { ...grant, e2ee_psk_b64u: Buffer.alloc(32, 7).toString("base64url") };
    const error = await connectTunnel(wrong, options).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "handshake_failed" });
  });

  it("refuses a server grant and a noise grant as invalid", async () => {
    const grant = await requestGrant(cpUrl, "demo");
    await expect(connectTunnel({ ...grant, role: 2 }, options)).rejects.toMatchObject({ code: "invalid_grant" });
    await expect(connectTunnel({ ...grant, default_suite: 0x4e01 }, options)).rejects.toMatchObject({ code: "invalid_grant" });
  });
});
