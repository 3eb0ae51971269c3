// End-to-end benchmark of the TypeScript client, in Node and in headless
// Chromium, beside corridor's Rust client (`corridor bench`) against the same
// relay, control plane and endpoint in the same run. Not a test: figures vary
// with the machine; ratios to the Rust client are what to compare.
//
//   cargo build --release -p corridor-cli
//   npm --prefix clients/ts run bench -- [--rounds 3] [--calls 2000] [--mib 256]

import { execFile, execFileSync, spawn } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { WebSocketServer } from "ws";

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
  for (let round = 1; round <= rounds; round++) {
    const rust = JSON.parse(execFileSync(bin, ["bench", "--grant", freshPair().file, "--calls", String(calls), "--mib", String(mib), "--json"], { encoding: "utf8" }));
    const node = JSON.parse(execFileSync(process.execPath, [join(out, "node.mjs"), freshPair().file, String(calls), String(mib)], { encoding: "utf8" }));
    const inPage = await tab.evaluate(([grant, c, m]) => globalThis.run(grant, c, m), [freshPair().client, calls, mib]);
    // Asynchronously: the echo server runs in this process.
    ceilings.node.push(JSON.parse((await execFileAsync(process.execPath, [join(out, "node.mjs"), "--raw", echoUrl, String(mib), String(calls)], { encoding: "utf8" })).stdout));
    ceilings.chromium.push(await tab.evaluate(([url, m, c]) => globalThis.raw(url, m, c), [echoUrl, mib, calls]));
    const [n, c] = [ceilings.node.at(-1), ceilings.chromium.at(-1)];
    console.log(
      `round ${round} plain WebSocket: echo node ${n.mib_s.toFixed(1)} (${n.window_mib_s.toFixed(1)} with 256 KiB in flight), chromium ${c.mib_s.toFixed(1)} (${c.window_mib_s.toFixed(1)}) MiB/s each way; round trip p50 node ${n.rtt_p50_us.toFixed(0)} us, chromium ${c.rtt_p50_us.toFixed(0)} us; chromium WebCrypto seal + open of a small record p50 ${c.seal_open_p50_us.toFixed(0)} us`,
    );
    for (const [name, report] of Object.entries({ rust, node, chromium: inPage })) {
      results[name].push(report);
      console.log(`round ${round} ${name.padEnd(8)} connect ${report.connect_ms.toFixed(1)} ms  rpc p50 ${report.calls.p50_us.toFixed(0)} us p99 ${report.calls.p99_us.toFixed(0)} us  echo ${report.echo.mib_per_s_each_way.toFixed(1)} MiB/s each way`);
    }
  }
  const summary = (name) => ({
    connect_ms: median(results[name].map((r) => r.connect_ms)),
    p50_us: median(results[name].map((r) => r.calls.p50_us)),
    p99_us: median(results[name].map((r) => r.calls.p99_us)),
    mib_s: median(results[name].map((r) => r.echo.mib_per_s_each_way)),
  });
  const rust = summary("rust");
  console.log(`\nmedians of ${rounds} rounds (${calls} calls, ${mib} MiB each way through one stream; connect is attach plus handshake; relay and endpoint: ${bin}):`);
  console.log("client    connect_ms  rpc_p50_us  rpc_p99_us  echo_MiB/s  echo_vs_rust  plain_ws_rtt_p50_us  plain_ws_echo_MiB/s  echo_vs_plain_ws  plain_ws_256KiB_MiB/s  echo_vs_256KiB");
  for (const name of ["rust", "node", "chromium"]) {
    const s = summary(name);
    const ceiling = ceilings[name] ? median(ceilings[name].map((c) => c.mib_s)) : undefined;
    const rtt = ceilings[name] ? median(ceilings[name].map((c) => c.rtt_p50_us)) : undefined;
    const windowed = ceilings[name] ? median(ceilings[name].map((c) => c.window_mib_s)) : undefined;
    const vsCeiling = ceiling
      ? `${rtt.toFixed(0).padStart(19)}  ${ceiling.toFixed(1).padStart(19)}  ${(s.mib_s / ceiling).toFixed(2).padStart(16)}  ${windowed.toFixed(1).padStart(21)}  ${(s.mib_s / windowed).toFixed(2).padStart(14)}`
      : "";
    console.log(`${name.padEnd(9)} ${s.connect_ms.toFixed(1).padStart(10)}  ${s.p50_us.toFixed(0).padStart(10)}  ${s.p99_us.toFixed(0).padStart(10)}  ${s.mib_s.toFixed(1).padStart(10)}  ${(s.mib_s / rust.mib_s).toFixed(2).padStart(12)}  ${vsCeiling}`);
  }
  // What an RPC in the page pays beyond its own code: the page's WebSocket
  // round trip (direct, no relay), and sealing and opening a small record on
  // WebCrypto with a non-extractable key.
  const [wsRtt, sealOpen] = ["rtt_p50_us", "seal_open_p50_us"].map((key) => median(ceilings.chromium.map((c) => c[key])));
  console.log(`chromium: plain WebSocket round trip p50 ${wsRtt.toFixed(0)} us, WebCrypto seal + open p50 ${sealOpen.toFixed(0)} us; RPC through the relay p50 ${summary("chromium").p50_us.toFixed(0)} us (Rust's through the same relay: ${rust.p50_us.toFixed(0)} us)`);
  writeFileSync(join(state, "results.json"), JSON.stringify(results));
  await browser.close();
  site.close();
  echo.close();
  rmSync(out, { recursive: true, force: true });
} finally {
  for (const child of children) child.kill("SIGKILL");
  rmSync(state, { recursive: true, force: true });
}
