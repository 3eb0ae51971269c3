// The benchmark in a page: the runner calls `run(grant, calls, mib)` and reads the JSON report it returns.
import { type ChannelInitGrant, connectTunnel } from "../src/index.js";
import { measure } from "./measure.js";
import { rawEcho, rawRoundTrip, sealOpenRoundTrip } from "./raw.js";

(globalThis as { run?: unknown }).run = (grant: ChannelInitGrant, calls: number, mib: number) => measure(() => connectTunnel(grant), { calls, mib });
(globalThis as { raw?: unknown }).raw = async (url: string, mib: number, calls: number) => ({
  mib_s: await rawEcho(WebSocket, url, mib),
  window_mib_s: await rawEcho(WebSocket, url, mib, 256 * 1024),
  rtt_p50_us: await rawRoundTrip(WebSocket, url, calls),
  seal_open_p50_us: await sealOpenRoundTrip(calls),
});
