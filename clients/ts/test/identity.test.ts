// Key-identified clients against a real `corridor records serve`: enrollment
// with a one-time token (Noise XX, the server's key pinned), then login with
// the key alone (Noise IK), records actions on the session, and every
// refusal as a typed error with the server's reason.

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { type IdentityServer, enroll, generateIdentity, login } from "../src/index.js";
import { type Service, runText, start, stateDir } from "./harness.js";

const options = { WebSocket: WebSocket as never };
const ACTION = 110;
const state = stateDir();
let records: Service;
let server: IdentityServer;
let db: string;

beforeAll(async () => {
  records = await start(["records", "serve", "--listen", "127.0.0.1:0", "--state-dir", join(state.path, "records")], state.path);
  server = { url: records.ready.url, serverKey: records.ready.server_key };
  db = records.ready.db;
  runText(["users", "--db", db, "add", "alice"], state.path);
});

afterAll(async () => {
  await records?.stop();
  state.cleanup();
});

const token = () => runText(["users", "--db", db, "enroll", "alice", "--label", "ts"], state.path);

describe("key-identified clients", () => {
  it("enrolls with a token, then logs in with the key alone", async () => {
    const identity = await generateIdentity();
    const first = await enroll(server, identity, { user: "alice", token: token(), label: "vitest" }, options);
    expect(first.welcome).toMatchObject({ user: "alice", enrolled: true });
    const inserted = await first.session.rpc.call<{ row: { title: string } }>(ACTION, { action: "insert", view: "notes", values: { title: "from typescript" } });
    expect(inserted.row.title).toBe("from typescript");
    await first.session.close();

    const again = await login(server, identity, options);
    expect(again.welcome).toMatchObject({ user: "alice", enrolled: false, fingerprint: first.welcome.fingerprint });
    const selected = await again.session.rpc.call<{ rows: { title: string }[] }>(ACTION, { action: "select", view: "notes" });
    expect(selected.rows.map((row) => row.title)).toContain("from typescript");
    await again.session.close();
  });

  it("refuses a used token, an unknown key and a wrong pinned server key, each readably", async () => {
    const spent = token();
    await (await enroll(server, await generateIdentity(), { user: "alice", token: spent }, options)).session.close();
    await expect(enroll(server, await generateIdentity(), { user: "alice", token: spent }, options)).rejects.toMatchObject({
      code: "refused",
      reason: "enrollment token already used",
    });
    await expect(login(server, await generateIdentity(), options)).rejects.toMatchObject({ code: "refused", reason: "unknown key" });
    // The token never leaves this side when the server cannot prove the pinned key.
    const impostor = { ...server, serverKey: Buffer.alloc(32, 5).toString("base64url") };
    await expect(enroll(impostor, await generateIdentity(), { user: "alice", token: token() }, options)).rejects.toMatchObject({
      code: "handshake_failed",
      message: expect.stringMatching(/pinned/),
    });
  });
});
