// Real corridor processes for the tests: the binary cargo built, each service
// started with a private state directory, its JSON ready line read from stdout.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** `$CORRIDOR_BIN`, or the debug build in the workspace's target directory. */
export function corridorBin(): string {
  const bin = process.env.CORRIDOR_BIN ?? join(root, "target/debug/corridor");
  if (!existsSync(bin)) throw new Error(`${bin} not found: run \`cargo build -p corridor-cli\` first (or set CORRIDOR_BIN)`);
  return bin;
}

export interface Service {
  ready: Record<string, any>;
  process: ChildProcess;
  /** SIGKILL, then waits for the exit. */
  stop(): Promise<void>;
  /** SIGTERM (a graceful shutdown), then waits for the exit. */
  terminate(): Promise<void>;
}

/** A private state directory, removed by `cleanup`. */
export function stateDir(): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), "corridor-ts-"));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** The flowersec 0.27.0 endpoint built from corridor-testkit (the interop peer). */
export function flowersecBin(): string {
  return corridorBin().replace(/corridor$/, "flowersec-endpoint");
}

/** Runs `corridor ARGS` (or another `bin`) and resolves with its first stdout line as JSON. */
export function start(args: string[], state: string, bin = corridorBin()): Promise<Service> {
  const child = spawn(bin, args, {
    env: { ...process.env, CORRIDOR_STATE_DIR: state, RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`corridor ${args.join(" ")}: no ready line in 30 s\n${stderr}`)), 30_000);
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", (line) => {
      clearTimeout(timer);
      try {
        resolve({
          ready: JSON.parse(line),
          process: child,
          stop: async () => {
            child.kill("SIGKILL");
            await exited;
          },
          terminate: async () => {
            child.kill("SIGTERM");
            await exited;
          },
        });
      } catch {
        reject(new Error(`corridor ${args.join(" ")}: ready line is not JSON: ${line}\n${stderr}`));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`corridor ${args.join(" ")} exited with ${code} before its ready line\n${stderr}`));
    });
  });
}

/** Runs a one-shot `corridor ARGS` and returns its stdout as JSON. */
export function run(args: string[], state: string): any {
  return JSON.parse(runText(args, state));
}

/** Runs a one-shot `corridor ARGS` and returns its stdout, trimmed. */
export function runText(args: string[], state: string): string {
  return execFileSync(corridorBin(), args, { env: { ...process.env, CORRIDOR_STATE_DIR: state }, encoding: "utf8" }).trim();
}

/** Deterministic pseudo-random bytes (a test's data, not a secret). */
export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Reads a stream to its end. */
export async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of readable as unknown as AsyncIterable<Uint8Array>) {
    chunks.push(chunk);
    length += chunk.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Writes `data` in `chunk`-byte pieces, then half-closes. */
export async function writeAll(writable: WritableStream<Uint8Array>, data: Uint8Array, chunk = 256 * 1024): Promise<void> {
  const writer = writable.getWriter();
  for (let at = 0; at < data.length; at += chunk) await writer.write(data.subarray(at, at + chunk));
  await writer.close();
}

/** Runs `corridor ARGS` that prints no ready line (`serve --grant`); `stop` kills it. */
export function launch(args: string[], state: string): { stop(): Promise<void> } {
  const child = spawn(corridorBin(), args, { env: { ...process.env, CORRIDOR_STATE_DIR: state, RUST_LOG: "warn" }, stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    stop: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
