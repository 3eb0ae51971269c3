// The benchmark in a page: the runner calls `run(grant, calls, mib)` and reads the JSON report it returns.
import { type ChannelInitGrant, connectTunnel } from "../src/index.js";
import { measure } from "./measure.js";
import { rawEcho, rawRoundTrip, sealOpenRoundTrip } from "./raw.js";

(globalThis as { run?: unknown }).run = (grants: [ChannelInitGrant, ChannelInitGrant], calls: number, mib: number) =>
  measure((attempt) => connectTunnel(grants[attempt]), { calls, mib });
(globalThis as { raw?: unknown }).raw = async (url: string, mib: number, calls: number) => ({
  mib_s: await rawEcho(WebSocket, url, mib),
  window_mib_s: await rawEcho(WebSocket, url, mib, 256 * 1024),
  rtt_p50_us: await rawRoundTrip(WebSocket, url, calls),
  seal_open_p50_us: await sealOpenRoundTrip(calls),
  // Each step after a pause: fewer samples, as every pause is a timer's tick.
  seal_open_idle_p50_us: await sealOpenRoundTrip(Math.min(calls, 200), true),
});
// The same through the relay, each measure on a channel of its own: `attach` is [4 MiB echo, 256 KiB echo, round trips].
(globalThis as { relayed?: unknown }).relayed = async (url: string, mib: number, calls: number, attach: [string, string, string]) => ({
  mib_s: await rawEcho(WebSocket, url, mib, undefined, attach[0]),
  window_mib_s: await rawEcho(WebSocket, url, mib, 256 * 1024, attach[1]),
  rtt_p50_us: await rawRoundTrip(WebSocket, url, calls, attach[2]),
});
