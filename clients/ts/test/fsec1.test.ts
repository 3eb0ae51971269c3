// fsec1 known answers: the vectors an independent Python implementation
// computed (crates/corridor-core/tests/vectors), which the Rust suite and the
// flowersec crate also pass.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { utf8 } from "../src/bytes.js";
import { Flag, authTag, recordLayer, sessionKeys, transcriptHash } from "../src/fsec1.js";

const hex = (text: string) => Uint8Array.from(Buffer.from(text, "hex"));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const vectors: Record<string, any>[] = JSON.parse(
  readFileSync(new URL("../../../crates/corridor-core/tests/vectors/fsec1.json", import.meta.url), "utf8"),
).vectors;

describe.each(vectors)("fsec1 vector, suite $suite", (v) => {
  const transcriptOf = () =>
    transcriptHash({
      suite: v.suite,
      clientFeatures: v.client_features,
      serverFeatures: v.server_features,
      channelId: utf8(v.channel_id),
      nonceC: hex(v.nonce_c),
      nonceS: hex(v.nonce_s),
      clientPublic: hex(v.client_public),
      serverPublic: hex(v.server_public),
    });

  it("derives the transcript, keys and auth tag", async () => {
    const transcript = await transcriptOf();
    expect(toHex(transcript)).toBe(v.transcript_hash);
    const keys = await sessionKeys(hex(v.psk), hex(v.shared_secret), transcript);
    expect(toHex(keys.c2sKey)).toBe(v.c2s_key);
    expect(toHex(keys.s2cKey)).toBe(v.s2c_key);
    expect(toHex(keys.rekeyBase)).toBe(v.rekey_base);
    expect(toHex(keys.c2sPrefix)).toBe(v.c2s_nonce_prefix);
    expect(toHex(keys.s2cPrefix)).toBe(v.s2c_nonce_prefix);
    expect(toHex(await authTag(hex(v.psk), transcript, v.timestamp_unix_s))).toBe(v.auth_tag);
  });

  it("opens the finished record and seals records, across a rekey, byte for byte", async () => {
    const transcript = await transcriptOf();
    const records = await recordLayer(await sessionKeys(hex(v.psk), hex(v.shared_secret), transcript), transcript);
    const finished = await records.open(hex(v.finished_record));
    expect(finished.flag).toBe(Flag.Ping);
    expect(finished.plaintext.length).toBe(0);
    expect(toHex(await records.seal(Flag.App, utf8("hello fsec1")))).toBe(v.c2s_app_record_seq1);
    expect(toHex(await records.seal(Flag.Rekey, new Uint8Array(0)))).toBe(v.c2s_rekey_record_seq2);
    expect(toHex(await records.seal(Flag.App, utf8("after rekey")))).toBe(v.c2s_app_record_seq3);
  });

  it("refuses a replayed, tampered, truncated or relabelled record", async () => {
    const transcript = await transcriptOf();
    const fresh = async () => recordLayer(await sessionKeys(hex(v.psk), hex(v.shared_secret), transcript), transcript);
    const record = hex(v.finished_record);
    const tampered = record.slice();
    tampered[tampered.length - 1]! ^= 1;
    await expect((await fresh()).open(tampered)).rejects.toMatchObject({ code: "record_invalid" });
    await expect((await fresh()).open(record.subarray(0, 20))).rejects.toMatchObject({ code: "record_invalid" });
    const relabelled = record.slice();
    relabelled[5] = Flag.App; // the header is the AAD: a changed flag fails the tag
    await expect((await fresh()).open(relabelled)).rejects.toMatchObject({ code: "record_invalid" });
    const once = await fresh();
    await once.open(record.slice());
    await expect(once.open(record.slice())).rejects.toMatchObject({ message: expect.stringMatching(/sequence 1, expected 2/) });
  });
});
