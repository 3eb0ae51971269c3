//! The fsec1 handshake state machines refuse every bad input with a named error.

use corridor_core::b64;
use corridor_core::fsec1::client::{ClientConfig, ClientHandshake};
use corridor_core::fsec1::frame::{self, MessageType};
use corridor_core::fsec1::messages::{Ack, Init};
use corridor_core::fsec1::record::Flag;
use corridor_core::fsec1::schedule::{self, Transcript};
use corridor_core::fsec1::server::{HandshakeCache, ServerConfig, ServerHandshake, ServerStep};
use corridor_core::fsec1::{Fsec1Error, Suite};
use rand_core::OsRng;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NOW: u64 = 1_700_000_000;
const X25519: Suite = Suite::X25519HkdfSha256Aes256Gcm;

fn server_config(psk: [u8; 32]) -> ServerConfig {
    ServerConfig::new(psk, X25519, NOW as i64 + 120)
}

/// The server's answer to `init`, at the current instant.
fn answer(
    config: ServerConfig,
    cache: &Arc<HandshakeCache>,
    init: &[u8],
) -> Result<(ServerHandshake, Vec<u8>), Fsec1Error> {
    ServerHandshake::on_init(config, cache, init, Instant::now(), &mut OsRng)
}

fn start(psk: [u8; 32]) -> (ClientHandshake, Vec<u8>) {
    ClientHandshake::start(ClientConfig::new(psk, X25519, "ch"), &mut OsRng).unwrap()
}

/// Runs client and server through the ack; returns the server's verdict.
fn ack_verdict(
    client_psk: [u8; 32],
    server: ServerConfig,
    client_clock: u64,
    server_clock: u64,
) -> Result<ServerStep, Fsec1Error> {
    let cache = Arc::new(HandshakeCache::default());
    let (client, init) = start(client_psk);
    let (server, resp) = answer(server, &cache, &init).unwrap();
    let (_, ack) = client.on_response(&resp, client_clock).unwrap();
    let verdict = server.on_message(&ack, server_clock);
    assert!(cache.is_empty(), "a spent handshake leaves no cache entry");
    verdict
}

#[test]
fn both_suites_complete_and_exchange_records_both_ways() {
    for suite in [
        Suite::X25519HkdfSha256Aes256Gcm,
        Suite::P256HkdfSha256Aes256Gcm,
    ] {
        let cache = Arc::new(HandshakeCache::default());
        let (client, init) =
            ClientHandshake::start(ClientConfig::new([3; 32], suite, "ch"), &mut OsRng).unwrap();
        let config = ServerConfig::new([3; 32], suite, NOW as i64 + 120);
        let (server, resp) = answer(config, &cache, &init).unwrap();
        let (client, ack) = client.on_response(&resp, NOW).unwrap();
        let ServerStep::Done {
            mut established,
            mut finished,
        } = server.on_message(&ack, NOW).unwrap()
        else {
            panic!("done")
        };
        let mut client = client.on_finished(&mut finished).unwrap();
        let mut up = Vec::new();
        client.sealer.seal(Flag::App, b"up", &mut up).unwrap();
        assert_eq!(
            established.opener.open_in_place(&mut up).unwrap().plaintext,
            b"up"
        );
        let mut down = Vec::new();
        established
            .sealer
            .seal(Flag::App, b"down", &mut down)
            .unwrap();
        let opened = client.opener.open_in_place(&mut down).unwrap();
        assert_eq!(
            (opened.sequence, &opened.plaintext[..]),
            (2, &b"down"[..]),
            "{suite:?}"
        );
    }
}

#[test]
fn a_wrong_psk_fails_authentication() {
    let verdict = ack_verdict([1; 32], server_config([2; 32]), NOW, NOW);
    assert_eq!(verdict.unwrap_err(), Fsec1Error::Authentication);
}

#[test]
fn a_timestamp_outside_the_skew_is_refused() {
    let verdict = ack_verdict([1; 32], server_config([1; 32]), NOW - 31, NOW);
    assert_eq!(verdict.unwrap_err(), Fsec1Error::Timestamp);
    let verdict = ack_verdict([1; 32], server_config([1; 32]), NOW + 31, NOW);
    assert_eq!(verdict.unwrap_err(), Fsec1Error::Timestamp);
    assert!(ack_verdict([1; 32], server_config([1; 32]), NOW + 30, NOW).is_ok());
}

#[test]
fn an_ack_after_init_exp_is_refused() {
    let mut config = server_config([1; 32]);
    config.init_exp_unix_s = NOW as i64 - 31;
    assert_eq!(
        ack_verdict([1; 32], config, NOW, NOW).unwrap_err(),
        Fsec1Error::Timestamp
    );
}

#[test]
fn a_wrong_suite_or_channel_is_refused_at_init() {
    let cache = Arc::new(HandshakeCache::default());
    let (_, init) = start([1; 32]);
    let mut p256 = server_config([1; 32]);
    p256.suite = Suite::P256HkdfSha256Aes256Gcm;
    let err = answer(p256, &cache, &init).unwrap_err();
    assert_eq!(err, Fsec1Error::SuiteMismatch);
    let mut other_channel = server_config([1; 32]);
    other_channel.channel_id = Some("other".into());
    let err = answer(other_channel, &cache, &init).unwrap_err();
    assert_eq!(err, Fsec1Error::ChannelMismatch);
    assert!(cache.is_empty());
}

/// An init carrying a chosen client public key (valid JSON otherwise).
fn init_with_key(public: &[u8]) -> (Vec<u8>, Init) {
    let init = Init {
        channel_id: "ch".into(),
        role: 1,
        version: 1,
        suite: 1,
        client_eph_pub_b64u: b64::encode(public),
        nonce_c_b64u: b64::encode([7u8; 32]),
        client_features: 0,
    };
    (
        frame::encode(MessageType::Init, &serde_json::to_vec(&init).unwrap()),
        init,
    )
}

#[test]
fn a_low_order_client_key_is_refused_even_with_a_valid_ack() {
    let psk = [9u8; 32];
    let low_order = b64::decode("4Ot6fDtBuK4WVuP68Z_EatoJjeucMrH9hmIFFl9JuAA").unwrap();
    for key in [low_order, vec![0u8; 32]] {
        let cache = Arc::new(HandshakeCache::default());
        let (init_frame, init) = init_with_key(&key);
        let (server, resp) = answer(server_config(psk), &cache, &init_frame).unwrap();
        let resp: Value = serde_json::from_slice(&resp[10..]).unwrap();
        let server_public = b64::decode(resp["server_eph_pub_b64u"].as_str().unwrap()).unwrap();
        let transcript = Transcript {
            suite: X25519,
            client_features: 0,
            server_features: 0,
            channel_id: &init.channel_id,
            nonce_c: [7u8; 32],
            nonce_s: b64::decode_array(resp["nonce_s_b64u"].as_str().unwrap()).unwrap(),
            client_public: &key,
            server_public: &server_public,
        }
        .hash()
        .unwrap();
        let ack = Ack {
            handshake_id: resp["handshake_id"].as_str().unwrap().into(),
            timestamp_unix_s: NOW,
            auth_tag_b64u: b64::encode(schedule::auth_tag(&psk, &transcript, NOW)),
        };
        let ack = frame::encode(MessageType::Ack, &serde_json::to_vec(&ack).unwrap());
        assert_eq!(
            server.on_message(&ack, NOW).unwrap_err(),
            Fsec1Error::LowOrderKey
        );
    }
}

#[test]
fn a_low_order_server_key_is_refused_by_the_client() {
    let (client, _) = start([1; 32]);
    let resp = serde_json::json!({
        "handshake_id": "h", "server_eph_pub_b64u": b64::encode([0u8; 32]),
        "nonce_s_b64u": b64::encode([1u8; 32]), "server_features": 0
    });
    let resp = frame::encode(MessageType::Resp, resp.to_string().as_bytes());
    assert_eq!(
        client.on_response(&resp, NOW).unwrap_err(),
        Fsec1Error::LowOrderKey
    );
}

#[test]
fn malformed_handshake_messages_are_named() {
    let cache = Arc::new(HandshakeCache::default());
    let (_, init) = start([1; 32]);
    let on_init = |frame: &[u8]| {
        answer(server_config([1; 32]), &cache, frame)
            .map(|_| ())
            .unwrap_err()
    };
    assert_eq!(on_init(&init[..5]), Fsec1Error::InvalidLength);
    assert_eq!(on_init(&init[..init.len() - 1]), Fsec1Error::InvalidLength);
    let mut wrong_type = init.clone();
    wrong_type[5] = 3;
    assert_eq!(on_init(&wrong_type), Fsec1Error::UnexpectedMessage(3));
    let not_json = frame::encode(MessageType::Init, b"not json");
    assert!(matches!(on_init(&not_json), Fsec1Error::InvalidJson(_)));
    let oversized = frame::encode(MessageType::Init, &vec![b' '; 8193]);
    assert_eq!(on_init(&oversized), Fsec1Error::HandshakeTooLarge);
    let (short_key, _) = init_with_key(&[1u8; 31]);
    assert_eq!(on_init(&short_key), Fsec1Error::InvalidKey);
    let mut body: Value = serde_json::from_slice(&init[10..]).unwrap();
    body["role"] = 2.into();
    assert_eq!(
        on_init(&frame::encode(
            MessageType::Init,
            body.to_string().as_bytes()
        )),
        Fsec1Error::InvalidVersion
    );
    assert!(cache.is_empty());
}

#[test]
fn a_retried_init_gets_the_same_response_and_a_different_one_is_refused() {
    let cache = Arc::new(HandshakeCache::default());
    let (client, init) = start([1; 32]);
    let (server, resp) = answer(server_config([1; 32]), &cache, &init).unwrap();
    let ServerStep::Resend {
        handshake: server,
        resp: again,
    } = server.on_message(&init, NOW).unwrap()
    else {
        panic!("an identical init is answered again")
    };
    assert_eq!(again, resp);
    let (_, ack) = client.on_response(&again, NOW).unwrap();
    assert!(matches!(
        server.on_message(&ack, NOW),
        Ok(ServerStep::Done { .. })
    ));

    let (_, init) = start([1; 32]);
    let (server, _) = answer(server_config([1; 32]), &cache, &init).unwrap();
    let (_, other_init) = start([1; 32]);
    assert_eq!(
        server.on_message(&other_init, NOW).unwrap_err(),
        Fsec1Error::Authentication
    );
    assert!(cache.is_empty());
}

#[test]
fn the_pending_cache_is_bounded_and_abandoned_handshakes_leave_it() {
    let cache = Arc::new(HandshakeCache::new(Duration::from_secs(60), 2));
    let now = Instant::now();
    let mut held = Vec::new();
    for _ in 0..2 {
        let (_, init) = start([1; 32]);
        held.push(
            ServerHandshake::on_init(server_config([1; 32]), &cache, &init, now, &mut OsRng)
                .unwrap(),
        );
    }
    let (_, third) = start([1; 32]);
    let err = ServerHandshake::on_init(server_config([1; 32]), &cache, &third, now, &mut OsRng)
        .unwrap_err();
    assert_eq!(err, Fsec1Error::TooManyPendingHandshakes);
    // Entries older than the TTL make room.
    let later = now + Duration::from_secs(61);
    let (fourth, _) =
        ServerHandshake::on_init(server_config([1; 32]), &cache, &third, later, &mut OsRng)
            .unwrap();
    drop(fourth);
    drop(held);
    assert!(cache.is_empty(), "dropped handshakes remove their entries");
}

#[test]
fn a_tampered_finished_record_is_refused_by_the_client() {
    let cache = Arc::new(HandshakeCache::default());
    let (client, init) = start([1; 32]);
    let (server, resp) = answer(server_config([1; 32]), &cache, &init).unwrap();
    let (client, ack) = client.on_response(&resp, NOW).unwrap();
    let ServerStep::Done { mut finished, .. } = server.on_message(&ack, NOW).unwrap() else {
        panic!()
    };
    finished[20] ^= 1;
    assert_eq!(
        client.on_finished(&mut finished).unwrap_err(),
        Fsec1Error::Decrypt
    );
}
