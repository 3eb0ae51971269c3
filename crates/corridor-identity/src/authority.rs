//! The judge of each client's handshake: an enrollment (one-time token for
//! the user it names, then the key is registered) or a key login. Its
//! verdict travels back inside the handshake, so a refused client reads
//! why; an admitted session carries its [`Admitted`] account.

use crate::hello::{ClientHello, Welcome};
use crate::store::{Account, Refusal, Store};
use corridor::ConnectionInfo;
use corridor::credential::{Admission, Authorizer};
use corridor::peer::Attachment;
use corridor_core::suite::{Claim, Verdict};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What an admitted session carries (see [`corridor::Peer::attached`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// Unique among this server's sessions.
    pub session_id: u64,
    /// Whose session it is.
    pub account: Account,
    /// Whether its handshake enrolled the key.
    pub enrolled: bool,
}

/// Admits enrolled keys and enrollments, refusing the rest with a reason.
#[derive(Debug)]
pub struct KeyAuthority {
    store: Arc<Store>,
    next_session: AtomicU64,
}

impl KeyAuthority {
    /// A judge backed by `store`.
    pub fn new(store: Arc<Store>) -> KeyAuthority {
        KeyAuthority {
            store,
            next_session: AtomicU64::new(1),
        }
    }

    async fn judge(&self, claim: &Claim) -> Result<(Account, bool), String> {
        let Some(key) = claim.identity.static_key() else {
            return Err("a static key is required".into());
        };
        let Some(hello) = ClientHello::decode(&claim.payload) else {
            return Err(Refusal::MalformedHello.to_string());
        };
        let outcome = match &hello.enroll {
            Some(enroll) => self
                .store
                .enroll(&enroll.user, &enroll.token, key, &enroll.label)
                .await
                .map(|result| result.map(|account| (account, true))),
            None => self
                .store
                .login(key)
                .await
                .map(|result| result.map(|account| (account, false))),
        };
        match outcome {
            Ok(Ok(admitted)) => Ok(admitted),
            Ok(Err(refusal)) => {
                tracing::info!(key = %key.fingerprint(), %refusal, "client refused");
                Err(refusal.to_string())
            }
            Err(error) => {
                tracing::warn!(%error, "store failed during a handshake");
                Err("server error".into())
            }
        }
    }
}

impl Authorizer for KeyAuthority {
    fn authorize<'a>(
        &'a self,
        claim: &'a Claim,
        connection: &'a ConnectionInfo,
    ) -> BoxFuture<'a, Verdict> {
        Box::pin(async move { self.admit(claim, connection).await.verdict })
    }

    fn admit<'a>(&'a self, claim: &'a Claim, _: &'a ConnectionInfo) -> BoxFuture<'a, Admission> {
        Box::pin(async move {
            match self.judge(claim).await {
                Ok((account, enrolled)) => {
                    let welcome = Welcome {
                        user: account.user.clone(),
                        groups: account.groups.clone(),
                        fingerprint: account.fingerprint.clone(),
                        enrolled,
                    };
                    let admitted = Admitted {
                        session_id: self.next_session.fetch_add(1, Ordering::Relaxed),
                        account,
                        enrolled,
                    };
                    Admission {
                        verdict: Verdict::Accept {
                            payload: serde_json::to_vec(&welcome).unwrap_or_default(),
                        },
                        attachment: Some(Attachment::new(admitted)),
                    }
                }
                Err(reason) => Admission {
                    verdict: Verdict::Refuse { reason },
                    attachment: None,
                },
            }
        })
    }
}
