// corridor's `noise` suite, initiator side: Noise XX and IK with
// X25519, AES-256-GCM and SHA-256 (Noise_XX_25519_AESGCM_SHA256,
// Noise_IK_25519_AESGCM_SHA256), on WebCrypto. The static private key is a
// non-extractable CryptoKey, so a page can hold an identity that script
// cannot read out (see identity.ts for keeping it in IndexedDB).
//
// corridor's wire around Noise (crates/corridor-core/src/noise): the first
// message opens with a clear header (version 1, protocol name, channel id,
// no claimed key) that is also the prologue after "corridor-noise\0"; the
// initiator's hello is `features u32 | len u16 | payload`; the responder's
// verdict is `status u8 | features u32 | len u16 | payload or reason`, in its
// message (IK) or in the first record (XX, kind 3). Records are Noise
// transport messages `AEAD(k, n, "", kind || plaintext)`, one per carrier
// message, n counting from 0 per direction; kind 2 rekeys with Noise's REKEY.

import { concat, equalBytes, fromUtf8, u16be, u32be, utf8, writeU64 } from "./bytes.js";
import { type AeadKey, type StaticIdentity, aesGcmKey, generateIdentity, hmacSha256, sha256, x25519 } from "./crypto.js";
import { CorridorError } from "./errors.js";
import { Flag, type HandshakeIo, type Opened, type Records } from "./fsec1.js";

const MAX_MESSAGE = 65_535;
const TAG = 16;
const PROLOGUE_PREFIX = utf8("corridor-noise\0");
const KIND_VERDICT = 3;
const MAX_PAYLOAD = 4 * 1024;

export type NoisePattern = "XX" | "IK";

export interface NoiseParams {
  pattern: NoisePattern;
  /** Our static identity. */
  identity: StaticIdentity;
  /** The responder's static key: required for IK; for XX, the key it must prove (pinning). */
  remoteKey?: Uint8Array;
  /** The channel (service) name bound into the prologue, e.g. `corridor.identity`. */
  channelId: string;
  /** The hello payload (encrypted; after the responder is authenticated). */
  payload?: Uint8Array;
}

export interface NoiseOutcome {
  records: Records;
  /** The responder's proven static key. */
  remoteKey: Uint8Array;
  /** The responder's payload in its verdict. */
  payload: Uint8Array;
}

/** Noise's nonce for AES-GCM: 32 zero bits, then n as a 64-bit big-endian number. */
function nonce(n: number | "max"): Uint8Array {
  const out = new Uint8Array(12);
  if (n === "max") out.fill(0xff, 4);
  else writeU64(out, 4, n);
  return out;
}

/** HKDF as the Noise spec defines it, on HMAC-SHA256: two 32-byte outputs. */
async function hkdf2(chainingKey: Uint8Array, ikm: Uint8Array): Promise<[Uint8Array, Uint8Array]> {
  const temp = await hmacSha256(chainingKey, ikm);
  const first = await hmacSha256(temp, new Uint8Array([1]));
  const second = await hmacSha256(temp, concat([first, new Uint8Array([2])]));
  return [first, second];
}

/** The Noise SymmetricState (with its CipherState). */
class Symmetric {
  private h: Uint8Array;
  private ck: Uint8Array;
  private key: AeadKey | null = null;
  private n = 0;

  private constructor(name: Uint8Array) {
    this.h = new Uint8Array(32);
    this.h.set(name);
    this.ck = this.h.slice();
  }

  static async start(name: string): Promise<Symmetric> {
    const bytes = utf8(name);
    const state = new Symmetric(bytes.length <= 32 ? bytes : new Uint8Array(0));
    if (bytes.length > 32) {
      state.h = await sha256(bytes);
      state.ck = state.h.slice();
    }
    return state;
  }

  async mixHash(data: Uint8Array): Promise<void> {
    this.h = await sha256(concat([this.h, data]));
  }

  async mixKey(ikm: Uint8Array): Promise<void> {
    const [ck, key] = await hkdf2(this.ck, ikm);
    this.ck = ck;
    this.key = await aesGcmKey(key);
    this.n = 0;
  }

  async encryptAndHash(plaintext: Uint8Array): Promise<Uint8Array> {
    const out = this.key ? await this.key.seal(nonce(this.n++), this.h, plaintext) : plaintext;
    await this.mixHash(out);
    return out;
  }

  async decryptAndHash(ciphertext: Uint8Array): Promise<Uint8Array> {
    let out = ciphertext;
    if (this.key) {
      try {
        out = await this.key.open(nonce(this.n++), this.h, ciphertext);
      } catch (cause) {
        throw new CorridorError("handshake_failed", "the responder's handshake message did not decrypt (not the expected key or channel?)", { cause });
      }
    }
    await this.mixHash(ciphertext);
    return out;
  }

  /** The transport keys: initiator to responder, responder to initiator. */
  split(): Promise<[Uint8Array, Uint8Array]> {
    return hkdf2(this.ck, new Uint8Array(0));
  }
}

function header(name: string, channelId: string): Uint8Array {
  const nameBytes = utf8(name);
  const channel = utf8(channelId);
  if (channel.length === 0 || channel.length > 1024) throw new CorridorError("invalid_grant", "channel id empty or longer than 1024 bytes");
  return concat([new Uint8Array([1, nameBytes.length]), nameBytes, u16be(channel.length), channel, new Uint8Array([0])]);
}

function hello(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_PAYLOAD) throw new CorridorError("protocol_error", "hello payload too large");
  return concat([u32be(0), u16be(payload.length), payload]);
}

/** The responder's verdict: its payload, or the refusal as a typed error. */
function verdict(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 7) throw new CorridorError("handshake_failed", "malformed verdict");
  const length = (bytes[5]! << 8) | bytes[6]!;
  if (bytes.length !== 7 + length) throw new CorridorError("handshake_failed", "malformed verdict");
  const payload = bytes.subarray(7);
  if (bytes[0] === 0) return payload;
  if (bytes[0] === 1) {
    const reason = fromUtf8(payload);
    throw new CorridorError("refused", `the endpoint refused this client: ${reason}`, { reason });
  }
  throw new CorridorError("handshake_failed", "malformed verdict status");
}

/** Runs the initiator's handshake over `io`; resolves once the responder has accepted. */
export async function noiseHandshake(io: HandshakeIo, params: NoiseParams): Promise<NoiseOutcome> {
  const name = `Noise_${params.pattern}_25519_AESGCM_SHA256`;
  const head = header(name, params.channelId);
  const state = await Symmetric.start(name);
  await state.mixHash(concat([PROLOGUE_PREFIX, head]));
  const payload = params.payload ?? new Uint8Array(0);
  const { identity } = params;
  const ephemeral = await generateIdentity();

  if (params.pattern === "IK") {
    const rs = params.remoteKey;
    if (!rs || rs.length !== 32) throw new CorridorError("invalid_grant", "IK needs the responder's 32-byte key");
    await state.mixHash(rs);
    // -> e, es, s, ss
    await state.mixHash(ephemeral.publicKey);
    await state.mixKey(await x25519(ephemeral.privateKey, rs));
    const s = await state.encryptAndHash(identity.publicKey);
    await state.mixKey(await x25519(identity.privateKey, rs));
    const p = await state.encryptAndHash(hello(payload));
    io.send(concat([head, ephemeral.publicKey, s, p]));
    // <- e, ee, se
    const message = await io.next();
    if (message.length < 32 + TAG || message.length > MAX_MESSAGE) throw new CorridorError("handshake_failed", "responder's message has the wrong length");
    const re = message.subarray(0, 32);
    await state.mixHash(re);
    await state.mixKey(await x25519(ephemeral.privateKey, re));
    await state.mixKey(await x25519(identity.privateKey, re));
    const answer = verdict(await state.decryptAndHash(message.subarray(32)));
    const [i2r, r2i] = await state.split();
    return { records: await NoiseRecords.create(i2r, r2i), remoteKey: rs, payload: answer };
  }

  // -> e
  await state.mixHash(ephemeral.publicKey);
  await state.mixHash(new Uint8Array(0)); // EncryptAndHash of the empty payload without a key
  io.send(concat([head, ephemeral.publicKey]));
  // <- e, ee, s, es
  const second = await io.next();
  if (second.length < 32 + 32 + TAG + TAG || second.length > MAX_MESSAGE) throw new CorridorError("handshake_failed", "responder's message has the wrong length");
  const re = second.subarray(0, 32);
  await state.mixHash(re);
  await state.mixKey(await x25519(ephemeral.privateKey, re));
  const rs = await state.decryptAndHash(second.subarray(32, 32 + 32 + TAG));
  await state.mixKey(await x25519(ephemeral.privateKey, rs));
  const empty = await state.decryptAndHash(second.subarray(32 + 32 + TAG));
  if (empty.length !== 0) throw new CorridorError("handshake_failed", "payload in XX message 2");
  // Pinning: the responder must prove the key we expect before we say anything.
  if (params.remoteKey && !equalBytes(rs, params.remoteKey)) {
    throw new CorridorError("handshake_failed", "the responder's key is not the pinned key");
  }
  // -> s, se
  const s = await state.encryptAndHash(identity.publicKey);
  await state.mixKey(await x25519(identity.privateKey, re));
  const p = await state.encryptAndHash(hello(payload));
  io.send(concat([s, p]));
  const [i2r, r2i] = await state.split();
  const records = await NoiseRecords.create(i2r, r2i);
  const first = await records.openKind(await io.next());
  if (first.kind !== KIND_VERDICT) throw new CorridorError("handshake_failed", `the first record is of kind ${first.kind}, not the verdict`);
  return { records, remoteKey: rs, payload: verdict(first.plaintext) };
}

/** Noise's REKEY(k): the first 32 bytes of ENCRYPT(k, 2^64 - 1, "", zeros(32)). */
async function rekey(key: AeadKey): Promise<AeadKey> {
  const next = (await key.seal(nonce("max"), new Uint8Array(0), new Uint8Array(32))).subarray(0, 32);
  return aesGcmKey(next);
}

/** Noise transport messages as session records. */
export class NoiseRecords implements Records {
  readonly maxPlaintext = MAX_MESSAGE - TAG - 1;
  private sendN = 0;
  private receiveN = 0;

  /**
   * Keys are promises: a sent rekey is known at once, so later records wait
   * only for the new key; a received record's kind is encrypted, so each
   * record's key waits for the record before it to open.
   */
  private constructor(
    private sendKey: Promise<AeadKey>,
    private receiveKey: Promise<AeadKey>,
  ) {}

  static async create(sendKey: Uint8Array, receiveKey: Uint8Array): Promise<NoiseRecords> {
    return new NoiseRecords(Promise.resolve(await aesGcmKey(sendKey)), Promise.resolve(await aesGcmKey(receiveKey)));
  }

  seal(flag: Flag, plaintext: Uint8Array): Promise<Uint8Array> {
    if (plaintext.length > this.maxPlaintext) return Promise.reject(new CorridorError("record_invalid", "record too large to send"));
    const n = this.sendN++;
    const key = this.sendKey;
    if (flag === Flag.Rekey) this.sendKey = key.then(rekey);
    const body = new Uint8Array(1 + plaintext.length);
    body[0] = flag;
    body.set(plaintext, 1);
    return key.then((k) => k.seal(nonce(n), new Uint8Array(0), body));
  }

  open(record: Uint8Array): Promise<Opened> {
    return this.openKind(record).then(({ kind, plaintext }) => {
      if (kind > Flag.Rekey) throw new CorridorError("record_invalid", `record of unknown kind ${kind}`);
      return { flag: kind as Flag, plaintext };
    });
  }

  /** @internal Opens a record of any kind (the handshake's verdict is kind 3). */
  openKind(record: Uint8Array): Promise<{ kind: number; plaintext: Uint8Array }> {
    if (record.length < 1 + TAG || record.length > MAX_MESSAGE) return Promise.reject(new CorridorError("record_invalid", `record of ${record.length} bytes`));
    const n = this.receiveN++;
    const key = this.receiveKey;
    const opened = key.then(async (k) => {
      let body: Uint8Array;
      try {
        body = await k.open(nonce(n), new Uint8Array(0), record);
      } catch (cause) {
        throw new CorridorError("record_invalid", "record from the peer did not decrypt (tampered or forged)", { cause });
      }
      return { kind: body[0]!, plaintext: body.subarray(1), key: k };
    });
    this.receiveKey = opened.then(({ kind, key: k }) => (kind === Flag.Rekey ? rekey(k) : k));
    this.receiveKey.catch(() => undefined);
    return opened.then(({ kind, plaintext }) => ({ kind, plaintext }));
  }
}
