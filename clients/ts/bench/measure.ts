// What the benchmark measures, the same in Node and in a browser, in the
// shape `corridor bench --json` prints: connect time, sequential RPC round
// trips, and one echo stream's throughput each way.

import type { Session } from "../src/index.js";

export interface Report {
  /** The first connect in this process or page: it also pays the platform's one-time set-up (Node loads its crypto lazily). */
  first_connect_ms: number;
  connect_ms: number;
  calls: { count: number; p50_us: number; p90_us: number; p99_us: number; max_us: number };
  echo: { streams: 1; bytes_each_way: number; seconds: number; mib_per_s_each_way: number };
}

const WARM_UP_CALLS = 100;
const CHUNK = 256 * 1024;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

/** `connect(0)` is timed and closed, then `connect(1)` is timed and measured: each needs a grant of its own. */
export async function measure(connect: (attempt: 0 | 1) => Promise<Session>, options: { calls: number; mib: number }): Promise<Report> {
  let started = performance.now();
  await (await connect(0)).close();
  const first_connect_ms = performance.now() - started;
  started = performance.now();
  const session = await connect(1);
  const connect_ms = performance.now() - started;

  for (let i = 0; i < WARM_UP_CALLS; i++) await session.rpc.call(1, {});
  const times: number[] = [];
  for (let i = 0; i < options.calls; i++) {
    const t = performance.now();
    await session.rpc.call(1, {});
    times.push((performance.now() - t) * 1000);
  }
  times.sort((a, b) => a - b);

  const bytes = options.mib * 1024 * 1024;
  const chunk = new Uint8Array(CHUNK).map((_, i) => i & 0xff);
  const stream = await session.openStream("echo");
  const transferStarted = performance.now();
  const writing = (async () => {
    const writer = stream.writable.getWriter();
    for (let sent = 0; sent < bytes; sent += CHUNK) await writer.write(chunk);
    await writer.close();
  })();
  let received = 0;
  const reader = stream.readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    received += value.length;
  }
  await writing;
  const seconds = (performance.now() - transferStarted) / 1000;
  if (received !== bytes) throw new Error(`echo returned ${received} of ${bytes} bytes`);
  await session.close();
  return {
    first_connect_ms,
    connect_ms,
    calls: { count: times.length, p50_us: percentile(times, 50), p90_us: percentile(times, 90), p99_us: percentile(times, 99), max_us: times[times.length - 1]! },
    echo: { streams: 1, bytes_each_way: bytes, seconds, mib_per_s_each_way: options.mib / seconds },
  };
}
