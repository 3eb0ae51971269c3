// The benchmark in Node: `node node.mjs GRANT_FILE CALLS MIB` (a client grant or a
// `corridor token grant` pair) prints one JSON report; `node node.mjs --raw URL MIB CALLS`
// prints the plain WebSocket echo ceiling (MiB/s) and round trip (p50 µs).
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import { type ChannelInitGrant, connectTunnel } from "../src/index.js";
import { measure } from "./measure.js";
import { rawEcho, rawRoundTrip } from "./raw.js";

const [file, calls, mib] = process.argv.slice(2);
if (file === "--raw") {
  // --raw URL MIB CALLS
  const [, url, rawMib, rawCalls] = process.argv.slice(2);
  console.log(
    JSON.stringify({
      mib_s: await rawEcho(WebSocket as never, url!, Number(rawMib)),
      window_mib_s: await rawEcho(WebSocket as never, url!, Number(rawMib), 256 * 1024),
      rtt_p50_us: await rawRoundTrip(WebSocket as never, url!, Number(rawCalls)),
    }),
  );
  process.exit(0);
}
const parsed = JSON.parse(readFileSync(file!, "utf8")) as ChannelInitGrant | { client: ChannelInitGrant };
const grant = "client" in parsed ? parsed.client : parsed;
const report = await measure(() => connectTunnel(grant, { WebSocket: WebSocket as never }), { calls: Number(calls), mib: Number(mib) });
console.log(JSON.stringify(report));
