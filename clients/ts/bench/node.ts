// The benchmark in Node: `node node.mjs GRANT_FILE CALLS MIB` (a client grant or a
// `corridor token grant` pair) prints one JSON report.
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import { type ChannelInitGrant, connectTunnel } from "../src/index.js";
import { measure } from "./measure.js";

const [file, calls, mib] = process.argv.slice(2);
const parsed = JSON.parse(readFileSync(file!, "utf8")) as ChannelInitGrant | { client: ChannelInitGrant };
const grant = "client" in parsed ? parsed.client : parsed;
const report = await measure(() => connectTunnel(grant, { WebSocket: WebSocket as never }), { calls: Number(calls), mib: Number(mib) });
console.log(JSON.stringify(report));
