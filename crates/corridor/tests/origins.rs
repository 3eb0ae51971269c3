//! Browser origins: endpoints send one when told to (a relay that lists
//! origins and admits no others), and a direct endpoint admits only the
//! browser origins on its allow list, and programs that send none.

mod support;

use corridor::{Client, Endpoint, Error, SessionOptions};
use corridor_core::fsec1::Suite;
use serde_json::{Value, json};
use support::*;

const X25519: Suite = Suite::X25519HkdfSha256Aes256Gcm;

fn with_origin(options: SessionOptions, origin: Option<&str>) -> SessionOptions {
    let mut options = options;
    options.ws.origin = origin.map(str::to_owned);
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_listing_origins_admits_endpoints_that_send_an_allowed_one() {
    let relay = TestRelay::start_with(|config| {
        config.origins.allowed = vec!["http://app.test".into()];
        config.origins.allow_no_origin = false;
    })
    .await;
    let origin = Some("http://app.test");
    let pair = relay.grants("with-origin", X25519);
    let options = with_origin(endpoint_options().0, origin);
    let endpoint = tokio::spawn(async move {
        let session = Endpoint::connect_tunnel(&pair.server, &options)
            .await
            .expect("the relay admits the endpoint's origin");
        session.closed().await;
    });
    let session = Client::connect_tunnel(
        &pair.client,
        &with_origin(SessionOptions::default(), origin),
    )
    .await
    .expect("the relay admits the client's origin");
    let reply: Value = session
        .rpc()
        .call(ECHO_RPC, &json!("via"))
        .await
        .expect("call");
    assert_eq!(reply, json!({"echo": "via"}));
    session.close().await;
    join(endpoint).await;
    // Without an Origin the same relay refuses before the upgrade.
    let refused = Client::connect_tunnel(
        &relay.grants("no-origin", X25519).client,
        &SessionOptions::default(),
    )
    .await
    .expect_err("refused");
    assert!(refused.to_string().contains("403"), "{refused}");
}

async fn accept_one(
    listener: &tokio::net::TcpListener,
    credential: &corridor::DirectCredential,
    options: &SessionOptions,
) -> Result<corridor::Session, Error> {
    let (tcp, _) = listener.accept().await.expect("accept");
    Endpoint::accept_direct(tcp, credential, options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_endpoint_admits_listed_browser_origins_and_programs() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (info, credential) = direct_pair(listener.local_addr().expect("addr"), X25519);
    let mut options = endpoint_options().0;
    options.ws.allowed_origins.allowed = vec!["https://app.test".into()];
    let server = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..3 {
            let outcome = accept_one(&listener, &credential, &options).await;
            outcomes.push(outcome.as_ref().map(|_| ()).map_err(Error::reason));
            if let Ok(session) = outcome {
                tokio::spawn(async move { session.closed().await });
            }
        }
        outcomes
    });
    let cases = [Some("https://evil.test"), Some("https://app.test"), None];
    for origin in cases {
        let connected =
            Client::connect_direct(&info, &with_origin(SessionOptions::default(), origin)).await;
        match (origin, connected) {
            (Some("https://evil.test"), Err(error)) => {
                assert!(error.to_string().contains("403"), "{error}");
            }
            (_, Ok(session)) => {
                let reply: Value = session.rpc().call(ECHO_RPC, &json!(1)).await.expect("call");
                assert_eq!(reply, json!({"echo": 1}));
            }
            (origin, other) => panic!("{origin:?}: {other:?}"),
        }
    }
    let outcomes = join(server).await;
    assert_eq!(outcomes, vec![Err("origin_not_allowed"), Ok(()), Ok(())]);
}
