// A session kept up across a relay restart: the relay's SIGTERM closes the
// channel with its reason, attempts fail while it is down, and a fresh grant
// per attempt brings a new session once it is back on the same port.

import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { type CorridorError, type Session, connectArtifact, reconnecting } from "../src/index.js";
import { type Service, start, stateDir } from "./harness.js";

const options = { WebSocket: WebSocket as never };
const state = stateDir();
let relay: Service;
let controlPlane: Service;
let endpoint: Service;

beforeAll(async () => {
  relay = await start(["relay", "--listen", "127.0.0.1:0"], state.path);
  controlPlane = await start(["controlplane", "--listen", "127.0.0.1:0", "--tunnel-url", relay.ready.ws_url], state.path);
  endpoint = await start(["serve", "--controlplane", controlPlane.ready.controlplane_url, "--endpoint-id", "demo"], state.path);
});

afterAll(async () => {
  await Promise.all([endpoint?.stop(), controlPlane?.stop(), relay?.stop()]);
  state.cleanup();
});

it("reconnects with a fresh grant after the relay restarts", async () => {
  const sessions: Session[] = [];
  const disconnects: { code: string; reason: string | undefined; attempt: number }[] = [];
  let grants = 0;
  const kept = reconnecting({
    connect: () => {
      grants++;
      return connectArtifact(controlPlane.ready.controlplane_url, "demo", options);
    },
    onSession: (session) => sessions.push(session),
    onDisconnect: (error: CorridorError, attempt) => disconnects.push({ code: error.code, reason: error.reason, attempt }),
    initialDelay: 50,
    maxDelay: 200,
  });
  const first = await kept.session();
  expect(await first.rpc.call(1)).toEqual({ pong: true });

  const address = new URL(relay.ready.ws_url).host;
  await relay.terminate();
  expect((await first.closed).reason).toBe("shutdown");
  // Attempts fail while no relay listens; let a few go by before it returns.
  await expect.poll(() => disconnects.filter((d) => d.attempt > 0).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
  relay = await start(["relay", "--listen", address], state.path);

  const second = await kept.session();
  expect(second).not.toBe(first);
  expect(await second.rpc.call(2, { after: "restart" })).toEqual({ after: "restart" });
  expect(disconnects[0]).toMatchObject({ attempt: 0, reason: "shutdown" });
  expect(grants).toBe(sessions.length + disconnects.filter((d) => d.attempt > 0).length);
  await kept.close();
  expect((await second.closed).code).toBe("closed");
});
