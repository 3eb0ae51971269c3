//! The noise suite's IK handshake, both sides in memory, and what most of
//! it is made of: X25519, corridor's (aws-lc-rs) beside x25519-dalek's (the
//! one snow and the fsec1 code used before).
//!
//! `cargo bench -p corridor-core --bench handshake`

use corridor_core::identity::StaticSecret;
use corridor_core::noise::{
    Cipher, InitiatorConfig, NoiseInitiator, NoiseResponder, Pattern, Protocol, ResponderConfig,
};
use corridor_core::suite::{Context, Handshake, Step, Verdict};
use corridor_core::x25519;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn ik_handshake(client_key: &StaticSecret, server_key: &StaticSecret) {
    let rng = &mut rand_core::OsRng;
    let protocol = Protocol {
        pattern: Pattern::IK,
        cipher: Cipher::AesGcm,
        psk: false,
    };
    let mut config = InitiatorConfig::new(protocol, client_key.clone(), "svc");
    config.remote = Some(server_key.public_key());
    let mut client = NoiseInitiator::start(config).expect("start");
    let mut server = NoiseResponder::new(ResponderConfig::new(server_key.clone()));
    let mut cx = Context {
        now_unix_s: 0,
        now: std::time::Instant::now(),
        rng,
    };
    let Ok(Step::Send(mut first)) = client.step() else {
        panic!("the first message")
    };
    server.on_message(&mut first, &mut cx).expect("first");
    let Ok(Step::Decide(_)) = server.step() else {
        panic!("a claim")
    };
    server
        .decide(Verdict::Accept {
            payload: Vec::new(),
        })
        .expect("accept");
    let Ok(Step::Send(mut second)) = server.step() else {
        panic!("the second message")
    };
    client.on_message(&mut second, &mut cx).expect("second");
    black_box(Box::new(client).finish().expect("client done"));
    black_box(Box::new(server).finish().expect("server done"));
}

fn handshake(c: &mut Criterion) {
    let rng = &mut rand_core::OsRng;
    let (client_key, server_key) = (StaticSecret::generate(rng), StaticSecret::generate(rng));
    let mut group = c.benchmark_group("noise");
    group.bench_function("ik_both_sides", |b| {
        b.iter(|| ik_handshake(&client_key, &server_key))
    });
    group.finish();

    let mut group = c.benchmark_group("x25519");
    let (scalar, point) = ([7u8; 32], x25519_dalek::X25519_BASEPOINT_BYTES);
    let peer = x25519_dalek::x25519([9u8; 32], point);
    group.bench_function("dalek_dh", |b| {
        b.iter(|| x25519_dalek::x25519(black_box(scalar), black_box(peer)))
    });
    group.bench_function("dalek_public_key", |b| {
        let secret = x25519_dalek::StaticSecret::from(scalar);
        b.iter(|| x25519_dalek::PublicKey::from(black_box(&secret)))
    });
    group.bench_function("corridor_dh", |b| {
        let secret = x25519::Secret::from_bytes(&scalar);
        b.iter(|| black_box(&secret).agree(black_box(&peer)))
    });
    group.bench_function("corridor_public_key", |b| {
        b.iter(|| x25519::public_key(black_box(&scalar)))
    });
    group.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
