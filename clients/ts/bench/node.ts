// The benchmark in Node: `node node.mjs GRANT_FILE GRANT_FILE CALLS MIB` (client
// grants or `corridor token grant` pairs: one per connect) prints one JSON report; `node node.mjs --raw URL MIB CALLS`
// prints the plain WebSocket echo ceiling (MiB/s) and round trip (p50 µs);
// `node node.mjs --raw URL MIB CALLS ATTACH ATTACH ATTACH` the same through a
// relay channel per measure, each attach message sent first.
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import { type ChannelInitGrant, connectTunnel } from "../src/index.js";
import { measure } from "./measure.js";
import { rawEcho, rawRoundTrip } from "./raw.js";

const [file, secondFile, calls, mib] = process.argv.slice(2);
if (file === "--raw") {
  // --raw URL MIB CALLS [ATTACH ATTACH ATTACH]
  const [, url, rawMib, rawCalls, ...attach] = process.argv.slice(2);
  console.log(
    JSON.stringify({
      mib_s: await rawEcho(WebSocket as never, url!, Number(rawMib), undefined, attach[0]),
      window_mib_s: await rawEcho(WebSocket as never, url!, Number(rawMib), 256 * 1024, attach[1]),
      rtt_p50_us: await rawRoundTrip(WebSocket as never, url!, Number(rawCalls), attach[2]),
    }),
  );
  process.exit(0);
}
const grantIn = (path: string) => {
  const parsed = JSON.parse(readFileSync(path, "utf8")) as ChannelInitGrant | { client: ChannelInitGrant };
  return "client" in parsed ? parsed.client : parsed;
};
const grants = [grantIn(file!), grantIn(secondFile!)] as const;
const report = await measure((attempt) => connectTunnel(grants[attempt], { WebSocket: WebSocket as never }), { calls: Number(calls), mib: Number(mib) });
console.log(JSON.stringify(report));
