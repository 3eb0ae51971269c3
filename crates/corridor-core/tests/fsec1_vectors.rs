//! Known-answer tests for fsec1. The expected bytes in `vectors/fsec1.json`
//! come from `vectors/gen_fsec1.py`, an independent implementation of the
//! protocol description in Python; each value is checked against corridor's
//! code and against the official `flowersec` crate 0.27.0.

use corridor_core::fsec1::client::{ClientConfig, ClientHandshake};
use corridor_core::fsec1::ephemeral::EphemeralSecret;
use corridor_core::fsec1::record::{DirectionParams, Flag, Opener, Sealer};
use corridor_core::fsec1::schedule::{self, Direction, Transcript};
use corridor_core::fsec1::server::{HandshakeCache, ServerConfig, ServerHandshake, ServerStep};
use corridor_core::fsec1::{DEFAULT_MAX_RECORD_BYTES, Suite};
use flowersec::e2ee as fs;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

struct Vector(Value);

impl Vector {
    fn hex(&self, field: &str) -> Vec<u8> {
        let text = self.0[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in vector"));
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }
    fn arr<const N: usize>(&self, field: &str) -> [u8; N] {
        self.hex(field).try_into().expect("length")
    }
    fn u64(&self, field: &str) -> u64 {
        self.0[field].as_u64().expect("number")
    }
    fn str(&self, field: &str) -> &str {
        self.0[field].as_str().expect("string")
    }
    fn suite(&self) -> Suite {
        Suite::from_u16(self.u64("suite") as u16).expect("suite")
    }
}

fn vectors() -> Vec<Vector> {
    let text = include_str!("vectors/fsec1.json");
    let all: Value = serde_json::from_str(text).expect("vectors parse");
    all["vectors"]
        .as_array()
        .expect("list")
        .iter()
        .cloned()
        .map(Vector)
        .collect()
}

/// Hands out scripted bytes: makes the server's "random" key, nonce and id the vector's.
struct Scripted(Vec<u8>);

impl rand_core::RngCore for Scripted {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let take = dest.len().min(self.0.len());
        dest[..take].copy_from_slice(&self.0[..take]);
        dest[take..].fill(0xA5);
        self.0.drain(..take);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for Scripted {}

fn transcript_of<'a>(
    v: &'a Vector,
    client_public: &'a [u8],
    server_public: &'a [u8],
) -> Transcript<'a> {
    Transcript {
        suite: v.suite(),
        client_features: v.u64("client_features") as u32,
        server_features: v.u64("server_features") as u32,
        channel_id: v.str("channel_id"),
        nonce_c: v.arr("nonce_c"),
        nonce_s: v.arr("nonce_s"),
        client_public,
        server_public,
    }
}

#[test]
fn key_exchange_transcript_and_key_schedule_match_the_vectors_and_flowersec() {
    for v in vectors() {
        let suite = v.suite();
        let client = EphemeralSecret::from_bytes(suite, v.arr("client_private")).unwrap();
        let server = EphemeralSecret::from_bytes(suite, v.arr("server_private")).unwrap();
        assert_eq!(client.public_bytes(), v.hex("client_public"), "{suite:?}");
        assert_eq!(server.public_bytes(), v.hex("server_public"), "{suite:?}");
        let shared = client.agree(&v.hex("server_public")).unwrap();
        assert_eq!(shared.to_vec(), v.hex("shared_secret"));
        assert_eq!(
            server.agree(&v.hex("client_public")).unwrap().to_vec(),
            v.hex("shared_secret")
        );

        let (cp, sp) = (v.hex("client_public"), v.hex("server_public"));
        let transcript = transcript_of(&v, &cp, &sp).hash().unwrap();
        assert_eq!(transcript.to_vec(), v.hex("transcript_hash"));
        let keys = schedule::session_keys(&v.hex("psk"), &shared, &transcript).unwrap();
        assert_eq!(keys.c2s_key.to_vec(), v.hex("c2s_key"));
        assert_eq!(keys.s2c_key.to_vec(), v.hex("s2c_key"));
        assert_eq!(keys.rekey_base.to_vec(), v.hex("rekey_base"));
        assert_eq!(keys.c2s_nonce_prefix.to_vec(), v.hex("c2s_nonce_prefix"));
        assert_eq!(keys.s2c_nonce_prefix.to_vec(), v.hex("s2c_nonce_prefix"));
        let tag = schedule::auth_tag(&v.hex("psk"), &transcript, v.u64("timestamp_unix_s"));
        assert_eq!(tag.to_vec(), v.hex("auth_tag"));

        // The same values from the flowersec crate.
        let fs_suite = fs::Suite::try_from(suite.as_u16()).unwrap();
        let fs_shared = fs::derive_shared_secret(fs_suite, &v.hex("client_private"), &sp).unwrap();
        assert_eq!(fs_shared.expose().to_vec(), v.hex("shared_secret"));
        let fs_transcript = fs::transcript_hash(&fs::TranscriptInputs {
            version: 1,
            suite: suite.as_u16(),
            role: 1,
            client_features: v.u64("client_features") as u32,
            server_features: v.u64("server_features") as u32,
            channel_id: v.str("channel_id"),
            nonce_c: v.arr("nonce_c"),
            nonce_s: v.arr("nonce_s"),
            client_ephemeral_public_key: &cp,
            server_ephemeral_public_key: &sp,
        })
        .unwrap();
        assert_eq!(fs_transcript, transcript);
        let fs_keys =
            fs::derive_session_keys(&v.hex("psk"), fs_shared.expose(), fs_transcript).unwrap();
        assert_eq!(fs_keys.c2s_key.expose().to_vec(), v.hex("c2s_key"));
        assert_eq!(fs_keys.s2c_key.expose().to_vec(), v.hex("s2c_key"));
        assert_eq!(fs_keys.rekey_base.expose().to_vec(), v.hex("rekey_base"));
        assert_eq!(fs_keys.c2s_nonce_prefix.to_vec(), v.hex("c2s_nonce_prefix"));
        let fs_tag =
            fs::compute_auth_tag(&v.hex("psk"), fs_transcript, v.u64("timestamp_unix_s")).unwrap();
        assert_eq!(fs_tag.to_vec(), v.hex("auth_tag"));
    }
}

fn c2s<'a>(
    v: &Vector,
    key: &'a [u8; 32],
    base: &'a [u8; 32],
    transcript: &'a [u8; 32],
) -> DirectionParams<'a> {
    DirectionParams {
        key,
        nonce_prefix: v.arr("c2s_nonce_prefix"),
        first_sequence: 1,
        rekey_base: base,
        transcript,
        direction: Direction::ClientToServer,
        max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
    }
}

#[test]
fn record_sealing_and_rekey_match_the_vectors_and_flowersec() {
    for v in vectors() {
        let (key, base, transcript) = (
            v.arr("c2s_key"),
            v.arr("rekey_base"),
            v.arr("transcript_hash"),
        );
        let mut sealer = Sealer::new(c2s(&v, &key, &base, &transcript));
        let mut wire = Vec::new();
        sealer.seal(Flag::App, b"hello fsec1", &mut wire).unwrap();
        assert_eq!(wire, v.hex("c2s_app_record_seq1"));
        wire.clear();
        sealer.seal(Flag::Rekey, b"", &mut wire).unwrap();
        assert_eq!(wire, v.hex("c2s_rekey_record_seq2"));
        wire.clear();
        sealer.seal(Flag::App, b"after rekey", &mut wire).unwrap();
        assert_eq!(wire, v.hex("c2s_app_record_seq3"));

        let mut opener = Opener::new(c2s(&v, &key, &base, &transcript));
        for (field, flag, plaintext) in [
            ("c2s_app_record_seq1", Flag::App, &b"hello fsec1"[..]),
            ("c2s_rekey_record_seq2", Flag::Rekey, b""),
            ("c2s_app_record_seq3", Flag::App, b"after rekey"),
        ] {
            let mut record = v.hex(field);
            let opened = opener.open_in_place(&mut record).unwrap();
            assert_eq!(
                (opened.flag, &opened.plaintext[..]),
                (flag, plaintext),
                "{field}"
            );
        }

        // flowersec seals the same bytes and derives the same rekeyed key.
        let prefix = v.arr("c2s_nonce_prefix");
        let fs_app = fs::encrypt_record(
            &key,
            prefix,
            fs::RecordFlag::App,
            1,
            b"hello fsec1",
            1 << 20,
        )
        .unwrap();
        assert_eq!(fs_app, v.hex("c2s_app_record_seq1"));
        let fs_new =
            fs::derive_rekey_key(&base, transcript, 2, fs::Direction::ClientToServer).unwrap();
        assert_eq!(fs_new.expose().to_vec(), v.hex("c2s_rekeyed_key"));
        let fs_finished = fs::encrypt_record(
            &v.arr("s2c_key"),
            v.arr("s2c_nonce_prefix"),
            fs::RecordFlag::Ping,
            1,
            b"",
            1 << 20,
        )
        .unwrap();
        assert_eq!(fs_finished, v.hex("finished_record"));
    }
}

#[test]
fn full_handshake_with_the_vectors_randomness_reproduces_every_message() {
    for v in vectors() {
        let suite = v.suite();
        let psk: [u8; 32] = v.arr("psk");
        let mut config = ClientConfig::new(psk, suite, v.str("channel_id"));
        config.features = v.u64("client_features") as u32;
        let secret = EphemeralSecret::from_bytes(suite, v.arr("client_private")).unwrap();
        let (client, init) =
            ClientHandshake::with_secret(config, secret, v.arr("nonce_c")).unwrap();

        let now = v.u64("timestamp_unix_s");
        let server_config = ServerConfig::new(psk, suite, now as i64 + 60);
        let cache = Arc::new(HandshakeCache::default());
        let mut script = v.hex("server_private");
        script.extend(v.hex("nonce_s"));
        let (server, resp) = ServerHandshake::on_init(
            server_config,
            &cache,
            &init,
            Instant::now(),
            &mut Scripted(script),
        )
        .unwrap();
        let (client, ack) = client.on_response(&resp, now).unwrap();
        let ack_body: Value = serde_json::from_slice(&ack[10..]).unwrap();
        assert_eq!(ack_body["auth_tag_b64u"], v.str("auth_tag_b64u"));
        let ServerStep::Done {
            mut established,
            finished,
        } = server.on_message(&ack, now).unwrap()
        else {
            panic!("the ack completes the handshake");
        };
        assert_eq!(finished, v.hex("finished_record"));
        let mut client = client.on_finished(&mut finished.clone()).unwrap();
        let mut wire = Vec::new();
        client
            .sealer
            .seal(Flag::App, b"hello fsec1", &mut wire)
            .unwrap();
        assert_eq!(wire, v.hex("c2s_app_record_seq1"));
        assert_eq!(
            established
                .opener
                .open_in_place(&mut wire)
                .unwrap()
                .plaintext,
            b"hello fsec1"
        );
        assert!(cache.is_empty(), "the ack took the pending handshake");
    }
}
