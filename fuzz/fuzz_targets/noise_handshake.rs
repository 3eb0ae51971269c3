//! The Noise handshake driver fed arbitrary messages: it never panics, a
//! handshake whose messages were changed in flight never completes on both
//! sides, and records opened after a real handshake are only ever the ones
//! that were sealed.
//!
//! The first byte picks what the fuzzer controls:
//! 0: every message a responder receives;
//! 1: every message an initiator receives after its first;
//! 2: a real handshake (the pattern from the second byte), with the rest
//!    XORed over its messages in order;
//! 3: a real handshake, then the rest as records for the responder to open.
//!
//! snow draws ephemeral keys from the system: a crash reproduces as a
//! property, not byte for byte.
#![no_main]

use corridor_core::identity::StaticSecret;
use corridor_core::noise::{
    Cipher, InitiatorConfig, NoiseInitiator, NoiseResponder, Pattern, Protocol, ResponderConfig,
};
use corridor_core::suite::{Context, Established, Handshake, RecordKind, Step, Verdict};
use libfuzzer_sys::fuzz_target;
use std::time::Instant;

fn keys() -> (StaticSecret, StaticSecret) {
    (StaticSecret::from_bytes([1; 32]), StaticSecret::from_bytes([2; 32]))
}

fn sides(pattern: Pattern) -> (NoiseInitiator, NoiseResponder) {
    let (client, server) = keys();
    let protocol = Protocol { pattern, cipher: Cipher::AesGcm, psk: false };
    let mut config = InitiatorConfig::new(protocol, client, "fuzz");
    config.remote = Some(server.public_key());
    config.payload = b"payload".to_vec();
    let initiator = NoiseInitiator::start(config).expect("start");
    (initiator, NoiseResponder::new(ResponderConfig::new(server)))
}

/// Splits fuzz input into messages: each a u8 length then that many bytes.
fn messages(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let take = usize::from(len).min(rest.len());
        out.push(rest[..take].to_vec());
        data = &rest[take..];
    }
    out
}

/// Feeds `messages` to `side`, judging whatever it asks to judge with accept.
fn feed(side: &mut dyn Handshake, messages: Vec<Vec<u8>>) {
    let mut rng = rand_core::OsRng;
    let mut cx = Context { now_unix_s: 0, now: Instant::now(), rng: &mut rng };
    for mut message in messages {
        loop {
            match side.step() {
                Ok(Step::Send(_)) => continue,
                Ok(Step::Decide(_)) => {
                    if side.decide(Verdict::accept()).is_err() {
                        return;
                    }
                }
                Ok(Step::Receive) => break,
                Ok(Step::Done) | Err(_) => return,
            }
        }
        if side.on_message(&mut message, &mut cx).is_err() {
            return;
        }
    }
}

/// Runs a real handshake, XORing `mask` over the messages in order.
/// Returns both outcomes.
fn run(pattern: Pattern, mask: &[u8]) -> (Option<Established>, Option<Established>, bool) {
    let (mut initiator, mut responder) = sides(pattern);
    let mut rng = rand_core::OsRng;
    let mut cx = Context { now_unix_s: 0, now: Instant::now(), rng: &mut rng };
    let mut mask = mask.iter().copied();
    let mut changed = false;
    let mut done = [false, false];
    let mut failed = [false, false];
    let mut inbox: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..8 {
        for me in 0..2 {
            let side: &mut dyn Handshake = if me == 0 { &mut initiator } else { &mut responder };
            for mut message in std::mem::take(&mut inbox[me]) {
                if !failed[me] && !done[me] && side.on_message(&mut message, &mut cx).is_err() {
                    failed[me] = true;
                }
            }
            while !failed[me] && !done[me] {
                match side.step() {
                    Ok(Step::Send(mut message)) => {
                        for byte in message.iter_mut() {
                            let flip = mask.next().unwrap_or(0);
                            changed |= flip != 0;
                            *byte ^= flip;
                        }
                        inbox[1 - me].push(message);
                    }
                    Ok(Step::Decide(_)) => failed[me] |= side.decide(Verdict::accept()).is_err(),
                    Ok(Step::Done) => done[me] = true,
                    Ok(Step::Receive) => break,
                    Err(_) => failed[me] = true,
                }
            }
        }
    }
    let initiator = done[0].then(|| Box::new(initiator).finish().expect("finish"));
    let responder = done[1].then(|| Box::new(responder).finish().expect("finish"));
    (initiator, responder, changed)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 4 {
        0 => {
            let (_, mut responder) = sides(Pattern::XX);
            feed(&mut responder, messages(rest));
        }
        1 => {
            let (mut initiator, _) = sides(Pattern::IK);
            let _ = initiator.step();
            feed(&mut initiator, messages(rest));
        }
        2 => {
            let Some((&which, mask)) = rest.split_first() else { return };
            let pattern = [Pattern::XX, Pattern::IK, Pattern::KK][usize::from(which % 3)];
            let (initiator, responder, changed) = run(pattern, mask);
            if changed {
                assert!(
                    initiator.is_none() || responder.is_none(),
                    "a tampered handshake completed on both sides"
                );
            }
        }
        _ => {
            let (Some(mut initiator), Some(mut responder), false) = run(Pattern::XX, &[]) else {
                panic!("an untouched handshake completes");
            };
            let mut sealed = Vec::new();
            for text in [&b"one"[..], b"two"] {
                let mut record = vec![0u8; initiator.records.header_len()];
                record.extend_from_slice(text);
                record.resize(record.len() + initiator.records.tag_len(), 0);
                initiator.records.seal(RecordKind::App, &mut record).expect("seal");
                sealed.push(record);
            }
            for mut record in messages(rest) {
                let original = record.clone();
                if let Ok((_, range)) = responder.records.open(&mut record) {
                    assert!(sealed.contains(&original), "opened a record nobody sealed");
                    assert!(range.end <= record.len());
                }
            }
        }
    }
});
