//! Handlers by `type_id`, typed with serde at registration, stored untyped.
//!
//! A [`Router`] is built once (`Router::new().handle(..).on_notify(..)`) and
//! does not change after: a session serves the router it started with, so
//! options cloned for another session cannot grow handlers behind its back.
//! A handler takes the request alone, or a [`Call`] and the request when it
//! needs to know who calls or to push to that peer later.

use super::Failure;
use super::peer::{Call, Serve};
use corridor_core::rpc::{CODE_BAD_REQUEST, CODE_INTERNAL, CODE_NOT_FOUND};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

type ErasedHandler =
    Arc<dyn Fn(Call, Value) -> BoxFuture<'static, Result<Value, Failure>> + Send + Sync>;
type ErasedNotify = Arc<dyn Fn(Call, Value) -> BoxFuture<'static, ()> + Send + Sync>;

/// A request handler: `Fn(Req) -> Future<Result<Resp, Failure>>` or
/// `Fn(Call, Req) -> ...`. `Marker` only tells the two apart.
pub trait Handler<Marker>: Send + Sync + 'static {
    /// The response, as JSON.
    fn call(&self, call: Call, payload: Value) -> BoxFuture<'static, Result<Value, Failure>>;
}

/// A notification handler: `Fn(Msg) -> Future<()>` or `Fn(Call, Msg) -> ...`.
pub trait NotifyHandler<Marker>: Send + Sync + 'static {
    /// Handles one notification.
    fn notify(&self, call: Call, payload: Value) -> BoxFuture<'static, ()>;
}

/// Marks handlers that take the request alone.
#[derive(Debug)]
pub struct RequestOnly<T>(std::marker::PhantomData<T>);
/// Marks handlers that take the [`Call`] and the request.
#[derive(Debug)]
pub struct WithCall<T>(std::marker::PhantomData<T>);

fn decode<T: DeserializeOwned>(payload: Value) -> Result<T, Failure> {
    serde_json::from_value(payload).map_err(|error| {
        Failure::new(
            CODE_BAD_REQUEST,
            format!("invalid request payload: {error}"),
        )
    })
}

/// Runs a handler's future to its answer as JSON. (A panic is caught where
/// handlers are run, in the RPC reader, and answers 500.)
async fn answer<Resp, Fut>(future: Fut) -> Result<Value, Failure>
where
    Resp: Serialize,
    Fut: Future<Output = Result<Resp, Failure>>,
{
    let response = future.await?;
    serde_json::to_value(response).map_err(|error| Failure::new(CODE_INTERNAL, error.to_string()))
}

impl<F, Fut, Req, Resp> Handler<RequestOnly<(Req, Resp)>> for F
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Resp, Failure>> + Send + 'static,
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + 'static,
{
    fn call(&self, _: Call, payload: Value) -> BoxFuture<'static, Result<Value, Failure>> {
        match decode::<Req>(payload) {
            Ok(request) => Box::pin(answer(self(request))),
            Err(failure) => Box::pin(std::future::ready(Err(failure))),
        }
    }
}

impl<F, Fut, Req, Resp> Handler<WithCall<(Req, Resp)>> for F
where
    F: Fn(Call, Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Resp, Failure>> + Send + 'static,
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + 'static,
{
    fn call(&self, call: Call, payload: Value) -> BoxFuture<'static, Result<Value, Failure>> {
        match decode::<Req>(payload) {
            Ok(request) => Box::pin(answer(self(call, request))),
            Err(failure) => Box::pin(std::future::ready(Err(failure))),
        }
    }
}

impl<F, Fut, Msg> NotifyHandler<RequestOnly<Msg>> for F
where
    F: Fn(Msg) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    Msg: DeserializeOwned + Send + 'static,
{
    fn notify(&self, call: Call, payload: Value) -> BoxFuture<'static, ()> {
        match serde_json::from_value::<Msg>(payload) {
            Ok(message) => Box::pin(self(message)),
            Err(error) => dropped(call.type_id(), error),
        }
    }
}

impl<F, Fut, Msg> NotifyHandler<WithCall<Msg>> for F
where
    F: Fn(Call, Msg) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    Msg: DeserializeOwned + Send + 'static,
{
    fn notify(&self, call: Call, payload: Value) -> BoxFuture<'static, ()> {
        match serde_json::from_value::<Msg>(payload) {
            Ok(message) => Box::pin(self(call, message)),
            Err(error) => dropped(call.type_id(), error),
        }
    }
}

fn dropped(type_id: u32, error: serde_json::Error) -> BoxFuture<'static, ()> {
    tracing::debug!(type_id, %error, "notification payload does not fit: dropped");
    Box::pin(std::future::ready(()))
}

/// The handlers one side serves.
#[derive(Clone, Default)]
pub struct Router {
    requests: HashMap<u32, ErasedHandler>,
    notifications: HashMap<u32, ErasedNotify>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut requests: Vec<_> = self.requests.keys().collect();
        requests.sort();
        let mut notifications: Vec<_> = self.notifications.keys().collect();
        notifications.sort();
        f.debug_struct("Router")
            .field("requests", &requests)
            .field("notifications", &notifications)
            .finish()
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
    /// use corridor::rpc::{Call, Failure, Router};
    /// #[derive(serde::Deserialize)] struct Add { a: i64, b: i64 }
    /// let router = Router::new()
    ///     .handle(1, |req: Add| async move { Ok::<_, Failure>(req.a + req.b) })
    ///     // A handler that wants to know who is calling takes the Call first.
    ///     .handle(2, |call: Call, _: ()| async move {
    ///         Ok::<_, Failure>(format!("{:?}", call.peer().identity))
    ///     });
    /// ```
    pub fn handle<M, H: Handler<M>>(mut self, type_id: u32, handler: H) -> Router {
        let handler = Arc::new(handler);
        let erased: ErasedHandler = Arc::new(move |call, payload| handler.call(call, payload));
        self.requests.insert(type_id, erased);
        self
    }

    /// Runs `handler` for each notification of `type_id`; payloads that do not
    /// fit its type are dropped with a log line.
    pub fn on_notify<M, H: NotifyHandler<M>>(mut self, type_id: u32, handler: H) -> Router {
        let handler = Arc::new(handler);
        let erased: ErasedNotify = Arc::new(move |call, payload| handler.notify(call, payload));
        self.notifications.insert(type_id, erased);
        self
    }

    /// Every handler of `self`, then every handler of `other` (which wins
    /// where both handle a `type_id`).
    pub fn merge(mut self, other: Router) -> Router {
        self.requests.extend(other.requests);
        self.notifications.extend(other.notifications);
        self
    }
}

impl Serve for Router {
    fn dispatch(&self, call: Call, payload: Value) -> BoxFuture<'static, Result<Value, Failure>> {
        match self.requests.get(&call.type_id()) {
            Some(handler) => handler(call, payload),
            None => Box::pin(async { Err(Failure::new(CODE_NOT_FOUND, "handler not found")) }),
        }
    }

    fn notification(&self, call: Call, payload: Value) -> Option<BoxFuture<'static, ()>> {
        self.notifications
            .get(&call.type_id())
            .map(|handler| handler(call, payload))
    }
}
