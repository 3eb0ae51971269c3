//! The fsec1 handshake state machines fed arbitrary messages: they never
//! panic, and however a handshake ends it leaves no entry in the server's cache.
//!
//! The first byte picks what the fuzzer controls:
//! 0: the server's init and the message after it;
//! 1: a real init, then the fuzzer's bytes XORed over the real ack;
//! 2: the client's view of the response;
//! 3: a real handshake, then the fuzzer's bytes as the server's finished record.
#![no_main]

use corridor_core::fsec1::client::{ClientConfig, ClientHandshake};
use corridor_core::fsec1::ephemeral::EphemeralSecret;
use corridor_core::fsec1::server::{HandshakeCache, ServerConfig, ServerHandshake, ServerStep};
use corridor_core::fsec1::Suite;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NOW: u64 = 1_700_000_000;
const SUITE: Suite = Suite::X25519HkdfSha256Aes256Gcm;

/// Deterministic "randomness", so crashes reproduce.
struct Counter(u8);
impl rand_core::RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            self.0 = self.0.wrapping_add(37);
            *byte = self.0;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for Counter {}

fn client() -> (ClientHandshake, Vec<u8>) {
    let secret = EphemeralSecret::from_bytes(SUITE, [0x11; 32]).expect("key");
    ClientHandshake::with_secret(ClientConfig::new([7; 32], SUITE, "fuzz"), secret, [0x22; 32]).expect("init")
}

fn server_config() -> ServerConfig {
    let mut config = ServerConfig::new([7; 32], SUITE, NOW as i64 + 60);
    config.channel_id = Some("fuzz".into());
    config
}

fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let cut = data.first().map_or(0, |&n| usize::from(n)).min(data.len().saturating_sub(1));
    data.get(1..).map_or((&[][..], &[][..]), |rest| rest.split_at(cut))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else { return };
    let cache = Arc::new(HandshakeCache::new(Duration::from_secs(60), 8));
    let mut rng = Counter(0);
    match mode % 4 {
        0 => {
            let (init, next) = split(data);
            if let Ok((server, resp)) = ServerHandshake::on_init(server_config(), &cache, init, Instant::now(), &mut rng) {
                assert!(!resp.is_empty());
                let _ = server.on_message(next, NOW);
            }
        }
        1 => {
            let (client, init) = client();
            let (server, resp) =
                ServerHandshake::on_init(server_config(), &cache, &init, Instant::now(), &mut rng).expect("real init");
            let (_, genuine) = client.on_response(&resp, NOW).expect("real response");
            let mut ack = genuine.clone();
            for (byte, flip) in ack.iter_mut().zip(data) {
                *byte ^= flip;
            }
            if data.len() > ack.len() {
                ack.extend_from_slice(&data[ack.len()..]);
            }
            if let Ok(ServerStep::Done { .. }) = server.on_message(&ack, NOW) {
                // Only an ack that still says exactly what the genuine one says may pass.
                let body = |frame: &[u8]| serde_json::from_slice::<serde_json::Value>(&frame[10..]).ok();
                assert_eq!(body(&ack), body(&genuine), "a changed ack was accepted");
            }
        }
        2 => {
            let (client, _) = client();
            let _ = client.on_response(data, NOW);
        }
        _ => {
            let (client, init) = client();
            let (server, resp) =
                ServerHandshake::on_init(server_config(), &cache, &init, Instant::now(), &mut rng).expect("real init");
            let (client, ack) = client.on_response(&resp, NOW).expect("real response");
            let Ok(ServerStep::Done { finished, .. }) = server.on_message(&ack, NOW) else {
                panic!("a real ack completes the handshake")
            };
            let mut record = data.to_vec();
            let genuine = record == finished;
            let verdict = client.on_finished(&mut record);
            assert_eq!(verdict.is_ok(), genuine, "only the genuine finished record is accepted");
        }
    }
    assert!(cache.is_empty(), "every handshake leaves the cache when it ends");
});
