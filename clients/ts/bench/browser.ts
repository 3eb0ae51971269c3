// The benchmark in a page: the runner calls `run(grant, calls, mib)` and reads the JSON report it returns.
import { type ChannelInitGrant, connectTunnel } from "../src/index.js";
import { measure } from "./measure.js";
import { rawEcho } from "./raw.js";

(globalThis as { run?: unknown }).run = (grant: ChannelInitGrant, calls: number, mib: number) => measure(() => connectTunnel(grant), { calls, mib });
(globalThis as { raw?: unknown }).raw = (url: string, mib: number) => rawEcho(WebSocket, url, mib);
