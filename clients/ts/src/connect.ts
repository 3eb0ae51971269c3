// Opening sessions: through a relay with a channel grant, directly to an
// endpoint's WebSocket, or with a grant fetched from a control plane.

import { b64uDecode, b64uEncode, randomBytes } from "./bytes.js";
import { Carrier, type WebSocketConstructor } from "./carrier.js";
import { CorridorError, errorOf } from "./errors.js";
import { type Records, clientHandshake } from "./fsec1.js";
import { Session } from "./session.js";
import type { ChannelInitGrant, DirectConnectInfo } from "./types.js";

export interface ConnectOptions {
  /** The WebSocket implementation: the browser's by default; in Node 20 pass the `ws` package's. */
  WebSocket?: WebSocketConstructor;
  /** Milliseconds for the WebSocket to open (default 10 s). */
  connectTimeout?: number;
  /** Milliseconds for attach and handshake together (default 10 s, and never past the grant's init_exp). */
  handshakeTimeout?: number;
  /** Milliseconds between keepalive pings; by default half the grant's idle timeout (at least 500 ms), 15 s direct. */
  keepaliveInterval?: number;
  /** Aborting fails a connect in progress with `aborted`. */
  signal?: AbortSignal;
  /** The clock, Unix seconds (tests). */
  now?: () => number;
}

const SUITE_NAMES: Record<number, string> = { 1: "x25519", 2: "p256", 0x4e01: "noise" };

function webSocketOf(options: ConnectOptions): WebSocketConstructor {
  const ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!ctor) throw new CorridorError("connect_failed", "no WebSocket implementation: pass { WebSocket } (in Node 20: the `ws` package)");
  return ctor;
}

function suiteOf(suite: number): 1 | 2 {
  if (suite === 1 || suite === 2) return suite;
  const name = SUITE_NAMES[suite] ?? String(suite);
  throw new CorridorError("invalid_grant", `suite ${name} is not supported by this client (fsec1 x25519 and p256 are)`);
}

function pskOf(text: unknown): Uint8Array {
  try {
    const psk = b64uDecode(String(text));
    if (psk.length === 32) return psk;
  } catch {
    // reported below
  }
  throw new CorridorError("invalid_grant", "e2ee_psk_b64u is not 32 bytes of base64url");
}

const unixNow = () => Date.now() / 1000;

/**
 * Joins a relay channel as its client with a single-use grant (from a control
 * plane, or `corridor token grant`), then runs the E2EE handshake with the
 * endpoint on the other side.
 */
export async function connectTunnel(grant: ChannelInitGrant, options: ConnectOptions = {}): Promise<Session> {
  if (grant.role !== 1) throw new CorridorError("invalid_grant", "this grant is for the server endpoint (role 2), not a client");
  if (typeof grant.tunnel_url !== "string" || typeof grant.channel_id !== "string" || typeof grant.token !== "string") {
    throw new CorridorError("invalid_grant", "the grant lacks tunnel_url, channel_id or token");
  }
  const now = options.now ?? unixNow;
  const psk = pskOf(grant.e2ee_psk_b64u);
  const suite = suiteOf(grant.default_suite);
  const left = grant.channel_init_expire_at_unix_s * 1000 - now() * 1000;
  if (left <= 0) throw new CorridorError("grant_expired", "the grant's channel_init_expire_at_unix_s has passed: ask for a fresh grant");
  const idleMs = Math.max(grant.idle_timeout_seconds, 1) * 1000;
  const keepalive = options.keepaliveInterval ?? Math.max(idleMs / 2, 500);
  return establish(grant.tunnel_url, options, Math.min(options.handshakeTimeout ?? 10_000, left), keepalive, async (carrier) => {
    carrier.send(
      JSON.stringify({
        v: 1,
        channel_id: grant.channel_id,
        role: 1,
        token: grant.token,
        endpoint_instance_id: b64uEncode(randomBytes(24)),
      }),
    );
    return clientHandshake(carrier, { psk, suite, channelId: grant.channel_id }, now);
  });
}

/** Connects straight to an endpoint's WebSocket (`corridor serve --listen`) with its direct connect info. */
export async function connectDirect(info: DirectConnectInfo, options: ConnectOptions = {}): Promise<Session> {
  const now = options.now ?? unixNow;
  const psk = pskOf(info.e2ee_psk_b64u);
  const suite = suiteOf(info.default_suite);
  const left = info.channel_init_expire_at_unix_s * 1000 - now() * 1000;
  if (left <= 0) throw new CorridorError("grant_expired", "the connect info's channel_init_expire_at_unix_s has passed");
  return establish(info.ws_url, options, Math.min(options.handshakeTimeout ?? 10_000, left), options.keepaliveInterval ?? 15_000, (carrier) =>
    clientHandshake(carrier, { psk, suite, channelId: info.channel_id }, now),
  );
}

export interface ArtifactOptions extends ConnectOptions {
  /** A bearer token, if the control plane requires one. */
  token?: string;
  /** The fetch implementation (default: the platform's). */
  fetch?: typeof fetch;
}

/** Asks a control plane (`POST /v1/connect/artifact`, flowersec's API) for a fresh channel to `endpointId`, then connects. */
export async function connectArtifact(controlplaneUrl: string, endpointId: string, options: ArtifactOptions = {}): Promise<Session> {
  return connectTunnel(await requestGrant(controlplaneUrl, endpointId, options), options);
}

/** The client grant of a fresh channel to `endpointId` from a control plane. */
export async function requestGrant(controlplaneUrl: string, endpointId: string, options: ArtifactOptions = {}): Promise<ChannelInitGrant> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await doFetch(new URL("/v1/connect/artifact", controlplaneUrl), {
      method: "POST",
      headers,
      body: JSON.stringify({ endpoint_id: endpointId }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (cause) {
    throw new CorridorError("connect_failed", `control plane ${controlplaneUrl} unreachable`, { cause });
  }
  const text = await response.text();
  if (!response.ok) {
    let reason = text;
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
      reason = body.error?.code ?? body.error?.message ?? text;
    } catch {
      // not JSON: the text is the reason
    }
    throw new CorridorError("connect_failed", `control plane refused: HTTP ${response.status} ${reason}`, { reason });
  }
  let grant: ChannelInitGrant | undefined;
  try {
    grant = (JSON.parse(text) as { connect_artifact?: { tunnel_grant?: ChannelInitGrant } }).connect_artifact?.tunnel_grant;
  } catch {
    // reported below
  }
  if (!grant) throw new CorridorError("invalid_grant", "the control plane's answer has no connect_artifact.tunnel_grant");
  return grant;
}

/** @internal Opens the carrier, runs `handshake` (attach included) under one deadline, and builds the session. */
export async function establish(
  url: string,
  options: ConnectOptions,
  deadlineMs: number,
  keepaliveMs: number,
  handshake: (carrier: Carrier) => Promise<Records>,
  protocols?: string[],
): Promise<Session> {
  if (options.signal?.aborted) throw new CorridorError("aborted", "connect aborted");
  const carrier = await Carrier.open(url, { WebSocket: webSocketOf(options), timeoutMs: options.connectTimeout ?? 10_000, ...(protocols ? { protocols } : {}) });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CorridorError("handshake_timeout", `attach and handshake did not finish within ${Math.round(deadlineMs)} ms`)), deadlineMs);
    onAbort = () => reject(new CorridorError("aborted", "connect aborted"));
    options.signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const run = async () => {
      const records = await handshake(carrier);
      return new Session(carrier, records, {
        maxInboundStreams: 64,
        maxOutboundStreams: 32,
        acceptBacklog: 32,
        keepaliveIntervalMs: keepaliveMs,
        keepaliveTimeoutMs: Math.min(keepaliveMs, 10_000),
      });
    };
    return await Promise.race([run(), guard]);
  } catch (error) {
    carrier.close(1000, "handshake_failed");
    throw refusal(errorOf(error, "handshake_failed"));
  } finally {
    clearTimeout(timer);
    if (onAbort) options.signal?.removeEventListener("abort", onAbort);
  }
}

/** A close by the far side during connect says why: the relay's attach refusals, or the endpoint leaving. */
function refusal(error: CorridorError): CorridorError {
  if (error.code !== "closed") return error;
  const reason = error.reason ?? "";
  if (reason === "init_expired") return new CorridorError("grant_expired", "the relay closed the channel: its init_exp passed", { reason });
  if (reason === "" || reason === "peer_closed") {
    return new CorridorError("handshake_failed", `the endpoint closed the channel during the handshake (${reason || "no reason"}): a wrong PSK, or no endpoint`, { reason });
  }
  return new CorridorError("attach_refused", `the relay refused the attach: ${reason}`, { reason });
}
