// Key-identified clients (`corridor records serve`, `corridor-identity`): a
// device enrolls once with a one-time token (Noise XX, the server's key
// pinned, the token inside the encrypted handshake), then logs in with its
// key alone (Noise IK). In a browser the key is a non-extractable WebCrypto
// key kept in IndexedDB: the page can use it, no script can read it out.

import { b64uDecode, b64uEncode, utf8 } from "./bytes.js";
import { type ConnectOptions, establish } from "./connect.js";
import { type StaticIdentity, generateIdentity } from "./crypto.js";
import { CorridorError } from "./errors.js";
import { type NoiseParams, noiseHandshake } from "./noise.js";
import type { Session } from "./session.js";

/** The service name both sides bind into the handshake. */
const CHANNEL_ID = "corridor.identity";

/** Where the server is and the key it must prove (its ready line's `url` and `server_key`). */
export interface IdentityServer {
  url: string;
  /** The server's public key, base64url: pinned, never learned. */
  serverKey: string;
}

/** The server's welcome: who this session is. */
export interface Welcome {
  user: string;
  groups: string[];
  fingerprint: string;
  enrolled: boolean;
}

export interface Enrollment {
  user: string;
  /** The one-time token from `corridor users enroll USER` (`ce1.…`). */
  token: string;
  /** What to call this device. */
  label?: string;
}

async function connect(server: IdentityServer, params: Omit<NoiseParams, "channelId" | "remoteKey">, options: ConnectOptions): Promise<{ session: Session; welcome: Welcome }> {
  let remoteKey: Uint8Array;
  try {
    remoteKey = b64uDecode(server.serverKey);
  } catch {
    remoteKey = new Uint8Array(0);
  }
  if (remoteKey.length !== 32) throw new CorridorError("invalid_grant", "serverKey is not a 32-byte base64url key");
  let welcome: Welcome | undefined;
  const session = await establish(
    server.url,
    options,
    options.handshakeTimeout ?? 10_000,
    options.keepaliveInterval ?? 15_000,
    async (carrier) => {
      const outcome = await noiseHandshake(carrier, { ...params, channelId: CHANNEL_ID, remoteKey });
      welcome = JSON.parse(new TextDecoder().decode(outcome.payload)) as Welcome;
      return outcome.records;
    },
    ["corridor.noise"],
  );
  return { session, welcome: welcome! };
}

/** Registers `identity`'s key for `enrollment.user` with a one-time token; the session is logged in at once. */
export function enroll(server: IdentityServer, identity: StaticIdentity, enrollment: Enrollment, options: ConnectOptions = {}) {
  const payload = utf8(JSON.stringify({ enroll: { user: enrollment.user, token: enrollment.token, label: enrollment.label ?? "" } }));
  return connect(server, { pattern: "XX", identity, payload }, options);
}

/** Logs in with an enrolled key alone. */
export function login(server: IdentityServer, identity: StaticIdentity, options: ConnectOptions = {}) {
  return connect(server, { pattern: "IK", identity }, options);
}

/** The public key as `corridor users keys` lists it (base64url). */
export function publicKeyOf(identity: StaticIdentity): string {
  return b64uEncode(identity.publicKey);
}

const DB = "corridor";
const STORE = "identities";

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * This browser's identity named `name`, created on first use: a
 * non-extractable X25519 key stored in IndexedDB (a CryptoKey survives
 * structured cloning with its non-extractability). Browsers only.
 */
export async function storedIdentity(name = "default"): Promise<StaticIdentity> {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb) throw new CorridorError("invalid_grant", "IndexedDB is not available here: keep the identity from generateIdentity() yourself");
  const open = idb.open(DB, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  const db = await request(open);
  try {
    const found = (await request(db.transaction(STORE).objectStore(STORE).get(name))) as StaticIdentity | undefined;
    if (found) return found;
    const fresh = await generateIdentity();
    await request(db.transaction(STORE, "readwrite").objectStore(STORE).put(fresh, name));
    return fresh;
  } finally {
    db.close();
  }
}

export { generateIdentity };
