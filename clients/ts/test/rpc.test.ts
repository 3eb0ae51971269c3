// RPC both ways between two of this package's own multiplexers wired back to
// back (one opening odd, one even stream ids): handlers for the other side's
// calls, error codes, notification order, timeouts and aborts.

import { describe, expect, it } from "vitest";
import { concat } from "../src/bytes.js";
import { RpcError } from "../src/errors.js";
import { FrameReader } from "../src/hello.js";
import { MAX_RPC_FRAME_BYTES, Rpc } from "../src/rpc.js";
import { Mux, type MuxStream } from "../src/yamux.js";

const limits = { maxInboundStreams: 8, maxOutboundStreams: 8, acceptBacklog: 8, keepaliveIntervalMs: 0, keepaliveTimeoutMs: 0 };

/** Two RPC peers over a pair of multiplexers that deliver each other's frames asynchronously. */
async function pair(): Promise<[Rpc, Rpc]> {
  let a!: Mux;
  let b!: Mux;
  const deliver = (to: () => Mux) => async (parts: Uint8Array[]) => {
    const bytes = concat(parts);
    setTimeout(() => to().receive(bytes), 0);
  };
  a = new Mux(deliver(() => b), { ...limits, firstStreamId: 1 }, () => undefined);
  b = new Mux(deliver(() => a), { ...limits, firstStreamId: 2 }, () => undefined);
  const opened = a.open();
  void opened.write(new Uint8Array([0]));
  const accepted = await b.accept();
  await accepted.read();
  const rpc = (stream: MuxStream) => {
    const peer = new Rpc(stream);
    void peer.run(new FrameReader(stream, MAX_RPC_FRAME_BYTES, "RPC frame"));
    return peer;
  };
  return [rpc(opened), rpc(accepted)];
}

describe("rpc", () => {
  it("answers the other side's calls with handlers, codes and 404", async () => {
    const [client, endpoint] = await pair();
    client.handle(7, async (payload) => ({ doubled: (payload as { n: number }).n * 2 }));
    client.handle(8, () => {
      throw new RpcError(409, "taken");
    });
    client.handle(9, () => {
      throw new Error("bug");
    });
    expect(await endpoint.call(7, { n: 21 })).toEqual({ doubled: 42 });
    await expect(endpoint.call(8)).rejects.toMatchObject({ rpcCode: 409, rpcMessage: "taken" });
    await expect(endpoint.call(9)).rejects.toMatchObject({ rpcCode: 500, rpcMessage: "bug" });
    await expect(endpoint.call(10)).rejects.toMatchObject({ rpcCode: 404 });
  });

  it("delivers notifications in order and stops after unsubscribing", async () => {
    const [client, endpoint] = await pair();
    const seen: number[] = [];
    const unsubscribe = client.onNotify(5, (payload) => seen.push(payload as number));
    for (let i = 0; i < 100; i++) void endpoint.notify(5, i);
    await endpoint.notify(5, 100);
    await expect.poll(() => seen.length).toBe(101);
    expect(seen).toEqual(Array.from({ length: 101 }, (_, i) => i));
    unsubscribe();
    await endpoint.notify(5, 101);
    // A call's answer comes after the notification sent before it: once it is back, 101 was dropped.
    await expect(endpoint.call(404)).rejects.toMatchObject({ rpcCode: 404 });
    expect(seen).toHaveLength(101);
  });

  it("times out and aborts calls, dropping late answers", async () => {
    const [client, endpoint] = await pair();
    let release!: () => void;
    client.handle(1, () => new Promise((resolve) => (release = () => resolve("late"))));
    await expect(endpoint.call(1, {}, { timeout: 50 })).rejects.toMatchObject({ code: "timeout" });
    release();
    const controller = new AbortController();
    const call = endpoint.call(1, {}, { signal: controller.signal });
    controller.abort();
    await expect(call).rejects.toMatchObject({ code: "aborted" });
    release();
    client.handle(2, () => "fine");
    expect(await endpoint.call(2)).toBe("fine");
  });
});
