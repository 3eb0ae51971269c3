// One command for the browser demo: a relay, a control plane and an endpoint
// (the workspace's `corridor` binary), and a page on http://127.0.0.1:8000
// whose server hands out grants. Open the printed URL; Ctrl-C stops it all.
//
//   cargo build --release -p corridor-cli && npm --prefix clients/ts run demo

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { build } from "esbuild";

const release = resolve("../../target/release/corridor");
const bin = process.env.CORRIDOR_BIN ?? (existsSync(release) ? release : resolve("../../target/debug/corridor"));
const port = Number(process.env.PORT ?? 8000);
const state = mkdtempSync(join(tmpdir(), "corridor-demo-"));
const children = [];

function start(argv) {
  const child = spawn(bin, argv, { env: { ...process.env, CORRIDOR_STATE_DIR: state }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise((done, fail) => {
    createInterface({ input: child.stdout }).once("line", (line) => done(JSON.parse(line)));
    child.once("exit", (code) => fail(new Error(`corridor ${argv[0]} exited with ${code}`)));
  });
}

function stop() {
  for (const child of children) child.kill("SIGTERM");
  rmSync(state, { recursive: true, force: true });
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

const relay = await start(["relay", "--listen", "127.0.0.1:0"]);
const cp = await start(["controlplane", "--listen", "127.0.0.1:0", "--tunnel-url", relay.ws_url]);
await start(["serve", "--controlplane", cp.controlplane_url, "--endpoint-id", "demo"]);

const bundle = await build({ entryPoints: ["src/index.ts"], bundle: true, format: "esm", platform: "browser", target: "es2022", minify: true, write: false });
const script = bundle.outputFiles[0].contents;
const page = readFileSync("demo/index.html");
const server = createServer(async (req, res) => {
  if (req.url === "/") res.writeHead(200, { "content-type": "text/html" }).end(page);
  else if (req.url === "/corridor.browser.js") res.writeHead(200, { "content-type": "text/javascript" }).end(script);
  else if (req.url === "/grant" && req.method === "POST") {
    // The page's backend asks the control plane for a fresh channel: grants never sit in the page's URL.
    const answer = await fetch(`${cp.controlplane_url}/v1/connect/artifact`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ endpoint_id: "demo" }) });
    const body = await answer.json();
    res.writeHead(answer.ok ? 200 : 502, { "content-type": "application/json" }).end(JSON.stringify(body.connect_artifact?.tunnel_grant ?? body));
  } else res.writeHead(404).end();
});
server.listen(port, "127.0.0.1", () => {
  const url = `http://127.0.0.1:${server.address().port}/`;
  console.log(JSON.stringify({ page: url, relay: relay.ws_url, controlplane: cp.controlplane_url, corridor: bin }));
  console.error(`open ${url} in a browser; Ctrl-C stops the demo`);
});
