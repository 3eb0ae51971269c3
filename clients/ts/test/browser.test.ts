// The client in a real headless Chromium (Debian's, driven by playwright-core):
// a page served from localhost gets grants from its own backend, connects
// through a real relay to `corridor serve`, calls RPC, echoes 16 MiB both
// ways, reads a refusal as a typed error, and keeps its session across a
// relay restart. Every result is read back from the page's DOM.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { type Server, createServer } from "node:http";
import { build } from "esbuild";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestGrant } from "../src/index.js";
import { type Service, corridorBin, runText, start, stateDir } from "./harness.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const state = stateDir();
let relay: Service;
let controlPlane: Service;
let endpoint: Service;
let site: Server;
let records: Service | undefined;
let siteOrigin: string;
let browser: Browser;
let page: Page;

/** The page's origin: the page, the bundle, and POST /grant, which asks the control plane. */
async function serveSite(): Promise<string> {
  const bundle = await build({ entryPoints: ["src/index.ts"], bundle: true, format: "esm", platform: "browser", target: "es2022", write: false });
  const script = bundle.outputFiles[0]!.contents;
  const html = readFileSync(new URL("./browser/page.html", import.meta.url));
  site = createServer((req, res) => {
    if (req.url === "/" && req.method === "GET") res.writeHead(200, { "content-type": "text/html" }).end(html);
    else if (req.url === "/corridor.browser.js") res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    else if (req.url === "/grant" && req.method === "POST") {
      requestGrant(controlPlane.ready.controlplane_url, "demo").then(
        (grant) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(grant)),
        (error: Error) => res.writeHead(502).end(error.message),
      );
    } else if (req.url === "/identity" && records) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ url: records.ready.url, serverKey: records.ready.server_key }));
    } else if (req.url === "/token" && req.method === "POST" && records) {
      res.writeHead(200, { "content-type": "text/plain" }).end(runText(["users", "--db", records.ready.db, "enroll", "alice"], state.path));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
  const { port } = site.address() as { port: number };
  siteOrigin = `http://127.0.0.1:${port}`;
  return `${siteOrigin}/`;
}

beforeAll(async () => {
  relay = await start(["relay", "--listen", "127.0.0.1:0"], state.path);
  controlPlane = await start(["controlplane", "--listen", "127.0.0.1:0", "--tunnel-url", relay.ready.ws_url], state.path);
  endpoint = await start(["serve", "--controlplane", controlPlane.ready.controlplane_url, "--endpoint-id", "demo"], state.path);
  const url = await serveSite();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Root needs --no-sandbox; the rest keeps Chromium off the (closed) network.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(url);
  await page.waitForSelector("body[data-ready=yes]", { timeout: 10_000 }).catch(() => {
    throw new Error(`the page did not load its module: ${errors.join("; ")}`);
  });
});

afterAll(async () => {
  await browser?.close();
  site?.close();
  await Promise.all([endpoint?.stop(), controlPlane?.stop(), relay?.stop(), records?.stop()]);
  state.cleanup();
});

const dom = async (id: string) => JSON.parse((await page.textContent(`#${id}`)) || "null");

describe("a key that script cannot read", () => {
  it("enrolls once, then logs in with the key kept in IndexedDB across a reload", async () => {
    // The identity server admits this page's origin (browsers must be listed).
    records = await start(["records", "serve", "--listen", "127.0.0.1:0", "--state-dir", `${state.path}/records`, "--allow-origin", siteOrigin], state.path);
    runText(["users", "--db", records.ready.db, "add", "alice"], state.path);
    await page.evaluate(() => (window as any).scenarios.enrollHere());
    const enrolled = await dom("enrolled");
    expect(enrolled).toMatchObject({ welcome: { user: "alice", enrolled: true }, row: "from chromium", extractable: false, exported: "InvalidAccessError" });

    await page.reload();
    await page.waitForSelector("body[data-ready=yes]");
    await page.evaluate(() => (window as any).scenarios.loginHere());
    const loggedIn = await dom("logged-in");
    expect(loggedIn.welcome).toMatchObject({ user: "alice", enrolled: false, fingerprint: enrolled.welcome.fingerprint });
    expect(loggedIn.titles).toContain("from chromium");
  });
});

describe("the demo (npm run demo)", () => {
  it("serves a page that connects and pings", async () => {
    const demo = spawn(process.execPath, ["scripts/demo.mjs"], { env: { ...process.env, PORT: "0", CORRIDOR_BIN: corridorBin() }, stdio: ["ignore", "pipe", "inherit"] });
    try {
      const ready = JSON.parse(await new Promise<string>((resolve) => createInterface({ input: demo.stdout! }).once("line", resolve)));
      const tab = await browser.newPage();
      await tab.goto(ready.page);
      await tab.waitForFunction(() => document.getElementById("out")?.textContent?.startsWith("connected"), null, { timeout: 15_000 });
      await tab.click("#ping");
      await tab.waitForFunction(() => document.getElementById("out")?.textContent?.startsWith("ping:"), null, { timeout: 15_000 });
      expect(await tab.textContent("#out")).toMatch(/^ping: \{"pong":true\} in [0-9.]+ ms$/);
      await tab.close();
    } finally {
      demo.kill("SIGTERM");
    }
  });
});

describe("in Chromium", () => {
  it("calls RPC through the relay", async () => {
    await page.evaluate(() => (window as any).scenarios.rpc());
    expect(await dom("rpc")).toEqual({ pong: { pong: true }, echoed: { from: "chromium" }, closed: "closed" });
  });

  it("echoes 16 MiB both ways byte for byte", async () => {
    await page.evaluate(() => (window as any).scenarios.echo(16));
    expect(await dom("echo")).toMatchObject({ bytes: 16 * 1024 * 1024, equal: true });
  });

  it("reads a used grant's refusal as a typed error", async () => {
    await page.evaluate(() => (window as any).scenarios.usedGrant());
    expect(await dom("refused")).toEqual({ name: "CorridorError", code: "attach_refused", reason: "token_replay" });
  });

  it("keeps its session across a relay restart with a fresh grant", async () => {
    expect(await page.evaluate(() => (window as any).scenarios.keepConnected())).toEqual({ pong: true });
    const address = new URL(relay.ready.ws_url).host;
    await relay.terminate();
    await expect.poll(async () => (await dom("disconnects"))?.[0], { timeout: 10_000 }).toMatchObject({ attempt: 0, reason: "shutdown" });
    relay = await start(["relay", "--listen", address], state.path);
    await page.evaluate(() => (window as any).scenarios.afterRestart());
    expect(await dom("after-restart")).toEqual({ answer: { after: "restart" }, streamed: { bytes: 1024 * 1024, equal: true } });
  });
});
