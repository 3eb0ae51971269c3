// fsec1, flowersec v1's E2EE suite, client side: the FSEH handshake (init,
// response, PSK-authenticated ack, the server's finished record) and FSEC
// records (18-byte header as AAD, nonce = direction prefix || sequence,
// strict sequence numbers, rekey). Wire-compatible with corridor's Rust
// endpoint and the flowersec 0.27 crate.

import { b64uDecode, b64uEncode, concat, fromUtf8, randomBytes, readU32, readU64, u16be, u32be, u64be, utf8, writeU32, writeU64 } from "./bytes.js";
import { type AeadKey, aesGcmKey, type Fsec1Suite, generateEphemeral, hkdf, hmacSha256, sha256 } from "./crypto.js";
import { CorridorError } from "./errors.js";

const VERSION = 1;
const HANDSHAKE_MAGIC = utf8("FSEH");
const RECORD_MAGIC = utf8("FSEC");
const HANDSHAKE_HEADER = 10;
export const RECORD_HEADER = 18;
export const TAG_BYTES = 16;
/** The largest handshake body accepted (flowersec's default). */
const MAX_HANDSHAKE_BODY = 8 * 1024;
/** The largest record accepted or produced, header and tag included (flowersec's default). */
export const MAX_RECORD_BYTES = 1024 * 1024;

enum MessageType {
  Init = 1,
  Resp = 2,
  Ack = 3,
}

export enum Flag {
  App = 0,
  Ping = 1,
  Rekey = 2,
}

const label = (text: string) => utf8(`flowersec-e2ee-v1${text}`);

/** What the client needs from a grant or direct connect info. */
export interface HandshakeParams {
  psk: Uint8Array;
  suite: Fsec1Suite;
  channelId: string;
}

/** A message channel the handshake runs over. */
export interface HandshakeIo {
  send(frame: Uint8Array): void;
  next(): Promise<Uint8Array>;
}

function handshakeFrame(type: MessageType, body: object): Uint8Array {
  const json = utf8(JSON.stringify(body));
  const frame = new Uint8Array(HANDSHAKE_HEADER + json.length);
  frame.set(HANDSHAKE_MAGIC, 0);
  frame[4] = VERSION;
  frame[5] = type;
  writeU32(frame, 6, json.length);
  frame.set(json, HANDSHAKE_HEADER);
  return frame;
}

function parseHandshake(frame: Uint8Array, expected: MessageType): Record<string, unknown> {
  const fail = (why: string) => new CorridorError("handshake_failed", `server handshake: ${why}`);
  if (frame.length < HANDSHAKE_HEADER) throw fail("short frame");
  if (!HANDSHAKE_MAGIC.every((b, i) => frame[i] === b)) throw fail("not an FSEH frame (is this a corridor or flowersec endpoint?)");
  if (frame[4] !== VERSION) throw fail(`version ${frame[4]}`);
  if (frame[5] !== expected) throw fail(`unexpected message type ${frame[5]}`);
  const length = readU32(frame, 6);
  if (length > MAX_HANDSHAKE_BODY) throw fail("body too large");
  if (frame.length !== HANDSHAKE_HEADER + length) throw fail("length mismatch");
  let body: unknown;
  try {
    body = JSON.parse(fromUtf8(frame.subarray(HANDSHAKE_HEADER)));
  } catch {
    throw fail("body is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw fail("body is not an object");
  return body as Record<string, unknown>;
}

function field<T extends "string" | "number">(body: Record<string, unknown>, name: string, type: T): T extends "string" ? string : number {
  const value = body[name];
  if (typeof value !== type) throw new CorridorError("handshake_failed", `server handshake: ${name} missing or not a ${type}`);
  return value as T extends "string" ? string : number;
}

/** The transcript hash both sides bind keys and the ack to. */
export async function transcriptHash(p: {
  suite: number;
  clientFeatures: number;
  serverFeatures: number;
  channelId: Uint8Array;
  nonceC: Uint8Array;
  nonceS: Uint8Array;
  clientPublic: Uint8Array;
  serverPublic: Uint8Array;
}): Promise<Uint8Array> {
  return sha256(
    concat([
      label(""),
      new Uint8Array([VERSION]),
      u16be(p.suite),
      new Uint8Array([1]), // the client's role: both sides hash the same transcript
      u32be(p.clientFeatures),
      u32be(p.serverFeatures),
      u16be(p.channelId.length),
      p.channelId,
      p.nonceC,
      p.nonceS,
      u16be(p.clientPublic.length),
      p.clientPublic,
      u16be(p.serverPublic.length),
      p.serverPublic,
    ]),
  );
}

/** Runs the client handshake; the returned records are ready for application data. */
export async function clientHandshake(io: HandshakeIo, params: HandshakeParams, nowUnixS: () => number): Promise<RecordLayer> {
  const channelId = utf8(params.channelId);
  if (channelId.length === 0 || channelId.length > 0xffff) throw new CorridorError("invalid_grant", "channel id must be 1 to 65535 bytes");
  if (params.psk.length !== 32) throw new CorridorError("invalid_grant", "the PSK must be 32 bytes");
  const ephemeral = await generateEphemeral(params.suite);
  const nonceC = randomBytes(32);
  const clientFeatures = 0;
  io.send(
    handshakeFrame(MessageType.Init, {
      channel_id: params.channelId,
      role: 1,
      version: VERSION,
      suite: params.suite,
      client_eph_pub_b64u: b64uEncode(ephemeral.publicKey),
      nonce_c_b64u: b64uEncode(nonceC),
      client_features: clientFeatures,
    }),
  );

  const resp = parseHandshake(await io.next(), MessageType.Resp);
  const handshakeId = field(resp, "handshake_id", "string");
  const serverFeatures = field(resp, "server_features", "number");
  let serverPublic: Uint8Array;
  let nonceS: Uint8Array;
  try {
    serverPublic = b64uDecode(field(resp, "server_eph_pub_b64u", "string"));
    nonceS = b64uDecode(field(resp, "nonce_s_b64u", "string"));
  } catch (cause) {
    if (cause instanceof CorridorError) throw cause;
    throw new CorridorError("handshake_failed", "server handshake: key or nonce is not base64url", { cause });
  }
  if (nonceS.length !== 32) throw new CorridorError("handshake_failed", "server handshake: nonce is not 32 bytes");
  const transcript = await transcriptHash({
    suite: params.suite,
    clientFeatures,
    serverFeatures,
    channelId,
    nonceC,
    nonceS,
    clientPublic: ephemeral.publicKey,
    serverPublic,
  });
  const shared = await ephemeral.agree(serverPublic);
  const records = await recordLayer(await sessionKeys(params.psk, shared, transcript), transcript);
  shared.fill(0);
  const timestamp = Math.floor(nowUnixS());
  const tag = await authTag(params.psk, transcript, timestamp);
  io.send(handshakeFrame(MessageType.Ack, { handshake_id: handshakeId, timestamp_unix_s: timestamp, auth_tag_b64u: b64uEncode(tag) }));

  // Only a holder of the session keys can produce the server's finished ping:
  // a wrong PSK on either side ends here.
  let finished: Opened;
  try {
    finished = await records.open(await io.next());
  } catch (cause) {
    if (cause instanceof CorridorError && cause.code === "closed") throw cause;
    throw new CorridorError("handshake_failed", "the server's finished record did not verify (wrong PSK or not the granted endpoint)", { cause });
  }
  if (finished.flag !== Flag.Ping || finished.plaintext.length !== 0) throw new CorridorError("handshake_failed", "the server's finished record is not an empty ping");
  return records;
}

/** The session's keys: HKDF-SHA256 with the PSK as salt over `shared || transcript`. */
export async function sessionKeys(psk: Uint8Array, shared: Uint8Array, transcript: Uint8Array) {
  const ikm = concat([shared, transcript]);
  const [c2sKey, s2cKey, rekeyBase, c2sPrefix, s2cPrefix] = await Promise.all([
    hkdf(psk, ikm, label(":c2s:key"), 32),
    hkdf(psk, ikm, label(":s2c:key"), 32),
    hkdf(psk, ikm, label(":rekey_base"), 32),
    hkdf(psk, ikm, label(":c2s:nonce_prefix"), 4),
    hkdf(psk, ikm, label(":s2c:nonce_prefix"), 4),
  ]);
  ikm.fill(0);
  return { c2sKey, s2cKey, rekeyBase, c2sPrefix, s2cPrefix };
}

/** HMAC-SHA256(PSK, transcript || timestamp): the ack's proof of the PSK. */
export function authTag(psk: Uint8Array, transcript: Uint8Array, timestampUnixS: number): Promise<Uint8Array> {
  return hmacSha256(psk, concat([transcript, u64be(timestampUnixS)]));
}

/** The client's record layer from the session keys; the raw keys are wiped once imported. */
export async function recordLayer(keys: Awaited<ReturnType<typeof sessionKeys>>, transcript: Uint8Array): Promise<RecordLayer> {
  const records = new RecordLayer(
    new DirectionKeys(await aesGcmKey(keys.c2sKey), keys.c2sPrefix, keys.rekeyBase, transcript, 1),
    new DirectionKeys(await aesGcmKey(keys.s2cKey), keys.s2cPrefix, keys.rekeyBase, transcript, 2),
  );
  keys.c2sKey.fill(0);
  keys.s2cKey.fill(0);
  return records;
}

/**
 * One direction's key, nonce prefix and next sequence number. Sequence
 * numbers are taken synchronously, in call order; the key is a promise, so a
 * rekey (whose derivation is asynchronous) applies exactly from the record
 * after the rekey record, while records before it still use the old key.
 */
class DirectionKeys {
  next = 1;
  private key: Promise<AeadKey>;

  constructor(
    key: AeadKey,
    private readonly prefix: Uint8Array,
    private readonly rekeyBase: Uint8Array,
    private readonly transcript: Uint8Array,
    private readonly direction: 1 | 2,
  ) {
    this.key = Promise.resolve(key);
  }

  nonce(sequence: number): Uint8Array {
    const nonce = new Uint8Array(12);
    nonce.set(this.prefix, 0);
    writeU64(nonce, 4, sequence);
    return nonce;
  }

  /** Takes the next sequence number; returns it with the key its record uses. */
  take(flag: Flag): { sequence: number; key: Promise<AeadKey> } {
    const sequence = this.next++;
    const key = this.key;
    if (flag === Flag.Rekey) this.key = this.rekeyAt(sequence);
    return { sequence, key };
  }

  /** The key after the rekey record at `sequence`. */
  private async rekeyAt(sequence: number): Promise<AeadKey> {
    const salt = await hmacSha256(this.rekeyBase, concat([this.transcript, u64be(sequence), new Uint8Array([this.direction])]));
    const raw = await hkdf(salt, label(":rekey"), label(":rekey:key"), 32);
    const key = await aesGcmKey(raw);
    raw.fill(0);
    return key;
  }
}

export interface Opened {
  flag: Flag;
  plaintext: Uint8Array;
}

/**
 * A suite's record layer as the session uses it: sealing and opening in call
 * order (sequence numbers taken synchronously), the crypto itself
 * asynchronous. fsec1's and noise's record kinds share numbers.
 */
export interface Records {
  /** The largest plaintext of one record. */
  readonly maxPlaintext: number;
  seal(flag: Flag, plaintext: Uint8Array): Promise<Uint8Array>;
  /** Checks now (a failure is final) and decrypts. */
  open(record: Uint8Array): Promise<Opened>;
}

/**
 * Seals outgoing and opens incoming records. Headers, sequence numbers and
 * rekeys are handled synchronously in call order; the AES-GCM work itself
 * runs concurrently (WebCrypto is asynchronous, and Node and browsers run it
 * off the main thread), so several records are in flight at once. Callers
 * send and deliver the results in call order.
 */
export class RecordLayer implements Records {
  readonly maxPlaintext = MAX_RECORD_BYTES - RECORD_HEADER - TAG_BYTES;

  constructor(
    private readonly send: DirectionKeys,
    private readonly receive: DirectionKeys,
  ) {}

  seal(flag: Flag, plaintext: Uint8Array): Promise<Uint8Array> {
    if (plaintext.length > this.maxPlaintext) return Promise.reject(new CorridorError("record_invalid", "record too large to send"));
    if (this.send.next >= Number.MAX_SAFE_INTEGER) return Promise.reject(new CorridorError("record_invalid", "sequence numbers exhausted"));
    const keys = this.send;
    const { sequence, key } = keys.take(flag);
    const header = new Uint8Array(RECORD_HEADER);
    header.set(RECORD_MAGIC, 0);
    header[4] = VERSION;
    header[5] = flag;
    writeU64(header, 6, sequence);
    writeU32(header, 14, plaintext.length + TAG_BYTES);
    return key.then(async (aead) => {
      const sealed = await aead.seal(keys.nonce(sequence), header, plaintext);
      const record = new Uint8Array(RECORD_HEADER + sealed.length);
      record.set(header, 0);
      record.set(sealed, RECORD_HEADER);
      return record;
    });
  }

  /** Checks the header now (a failure is final: fsec1 has no recovery) and decrypts. */
  open(record: Uint8Array): Promise<Opened> {
    const bad = (why: string) => Promise.reject(new CorridorError("record_invalid", `record from the peer: ${why}`));
    if (record.length > MAX_RECORD_BYTES) return bad("too large");
    if (record.length < RECORD_HEADER + TAG_BYTES) return bad("too short");
    if (!RECORD_MAGIC.every((b, i) => record[i] === b)) return bad("not an FSEC record");
    if (record[4] !== VERSION) return bad(`version ${record[4]}`);
    const flag = record[5]!;
    if (flag > Flag.Rekey) return bad(`unknown flag ${flag}`);
    if (readU32(record, 14) !== record.length - RECORD_HEADER) return bad("length mismatch");
    const keys = this.receive;
    const sequence = readU64(record, 6);
    if (sequence !== keys.next) return bad(`sequence ${sequence}, expected ${keys.next}`);
    const { key } = keys.take(flag);
    return key.then(async (aead) => {
      try {
        const plaintext = await aead.open(keys.nonce(sequence), record.subarray(0, RECORD_HEADER), record.subarray(RECORD_HEADER));
        return { flag: flag as Flag, plaintext };
      } catch (cause) {
        throw new CorridorError("record_invalid", "record from the peer did not decrypt (tampered or forged)", { cause });
      }
    });
  }
}
