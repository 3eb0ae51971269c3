// The ceilings: a plain WebSocket echo (no crypto, no streams), 256 KiB
// messages with at most `window` bytes in flight, timed the same way as an
// echo stream. Straight to an echo server on loopback, with 4 MiB in flight
// it is as fast as the platform's WebSocket moves bytes both ways at once on
// this machine. With 256 KiB (one yamux stream's window) it is one message
// at a time, stop and wait: a stream does better than that when its frames
// pipeline within the window (Node's does), so it is a yardstick, not a
// ceiling. Through the relay (`attach` is sent first, and an echo peer
// attached as the channel's server answers), the same figures are the floor
// under a session through that relay: the relay's two hops, no client code.

/** Opens a binary WebSocket; sends `attach` first when the far end is a relay channel. */
async function open(WebSocketImpl: typeof WebSocket, url: string, attach?: string): Promise<WebSocket> {
  const socket = new WebSocketImpl(url);
  socket.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  if (attach) socket.send(attach);
  return socket;
}

/** The plain WebSocket's floor under an RPC: sequential round trips of a small message, p50 in microseconds. */
export async function rawRoundTrip(WebSocketImpl: typeof WebSocket, url: string, count: number, attach?: string): Promise<number> {
  const socket = await open(WebSocketImpl, url, attach);
  const message = new Uint8Array(64);
  const times: number[] = [];
  for (let i = 0; i < count + 100; i++) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      socket.onmessage = () => resolve();
      socket.send(message);
    });
    if (i >= 100) times.push((performance.now() - started) * 1000);
  }
  socket.close();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export async function rawEcho(WebSocketImpl: typeof WebSocket, url: string, mib: number, window = 4 * 1024 * 1024, attach?: string): Promise<number> {
  const socket = await open(WebSocketImpl, url, attach);
  const message = new Uint8Array(256 * 1024);
  const total = mib * 1024 * 1024;
  let sent = 0;
  let received = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (sent < total && sent - received < window) {
        socket.send(message);
        sent += message.length;
      }
    };
    socket.onmessage = (event) => {
      received += (event.data as ArrayBuffer).byteLength;
      if (received >= total) resolve();
      else pump();
    };
    pump();
  });
  const seconds = (performance.now() - started) / 1000;
  socket.close();
  return mib / seconds;
}

/**
 * The platform's crypto under one RPC round trip: sealing a small record and
 * opening one with a non-extractable WebCrypto AES-256-GCM key, as a call
 * does (its request sealed, its answer opened), p50 in microseconds. In a
 * browser each step is a trip to the crypto thread and back. Back to back
 * (`idle` false) that thread stays awake; a call's two steps come after the
 * thread has slept through a network wait, so with `idle` each step follows
 * a pause of a timer's tick and pays the thread's wake-up, as a call does.
 */
export async function sealOpenRoundTrip(count: number, idle = false): Promise<number> {
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  const iv = new Uint8Array(12);
  const record = new Uint8Array(64);
  const pause = () => (idle ? new Promise((resolve) => setTimeout(resolve, 1)) : Promise.resolve());
  const times: number[] = [];
  for (let i = 0; i < count + 100; i++) {
    await pause();
    let started = performance.now();
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, record);
    let took = performance.now() - started;
    await pause();
    started = performance.now();
    await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, sealed);
    took += performance.now() - started;
    if (i >= 100) times.push(took * 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}
