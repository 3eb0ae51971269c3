// The benchmark in Node: `node node.mjs GRANT_FILE CALLS MIB` (a client grant or a
// `corridor token grant` pair) prints one JSON report; `node node.mjs --raw URL MIB`
// prints the plain WebSocket echo ceiling in MiB/s.
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import { type ChannelInitGrant, connectTunnel } from "../src/index.js";
import { measure } from "./measure.js";
import { rawEcho } from "./raw.js";

const [file, calls, mib] = process.argv.slice(2);
if (file === "--raw") {
  console.log(JSON.stringify(await rawEcho(WebSocket as never, calls!, Number(mib))));
  process.exit(0);
}
const parsed = JSON.parse(readFileSync(file!, "utf8")) as ChannelInitGrant | { client: ChannelInitGrant };
const grant = "client" in parsed ? parsed.client : parsed;
const report = await measure(() => connectTunnel(grant, { WebSocket: WebSocket as never }), { calls: Number(calls), mib: Number(mib) });
console.log(JSON.stringify(report));
