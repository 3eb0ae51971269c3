// End-to-end benchmark of the TypeScript client, in Node and in headless
// Chromium, beside corridor's Rust client (`corridor bench`) against the same
// relay and endpoint in the same run, and beside plain WebSockets (no crypto,
// no streams) straight to an echo server and through the same relay: the
// floor under any client there. Not a test: figures vary with the machine;
// the ratios are what to compare.
//
//   cargo build --release -p corridor-cli
//   npm --prefix clients/ts run bench -- [--rounds 3] [--calls 2000] [--mib 256]

import { execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { WebSocket, WebSocketServer } from "ws";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const rounds = Number(args.rounds ?? 3);
const calls = Number(args.calls ?? 2000);
const mib = Number(args.mib ?? 256);
const bin = process.env.CORRIDOR_BIN ?? resolve("../../target/release/corridor");
const state = mkdtempSync(join(tmpdir(), "corridor-bench-"));
const children = [];

function start(argv) {
  const child = spawn(bin, argv, { env: { ...process.env, CORRIDOR_STATE_DIR: state, RUST_LOG: "warn" }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise((done, fail) => {
    createInterface({ input: child.stdout }).once("line", (line) => done(JSON.parse(line)));
    child.once("exit", (code) => fail(new Error(`${argv[0]} exited with ${code}`)));
  });
}

const execFileAsync = promisify(execFile);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

try {
  const relay = await start(["relay", "--listen", "127.0.0.1:0"]);
  // Every measurement gets its own channel: a pair minted by `corridor token
  // grant` and an endpoint (`corridor serve --grant`) already attached, so
  // connect times are attach plus handshake, the same for every client.
  let pairs = 0;
  const freshPair = () => {
    const pair = execFileSync(bin, ["token", "grant", "--tunnel-url", relay.ws_url], { encoding: "utf8", env: { ...process.env, CORRIDOR_STATE_DIR: state } });
    const file = join(state, `pair-${pairs++}.json`);
    writeFileSync(file, pair);
    children.push(spawn(bin, ["serve", "--grant", file], { env: { ...process.env, CORRIDOR_STATE_DIR: state, RUST_LOG: "warn" }, stdio: "ignore" }));
    return { file, client: JSON.parse(pair).client };
  };

  // The floor through the relay: a channel whose server end is a plain
  // WebSocket echo (no crypto, no streams), attached from here; the client
  // end's attach message goes to the measuring side. One channel per measure:
  // tokens are single-use.
  const echoPeers = [];
  const attachOf = (grant, role) =>
    JSON.stringify({ v: 1, channel_id: grant.channel_id, role, token: grant.token, endpoint_instance_id: randomBytes(24).toString("base64url") });
  const relayEchoChannel = () => {
    const pair = JSON.parse(execFileSync(bin, ["token", "grant", "--tunnel-url", relay.ws_url], { encoding: "utf8", env: { ...process.env, CORRIDOR_STATE_DIR: state } }));
    const peer = new WebSocket(pair.server.tunnel_url, { maxPayload: 1 << 20 });
    peer.on("open", () => peer.send(attachOf(pair.server, 2)));
    peer.on("message", (data, isBinary) => isBinary && peer.send(data, { binary: true }));
    peer.on("error", () => undefined);
    echoPeers.push(peer);
    return attachOf(pair.client, 1);
  };
  const relayEchoChannels = () => [relayEchoChannel(), relayEchoChannel(), relayEchoChannel()];

  // Inside the package, so the bundle resolves `ws` (left out of it: CommonJS) from node_modules.
  const out = resolve("node_modules/.cache/corridor-bench");
  await build({ entryPoints: ["bench/node.ts"], bundle: true, platform: "node", format: "esm", target: "node20", outfile: join(out, "node.mjs"), external: ["ws"] });
  const page = await build({ entryPoints: ["bench/browser.ts"], bundle: true, platform: "browser", format: "esm", target: "es2022", write: false });
  const script = page.outputFiles[0].contents;
  // Cross-origin isolated, so the page's clock steps by 5 us rather than
  // 100 us: round trips of a few hundred microseconds are read, not rounded.
  const isolated = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
  const site = createServer((req, res) => {
    if (req.url === "/") res.writeHead(200, { ...isolated, "content-type": "text/html" }).end('<!doctype html><script type="module" src="/bench.js"></script>');
    else if (req.url === "/bench.js") res.writeHead(200, { ...isolated, "content-type": "text/javascript" }).end(script);
    else res.writeHead(404).end();
  });
  await new Promise((done) => site.listen(0, "127.0.0.1", done));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const tab = await browser.newPage();
  await tab.goto(`http://127.0.0.1:${site.address().port}/`);
  await tab.waitForFunction(() => typeof globalThis.run === "function");

  // The platform ceiling: a plain WebSocket echo server, echoing every message as it comes.
  const echo = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 1 << 20 });
  await new Promise((done) => echo.once("listening", done));
  echo.on("connection", (socket) => socket.on("message", (data) => socket.send(data)));
  const echoUrl = `ws://127.0.0.1:${echo.address().port}/`;

  const results = { rust: [], node: [], chromium: [] };
  const ceilings = { node: [], chromium: [] };
  const relayed = { node: [], chromium: [] };
  for (let round = 1; round <= rounds; round++) {
    const rust = JSON.parse(execFileSync(bin, ["bench", "--grant", freshPair().file, "--calls", String(calls), "--mib", String(mib), "--json"], { encoding: "utf8" }));
    const node = JSON.parse(execFileSync(process.execPath, [join(out, "node.mjs"), freshPair().file, freshPair().file, String(calls), String(mib)], { encoding: "utf8" }));
    const inPage = await tab.evaluate(([grants, c, m]) => globalThis.run(grants, c, m), [[freshPair().client, freshPair().client], calls, mib]);
    // Asynchronously: the echo server runs in this process.
    ceilings.node.push(JSON.parse((await execFileAsync(process.execPath, [join(out, "node.mjs"), "--raw", echoUrl, String(mib), String(calls)], { encoding: "utf8" })).stdout));
    ceilings.chromium.push(await tab.evaluate(([url, m, c]) => globalThis.raw(url, m, c), [echoUrl, mib, calls]));
    relayed.node.push(JSON.parse((await execFileAsync(process.execPath, [join(out, "node.mjs"), "--raw", relay.ws_url, String(mib), String(calls), ...relayEchoChannels()], { encoding: "utf8" })).stdout));
    relayed.chromium.push(await tab.evaluate(([url, m, c, attach]) => globalThis.relayed(url, m, c, attach), [relay.ws_url, mib, calls, relayEchoChannels()]));
    for (const peer of echoPeers.splice(0)) peer.close();
    const webCrypto = ceilings.chromium.at(-1);
    console.log(`round ${round} chromium WebCrypto seal + open of a small record p50 ${webCrypto.seal_open_p50_us.toFixed(0)} us back to back, ${webCrypto.seal_open_idle_p50_us.toFixed(0)} us with a pause before each step`);
    for (const [where, ceiling] of [["plain WebSocket", ceilings], ["plain WebSocket through the relay", relayed]]) {
      const [n, c] = [ceiling.node.at(-1), ceiling.chromium.at(-1)];
      console.log(
        `round ${round} ${where}: echo node ${n.mib_s.toFixed(1)} (${n.window_mib_s.toFixed(1)} with 256 KiB in flight), chromium ${c.mib_s.toFixed(1)} (${c.window_mib_s.toFixed(1)}) MiB/s each way; round trip p50 node ${n.rtt_p50_us.toFixed(0)} us, chromium ${c.rtt_p50_us.toFixed(0)} us`,
      );
    }
    for (const [name, report] of Object.entries({ rust, node, chromium: inPage })) {
      results[name].push(report);
      const first = report.first_connect_ms === undefined ? "" : ` (first in the process or page ${report.first_connect_ms.toFixed(1)} ms)`;
      console.log(`round ${round} ${name.padEnd(8)} connect ${report.connect_ms.toFixed(1)} ms${first}  rpc p50 ${report.calls.p50_us.toFixed(0)} us p99 ${report.calls.p99_us.toFixed(0)} us  echo ${report.echo.mib_per_s_each_way.toFixed(1)} MiB/s each way`);
    }
  }
  const summary = (name) => ({
    connect_ms: median(results[name].map((r) => r.connect_ms)),
    first_connect_ms: results[name][0].first_connect_ms === undefined ? undefined : median(results[name].map((r) => r.first_connect_ms)),
    p50_us: median(results[name].map((r) => r.calls.p50_us)),
    p99_us: median(results[name].map((r) => r.calls.p99_us)),
    mib_s: median(results[name].map((r) => r.echo.mib_per_s_each_way)),
  });
  const rust = summary("rust");
  const masking = process.env.WS_NO_BUFFER_UTIL ? "ws without bufferutil (WS_NO_BUFFER_UTIL)" : "ws with bufferutil";
  console.log(`\nmedians of ${rounds} rounds (${calls} calls, ${mib} MiB each way through one stream; connect is attach plus handshake; relay and endpoint: ${bin}; Node: ${masking}):`);
  // `first_connect_ms` is the first connect in a fresh Node process (or, in
  // round 1, a fresh page): it also pays the platform's one-time set-up.
  console.log("client    connect_ms  first_connect_ms  rpc_p50_us  rpc_p99_us  echo_MiB/s  echo_vs_rust");
  for (const name of ["rust", "node", "chromium"]) {
    const s = summary(name);
    console.log(`${name.padEnd(9)} ${s.connect_ms.toFixed(1).padStart(10)}  ${(s.first_connect_ms?.toFixed(1) ?? "-").padStart(16)}  ${s.p50_us.toFixed(0).padStart(10)}  ${s.p99_us.toFixed(0).padStart(10)}  ${s.mib_s.toFixed(1).padStart(10)}  ${(s.mib_s / rust.mib_s).toFixed(2).padStart(12)}`);
  }
  // The same client's figures against plain WebSockets (no crypto, no
  // streams) in the same run: straight to an echo server, and through the
  // same relay to an echo peer. `in flight` is 4 MiB (what the WebSocket
  // moves) or 256 KiB (one stream's window).
  console.log("\nplain WebSocket            rtt_p50_us  echo_MiB/s 4MiB / 256KiB in flight   client: echo_vs_4MiB  echo_vs_256KiB  rpc_p50_minus_rtt_us");
  for (const name of ["node", "chromium"]) {
    const s = summary(name);
    for (const [where, ceiling] of [["direct", ceilings], ["through relay", relayed]]) {
      const [rtt, full, windowed] = ["rtt_p50_us", "mib_s", "window_mib_s"].map((key) => median(ceiling[name].map((c) => c[key])));
      console.log(
        `${`${name}, ${where}`.padEnd(25)} ${rtt.toFixed(0).padStart(11)}  ${full.toFixed(1).padStart(10)} / ${windowed.toFixed(1).padEnd(25)} ${(s.mib_s / full).toFixed(2).padStart(20)}  ${(s.mib_s / windowed).toFixed(2).padStart(14)}  ${(s.p50_us - rtt).toFixed(0).padStart(20)}`,
      );
    }
  }
  // What an RPC in the page pays beyond its own code: the page's WebSocket
  // round trip, and sealing and opening a small record on WebCrypto with a
  // non-extractable key, back to back and each after the crypto thread slept.
  const [wsRtt, sealOpen, sealOpenIdle] = ["rtt_p50_us", "seal_open_p50_us", "seal_open_idle_p50_us"].map((key) => median(ceilings.chromium.map((c) => c[key])));
  const relayRtt = median(relayed.chromium.map((c) => c.rtt_p50_us));
  console.log(
    `\nchromium: plain WebSocket round trip p50 ${wsRtt.toFixed(0)} us direct, ${relayRtt.toFixed(0)} us through the relay; WebCrypto seal + open p50 ${sealOpen.toFixed(0)} us back to back, ${sealOpenIdle.toFixed(0)} us with a pause before each step; RPC through the relay p50 ${summary("chromium").p50_us.toFixed(0)} us (Rust's through the same relay: ${rust.p50_us.toFixed(0)} us)`,
  );
  writeFileSync(join(state, "results.json"), JSON.stringify({ results, ceilings, relayed }));
  await browser.close();
  site.close();
  echo.close();
  rmSync(out, { recursive: true, force: true });
} finally {
  for (const child of children) child.kill("SIGKILL");
  rmSync(state, { recursive: true, force: true });
}
