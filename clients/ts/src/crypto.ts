// The platform's WebCrypto (browsers and Node 20): SHA-256, HMAC, HKDF,
// AES-256-GCM and the ephemeral X25519 / P-256 exchanges. No primitive is
// written here; private keys are created non-extractable.

import { CorridorError } from "./errors.js";

const subtle = (): SubtleCrypto => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new CorridorError("handshake_failed", "WebCrypto is not available (a browser page must be a secure context: https or localhost)");
  return s;
};

/** WebCrypto's types want ArrayBuffer-backed views; ours always are or are copied by the platform. */
export const view = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => bytes as Uint8Array<ArrayBuffer>;

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest("SHA-256", view(data)));
}

export async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await subtle().importKey("raw", view(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle().sign("HMAC", k, view(data)));
}

/** HKDF-SHA256 (extract with `salt`, expand with `info`) to `length` bytes. */
export async function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  const k = await subtle().importKey("raw", view(ikm), "HKDF", false, ["deriveBits"]);
  const bits = await subtle().deriveBits({ name: "HKDF", hash: "SHA-256", salt: view(salt), info: view(info) }, k, length * 8);
  return new Uint8Array(bits);
}

/** An AES-256-GCM key: seals to ciphertext followed by the 16-byte tag, opens that back (rejecting a bad tag). */
export interface AeadKey {
  seal(iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  open(iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Promise<Uint8Array>;
}

/**
 * Node's own `crypto` module, where there is one. Node's WebCrypto wraps the
 * same OpenSSL AES-GCM in an asynchronous job whose bookkeeping costs more
 * than the cipher: measured here, 100 MiB in 256 KiB records took 108-129 ms
 * through WebCrypto and 46-60 ms through `createCipheriv`, and an echo
 * through one stream spent a third of its main-thread time in WebCrypto's job
 * wrapper. Browsers have only WebCrypto, which this falls back to. The
 * specifier is computed so that bundlers leave it alone.
 */
interface NodeCrypto {
  createSecretKey(key: Uint8Array): unknown;
  createCipheriv(algorithm: "aes-256-gcm", key: unknown, iv: Uint8Array, options: { authTagLength: 16 }): NodeCipher;
  createDecipheriv(algorithm: "aes-256-gcm", key: unknown, iv: Uint8Array, options: { authTagLength: 16 }): NodeDecipher;
}
/** The parts of Node's Cipher and Decipher used here (declared so the package's types need no Node types). */
interface NodeCipher {
  setAAD(aad: Uint8Array): unknown;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
}
interface NodeDecipher {
  setAAD(aad: Uint8Array): unknown;
  setAuthTag(tag: Uint8Array): unknown;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
}
let nodeCrypto: Promise<NodeCrypto | null> | undefined;
function loadNodeCrypto(): Promise<NodeCrypto | null> {
  const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === "string";
  const specifier = ["node", "crypto"].join(":");
  nodeCrypto ??= isNode ? (import(/* @vite-ignore */ specifier) as Promise<NodeCrypto>).catch(() => null) : Promise.resolve(null);
  return nodeCrypto;
}

export async function aesGcmKey(raw: Uint8Array): Promise<AeadKey> {
  const node = await loadNodeCrypto();
  if (node) {
    const key = node.createSecretKey(raw);
    return {
      seal: async (iv, aad, plaintext) => {
        const cipher = node.createCipheriv("aes-256-gcm", key, iv, { authTagLength: 16 });
        cipher.setAAD(aad);
        const head = cipher.update(plaintext);
        const tail = cipher.final();
        const out = new Uint8Array(head.length + tail.length + 16);
        out.set(head, 0);
        out.set(tail, head.length);
        out.set(cipher.getAuthTag(), head.length + tail.length);
        return out;
      },
      open: async (iv, aad, sealed) => {
        if (sealed.length < 16) throw new Error("sealed data shorter than its tag");
        const decipher = node.createDecipheriv("aes-256-gcm", key, iv, { authTagLength: 16 });
        decipher.setAAD(aad);
        decipher.setAuthTag(sealed.subarray(sealed.length - 16));
        const head = decipher.update(sealed.subarray(0, sealed.length - 16));
        const tail = decipher.final(); // throws when the tag does not verify
        if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
        const out = new Uint8Array(head.length + tail.length);
        out.set(head, 0);
        out.set(tail, head.length);
        return out;
      },
    };
  }
  const key = await subtle().importKey("raw", view(raw), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  return {
    seal: async (iv, aad, plaintext) =>
      new Uint8Array(await subtle().encrypt({ name: "AES-GCM", iv: view(iv), additionalData: view(aad), tagLength: 128 }, key, view(plaintext))),
    open: async (iv, aad, sealed) =>
      new Uint8Array(await subtle().decrypt({ name: "AES-GCM", iv: view(iv), additionalData: view(aad), tagLength: 128 }, key, view(sealed))),
  };
}

/** A static X25519 identity: the private key is a non-extractable CryptoKey (script cannot read it out), the public key its raw 32 bytes. */
export interface StaticIdentity {
  privateKey: CryptoKey;
  publicKey: Uint8Array;
}

/** A fresh X25519 identity whose private key is non-extractable. */
export async function generateIdentity(): Promise<StaticIdentity> {
  const pair = (await subtle().generateKey({ name: "X25519" }, false, ["deriveBits"])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await subtle().exportKey("raw", pair.publicKey)) };
}

/** X25519 between our private key and the peer's raw public key; refuses an all-zero (low-order) result. */
export async function x25519(privateKey: CryptoKey, peerPublic: Uint8Array): Promise<Uint8Array> {
  if (peerPublic.length !== 32) throw new CorridorError("handshake_failed", "peer's key is not 32 bytes");
  let shared: Uint8Array;
  try {
    const peer = await subtle().importKey("raw", view(peerPublic), { name: "X25519" }, true, []);
    shared = new Uint8Array(await subtle().deriveBits({ name: "X25519", public: peer } as EcdhKeyDeriveParams, privateKey, 256));
  } catch (cause) {
    throw new CorridorError("handshake_failed", "peer's key is invalid", { cause });
  }
  if (shared.every((b) => b === 0)) throw new CorridorError("handshake_failed", "peer's key is of low order");
  return shared;
}

/** An fsec1 key exchange: 1 is X25519, 2 is P-256 (uncompressed points on the wire). */
export type Fsec1Suite = 1 | 2;

export interface EphemeralKey {
  /** The public key as it goes on the wire. */
  readonly publicKey: Uint8Array;
  /** The 32-byte shared secret with the peer's public key. */
  agree(peerPublic: Uint8Array): Promise<Uint8Array>;
}

const algorithm = (suite: Fsec1Suite): EcKeyImportParams | Algorithm =>
  suite === 1 ? { name: "X25519" } : { name: "ECDH", namedCurve: "P-256" };

export async function generateEphemeral(suite: Fsec1Suite): Promise<EphemeralKey> {
  const params = algorithm(suite);
  const pair = (await subtle().generateKey(params, false, ["deriveBits"])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await subtle().exportKey("raw", pair.publicKey));
  return {
    publicKey,
    async agree(peerPublic: Uint8Array): Promise<Uint8Array> {
      const expected = suite === 1 ? 32 : 65;
      if (peerPublic.length !== expected) throw new CorridorError("handshake_failed", "peer's ephemeral key has the wrong length");
      let shared: Uint8Array;
      try {
        // P-256: importKey refuses points off the curve and the identity.
        const peer = await subtle().importKey("raw", view(peerPublic), params, true, []);
        shared = new Uint8Array(await subtle().deriveBits({ name: params.name, public: peer } as EcdhKeyDeriveParams, pair.privateKey, 256));
      } catch (cause) {
        throw new CorridorError("handshake_failed", "peer's ephemeral key is invalid", { cause });
      }
      // X25519 with a low-order point yields zeros: a peer forcing a known secret.
      if (shared.every((b) => b === 0)) throw new CorridorError("handshake_failed", "peer's ephemeral key is of low order");
      return shared;
    },
  };
}
