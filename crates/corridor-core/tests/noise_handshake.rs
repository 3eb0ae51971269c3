//! The noise suite without I/O: every pattern, cipher and PSK setting
//! completes and carries records both ways, and each way a handshake can be
//! attacked or misconfigured fails with its named error.

use corridor_core::identity::{PublicKey, StaticSecret};
use corridor_core::noise::{
    Cipher, InitiatorConfig, NoiseError, NoiseInitiator, NoiseResponder, Pattern, Protocol,
    ResponderConfig,
};
use corridor_core::suite::{
    Claim, Context, Established, Handshake, PeerIdentity, RecordKind, SecureError, Step, Verdict,
};
use std::time::Instant;
use zeroize::Zeroizing;

fn context() -> Context<'static> {
    Context {
        now_unix_s: 0,
        now: Instant::now(),
        rng: Box::leak(Box::new(rand_core::OsRng)),
    }
}

fn key() -> StaticSecret {
    StaticSecret::generate(&mut rand_core::OsRng)
}

/// How one side judges the other.
type Judge = fn(&Claim) -> Verdict;

fn accept(_: &Claim) -> Verdict {
    Verdict::Accept {
        payload: b"welcome".to_vec(),
    }
}

/// Runs both sides against each other in memory, each message through
/// `wire` (which may tamper with it). Returns each side's outcome.
fn run(
    initiator: &mut dyn Handshake,
    responder: &mut dyn Handshake,
    judge_responder: Judge,
    judge_initiator: Judge,
    mut wire: impl FnMut(usize, &mut Vec<u8>),
) -> (Result<(), SecureError>, Result<(), SecureError>) {
    let mut cx = context();
    let sides: [&mut dyn Handshake; 2] = [initiator, responder];
    let judges = [judge_responder, judge_initiator];
    let mut outcome: [Option<Result<(), SecureError>>; 2] = [None, None];
    let mut inbox: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    let mut sent = 0;
    let mut progressed = true;
    while progressed {
        progressed = false;
        for me in 0..2 {
            for mut message in std::mem::take(&mut inbox[me]) {
                progressed = true;
                if outcome[me].is_none() {
                    if let Err(error) = sides[me].on_message(&mut message, &mut cx) {
                        outcome[me] = Some(Err(error));
                    }
                }
            }
            while outcome[me].is_none() {
                match sides[me].step() {
                    Ok(Step::Send(mut message)) => {
                        wire(sent, &mut message);
                        sent += 1;
                        inbox[1 - me].push(message);
                        progressed = true;
                    }
                    Ok(Step::Decide(claim)) => {
                        progressed = true;
                        if let Err(error) = sides[me].decide(judges[me](&claim)) {
                            outcome[me] = Some(Err(error));
                        }
                    }
                    Ok(Step::Done) => outcome[me] = Some(Ok(())),
                    Ok(Step::Receive) => break,
                    Err(error) => outcome[me] = Some(Err(error)),
                }
            }
        }
    }
    let [a, b] = outcome;
    let unfinished = || Err(NoiseError::Unexpected.into());
    (a.unwrap_or_else(unfinished), b.unwrap_or_else(unfinished))
}

struct Pair {
    client: NoiseInitiator,
    server: NoiseResponder,
    client_key: PublicKey,
    server_key: PublicKey,
}

fn pair(
    protocol: Protocol,
    adjust: impl FnOnce(&mut InitiatorConfig, &mut ResponderConfig),
) -> Pair {
    let (client_secret, server_secret) = (key(), key());
    let (client_key, server_key) = (client_secret.public_key(), server_secret.public_key());
    let mut initiator = InitiatorConfig::new(protocol, client_secret, "svc");
    initiator.payload = b"token".to_vec();
    initiator.features = 1;
    if protocol.pattern != Pattern::XX {
        initiator.remote = Some(server_key);
    }
    let mut responder = ResponderConfig::new(server_secret);
    responder.features = 1;
    if protocol.psk {
        initiator.psk = Some(Zeroizing::new([5; 32]));
        responder.psk = Some(Zeroizing::new([5; 32]));
    }
    adjust(&mut initiator, &mut responder);
    Pair {
        client: NoiseInitiator::start(initiator).expect("start"),
        server: NoiseResponder::new(responder),
        client_key,
        server_key,
    }
}

fn finish(side: impl Handshake + 'static) -> Established {
    Box::new(side).finish().expect("established")
}

/// A protocol without a PSK.
fn protocol(pattern: Pattern, cipher: Cipher) -> Protocol {
    Protocol {
        pattern,
        cipher,
        psk: false,
    }
}

fn protocols() -> Vec<Protocol> {
    let mut all = Vec::new();
    for pattern in [Pattern::XX, Pattern::IK, Pattern::KK] {
        for cipher in [Cipher::AesGcm, Cipher::ChaChaPoly] {
            for psk in [false, true] {
                all.push(Protocol {
                    pattern,
                    cipher,
                    psk,
                });
            }
        }
    }
    all
}

fn seal(side: &mut Established, kind: RecordKind, text: &[u8]) -> Vec<u8> {
    let records = &mut side.records;
    let mut record = vec![0u8; records.header_len()];
    record.extend_from_slice(text);
    record.resize(record.len() + records.tag_len(), 0);
    records.seal(kind, &mut record).expect("seal");
    record
}

fn open(side: &mut Established, mut record: Vec<u8>) -> Result<Vec<u8>, SecureError> {
    let (_, range) = side.records.open(&mut record)?;
    Ok(record[range].to_vec())
}

#[test]
fn every_protocol_authenticates_both_keys_and_carries_records_both_ways() {
    for protocol in protocols() {
        let Pair {
            mut client,
            mut server,
            client_key,
            server_key,
        } = pair(protocol, |_, _| {});
        let (c, s) = run(&mut client, &mut server, accept, accept, |_, _| {});
        assert_eq!((c, s), (Ok(()), Ok(())), "{}", protocol.name());
        let (mut client, mut server) = (finish(client), finish(server));
        assert_eq!(client.peer, PeerIdentity::StaticKey(server_key));
        assert_eq!(server.peer, PeerIdentity::StaticKey(client_key));
        assert_eq!(server.peer_payload, b"token");
        assert_eq!(client.peer_payload, b"welcome");
        assert_eq!((client.features, server.features), (1, 1));
        for round in 0..3 {
            let text = format!("{} {round}", protocol.name());
            let record = seal(&mut client, RecordKind::App, text.as_bytes());
            assert_eq!(open(&mut server, record).expect("open"), text.as_bytes());
            let record = seal(&mut server, RecordKind::Rekey, b"");
            open(&mut client, record).expect("rekey");
            let record = seal(&mut server, RecordKind::App, text.as_bytes());
            assert_eq!(
                open(&mut client, record).expect("after rekey"),
                text.as_bytes()
            );
        }
    }
}

#[test]
fn a_repeated_or_skipped_record_fails() {
    let Pair {
        mut client,
        mut server,
        ..
    } = pair(protocol(Pattern::XX, Cipher::AesGcm), |_, _| {});
    let outcome = run(&mut client, &mut server, accept, accept, |_, _| {});
    assert_eq!(outcome, (Ok(()), Ok(())));
    let (mut client, mut server) = (finish(client), finish(server));
    let first = seal(&mut client, RecordKind::App, b"one");
    let second = seal(&mut client, RecordKind::App, b"two");
    let third = seal(&mut client, RecordKind::App, b"three");
    open(&mut server, first.clone()).expect("first");
    assert_eq!(
        open(&mut server, first).err(),
        Some(SecureError::Noise(NoiseError::Decrypt)),
        "repeated"
    );
    // The second never arrives: the third is not the next record.
    assert_eq!(
        open(&mut server, third).err(),
        Some(SecureError::Noise(NoiseError::Decrypt)),
        "skipped"
    );
    assert_eq!(open(&mut server, second).expect("the next one"), b"two");
}

#[test]
fn garbage_and_truncated_first_messages_are_named() {
    let mut cx = context();
    let server_config = ResponderConfig::new(key());
    for (garbage, reason) in [
        (vec![], "malformed_message"),
        (vec![9, 1, 2, 3], "unsupported_version"),
        (vec![1, 200], "malformed_message"),
        (
            vec![1, 3, b'a', b'b', b'c', 0, 1, b's', 0],
            "protocol_not_accepted",
        ),
    ] {
        let mut server = NoiseResponder::new(server_config.clone());
        let mut message = garbage;
        let error = server
            .on_message(&mut message, &mut cx)
            .expect_err("refused");
        assert_eq!(error.reason(), reason);
    }
    // A real first message cut anywhere inside its Noise part.
    let Pair { mut client, .. } = pair(protocol(Pattern::IK, Cipher::AesGcm), |_, _| {});
    let Ok(Step::Send(first)) = client.step() else {
        panic!("first message");
    };
    let mut server = NoiseResponder::new(server_config);
    let mut cut = first[..first.len() - 5].to_vec();
    assert!(server.on_message(&mut cut, &mut cx).is_err());
}

#[test]
fn an_oversized_payload_is_refused_with_payload_too_large() {
    let Pair {
        mut client,
        mut server,
        ..
    } = pair(
        protocol(Pattern::IK, Cipher::ChaChaPoly),
        |initiator, responder| {
            initiator.payload = vec![1; 2000];
            responder.max_payload = 1000;
        },
    );
    let (_, s) = run(&mut client, &mut server, accept, accept, |_, _| {});
    assert_eq!(s.err().map(|e| e.reason()), Some("payload_too_large"));
}

#[test]
fn the_wrong_static_key_for_ik_or_kk_fails_the_handshake() {
    for pattern in [Pattern::IK, Pattern::KK] {
        let protocol = Protocol {
            pattern,
            cipher: Cipher::AesGcm,
            psk: false,
        };
        // The initiator believes the responder's key is another one.
        let Pair {
            mut client,
            mut server,
            ..
        } = pair(protocol, |initiator, _| {
            initiator.remote = Some(key().public_key());
        });
        let (_, s) = run(&mut client, &mut server, accept, accept, |_, _| {});
        assert_eq!(
            s.err().map(|e| e.reason()),
            Some("decrypt_failed"),
            "{pattern:?}"
        );
    }
    // KK: an initiator claiming a key it does not hold.
    let Pair {
        mut client,
        mut server,
        ..
    } = pair(protocol(Pattern::KK, Cipher::AesGcm), |_, _| {});
    let claimed = key().public_key();
    let (_, s) = run(
        &mut client,
        &mut server,
        accept,
        accept,
        |index, message| {
            if index == 0 {
                // The claimed key sits just before the Noise message: 32 bytes
                // after the key length byte. Swap it for another key.
                let at = message.iter().position(|b| *b == 32).expect("key length");
                message[at + 1..at + 33].copy_from_slice(claimed.as_bytes());
            }
        },
    );
    assert_eq!(s.err().map(|e| e.reason()), Some("decrypt_failed"));
}

#[test]
fn a_flipped_bit_anywhere_in_a_handshake_message_fails_it() {
    for index in 0..3 {
        let Pair {
            mut client,
            mut server,
            ..
        } = pair(protocol(Pattern::XX, Cipher::AesGcm), |_, _| {});
        let (c, s) = run(&mut client, &mut server, accept, accept, |sent, message| {
            if sent == index {
                let last = message.len() - 1;
                message[last] ^= 0x40;
            }
        });
        assert!(c.is_err() || s.is_err(), "message {index}");
    }
}

#[test]
fn an_xx_initiator_pinned_to_the_server_key_refuses_an_impostor() {
    // A man in the middle answers with its own key: the pin catches it.
    let Pair {
        mut client,
        mut server,
        ..
    } = pair(protocol(Pattern::XX, Cipher::AesGcm), |initiator, _| {
        initiator.remote = Some(key().public_key())
    });
    let (c, _) = run(&mut client, &mut server, accept, accept, |_, _| {});
    assert_eq!(c.err().map(|e| e.reason()), Some("peer_not_allowed"));
}

#[test]
fn a_responder_refusal_reaches_the_initiator_with_its_reason() {
    fn refuse(_: &Claim) -> Verdict {
        Verdict::Refuse {
            reason: "not on the allowlist".into(),
        }
    }
    for pattern in [Pattern::XX, Pattern::IK, Pattern::KK] {
        let Pair {
            mut client,
            mut server,
            ..
        } = pair(
            Protocol {
                pattern,
                cipher: Cipher::ChaChaPoly,
                psk: false,
            },
            |_, _| {},
        );
        let (c, s) = run(&mut client, &mut server, accept, refuse, |_, _| {});
        assert_eq!(
            c.err(),
            Some(SecureError::Refused("not on the allowlist".into())),
            "{pattern:?}"
        );
        assert_eq!(
            s.err(),
            Some(SecureError::NotAllowed("not on the allowlist".into()))
        );
    }
}

#[test]
fn a_replayed_handshake_gives_the_replayer_no_session() {
    let protocol = protocol(Pattern::XX, Cipher::AesGcm);
    let Pair {
        mut client,
        mut server,
        ..
    } = pair(protocol, |_, _| {});
    let mut recorded = Vec::new();
    let outcome = run(&mut client, &mut server, accept, accept, |_, message| {
        recorded.push(message.clone())
    });
    assert_eq!(outcome, (Ok(()), Ok(())));
    // The client's first and third messages, replayed to a fresh responder:
    // its fresh ephemeral key makes the third undecryptable.
    let mut cx = context();
    let mut fresh = NoiseResponder::new(ResponderConfig::new(key()));
    fresh
        .on_message(&mut recorded[0].clone(), &mut cx)
        .expect("a first message is only an ephemeral key");
    let error = fresh
        .on_message(&mut recorded[2].clone(), &mut cx)
        .expect_err("replayed third message");
    assert_eq!(error.reason(), "decrypt_failed");
}

#[test]
fn channel_psk_and_protocol_policy_are_enforced() {
    let xx = protocol(Pattern::XX, Cipher::AesGcm);
    let Pair {
        mut client,
        mut server,
        ..
    } = pair(xx, |_, responder| {
        responder.channel_id = Some("other".into())
    });
    let (_, s) = run(&mut client, &mut server, accept, accept, |_, _| {});
    assert_eq!(s.err().map(|e| e.reason()), Some("channel_mismatch"));
    // A responder with a PSK accepts only psk protocols.
    let Pair {
        mut client,
        mut server,
        ..
    } = pair(xx, |_, responder| {
        responder.psk = Some(Zeroizing::new([1; 32]))
    });
    let (_, s) = run(&mut client, &mut server, accept, accept, |_, _| {});
    assert_eq!(s.err().map(|e| e.reason()), Some("protocol_not_accepted"));
    // Both use a PSK, but not the same one.
    let Pair {
        mut client,
        mut server,
        ..
    } = pair(Protocol { psk: true, ..xx }, |_, responder| {
        responder.psk = Some(Zeroizing::new([6; 32]))
    });
    let (_, s) = run(&mut client, &mut server, accept, accept, |_, _| {});
    assert_eq!(s.err().map(|e| e.reason()), Some("decrypt_failed"));
}
