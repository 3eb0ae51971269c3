//! Handlers by `type_id`: typed with serde at registration, stored untyped.

use corridor_core::rpc::{CODE_BAD_REQUEST, CODE_INTERNAL, CODE_NOT_FOUND};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

/// A handler's failure: the code and message the caller receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// An application code (or 500).
    pub code: u32,
    /// Shown to the caller.
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: u32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

type Handler = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, Failure>> + Send + Sync>;
type NotifyHandler = Arc<dyn Fn(Value) -> BoxFuture<'static, ()> + Send + Sync>;

/// The handlers one side serves. Cheap to clone; clones share handlers.
#[derive(Clone, Default)]
pub struct Router {
    requests: Arc<RwLock<HashMap<u32, Handler>>>,
    notifications: Arc<RwLock<HashMap<u32, NotifyHandler>>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").finish_non_exhaustive()
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Router {
        Router::default()
    }

    /// Serves requests of `type_id` with `handler`, replacing any earlier one.
    ///
    /// ```
    /// use corridor::rpc::{Failure, Router};
    /// #[derive(serde::Deserialize)] struct Add { a: i64, b: i64 }
    /// let router = Router::new();
    /// router.handle(1, |req: Add| async move { Ok::<_, Failure>(req.a + req.b) });
    /// ```
    pub fn handle<Req, Resp, F, Fut>(&self, type_id: u32, handler: F) -> &Router
    where
        Req: DeserializeOwned + Send + 'static,
        Resp: Serialize + 'static,
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, Failure>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: Handler = Arc::new(move |payload: Value| {
            let handler = handler.clone();
            Box::pin(async move {
                let request = serde_json::from_value::<Req>(payload).map_err(|error| {
                    Failure::new(
                        CODE_BAD_REQUEST,
                        format!("invalid request payload: {error}"),
                    )
                })?;
                // A panicking handler answers 500, as an HTTP server's would,
                // instead of leaving its caller to time out.
                let call = std::panic::AssertUnwindSafe(async move { handler(request).await });
                let response = call
                    .catch_unwind()
                    .await
                    .map_err(|_| Failure::new(CODE_INTERNAL, "handler panicked"))??;
                serde_json::to_value(response)
                    .map_err(|error| Failure::new(CODE_INTERNAL, error.to_string()))
            })
        });
        write(&self.requests).insert(type_id, erased);
        self
    }

    /// Runs `handler` for each notification of `type_id`; payloads that do not
    /// fit `Msg` are dropped with a log line.
    pub fn on_notify<Msg, F, Fut>(&self, type_id: u32, handler: F) -> &Router
    where
        Msg: DeserializeOwned + Send + 'static,
        F: Fn(Msg) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: NotifyHandler = Arc::new(move |payload: Value| {
            let handler = handler.clone();
            Box::pin(async move {
                match serde_json::from_value::<Msg>(payload) {
                    Ok(message) => handler(message).await,
                    Err(error) => {
                        tracing::debug!(type_id, %error, "notification payload does not fit")
                    }
                }
            })
        });
        write(&self.notifications).insert(type_id, erased);
        self
    }

    pub(crate) fn dispatch(
        &self,
        type_id: u32,
        payload: Value,
    ) -> BoxFuture<'static, Result<Value, Failure>> {
        let handler = read(&self.requests).get(&type_id).cloned();
        match handler {
            Some(handler) => handler(payload),
            None => Box::pin(async { Err(Failure::new(CODE_NOT_FOUND, "handler not found")) }),
        }
    }

    pub(crate) fn notification(
        &self,
        type_id: u32,
        payload: Value,
    ) -> Option<BoxFuture<'static, ()>> {
        read(&self.notifications)
            .get(&type_id)
            .map(|handler| handler(payload))
    }
}

// Handlers are inserted whole; a panic elsewhere cannot leave a map half-written.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
