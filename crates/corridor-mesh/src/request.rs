//! Requests that wait for their reply: the first message from the
//! addressed peer whose `reply_to` names a waiting request goes to the
//! caller waiting on it instead of the message handler. Entries live only
//! while their caller waits (a dropped or timed-out wait removes its own),
//! so the table is bounded by the callers waiting on it.

use crate::message::Message;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Waiters = HashMap<String, (String, oneshot::Sender<Message>)>;

/// Requests waiting for their replies, by request id.
#[derive(Default)]
pub(crate) struct Waiting {
    waiters: Arc<Mutex<Waiters>>,
}

/// Removes its request's entry when the wait ends, however it ends.
pub(crate) struct Wait {
    waiters: Arc<Mutex<Waiters>>,
    id: String,
}

impl Drop for Wait {
    fn drop(&mut self) {
        lock(&self.waiters).remove(&self.id);
    }
}

fn lock(waiters: &Mutex<Waiters>) -> std::sync::MutexGuard<'_, Waiters> {
    // Every critical section is one map update: a poisoned map is whole.
    waiters.lock().unwrap_or_else(|p| p.into_inner())
}

impl Waiting {
    /// Waits for the reply to request `id` from peer `peer`.
    pub(crate) fn expect(&self, id: &str, peer: &str) -> (oneshot::Receiver<Message>, Wait) {
        let (reply, receiver) = oneshot::channel();
        lock(&self.waiters).insert(id.to_owned(), (peer.to_owned(), reply));
        let wait = Wait {
            waiters: self.waiters.clone(),
            id: id.to_owned(),
        };
        (receiver, wait)
    }

    /// Hands `message` to the request it answers, if one from this peer
    /// waits; otherwise gives it back for the handler.
    pub(crate) fn deliver(&self, message: Message) -> Option<Message> {
        let Some(request) = &message.reply_to else {
            return Some(message);
        };
        let mut waiters = lock(&self.waiters);
        match waiters.get(request) {
            Some((peer, _)) if *peer == message.from => {
                let (_, reply) = waiters.remove(request)?;
                drop(waiters);
                // A caller that stopped waiting just now: nobody to tell.
                let _ = reply.send(message);
                None
            }
            _ => Some(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(from: &str, to_request: &str) -> Message {
        let mut message = Message::new("pong", &()).unwrap();
        message.from = from.into();
        message.reply_to = Some(to_request.into());
        message
    }

    #[tokio::test]
    async fn only_the_addressed_peers_reply_reaches_the_waiting_request() {
        let waiting = Waiting::default();
        let (answer, wait) = waiting.expect("r1", "peer-a");
        // Another peer naming the request is not its answer.
        assert!(waiting.deliver(reply("peer-b", "r1")).is_some());
        assert!(waiting.deliver(reply("peer-a", "r1")).is_none());
        assert_eq!(answer.await.unwrap().from, "peer-a");
        // Answered once: a second reply goes to the handler.
        assert!(waiting.deliver(reply("peer-a", "r1")).is_some());
        drop(wait);
        assert!(lock(&waiting.waiters).is_empty());
    }

    #[test]
    fn a_wait_that_ends_unanswered_leaves_nothing_behind() {
        let waiting = Waiting::default();
        let (_answer, wait) = waiting.expect("r2", "peer-a");
        drop(wait);
        assert!(lock(&waiting.waiters).is_empty());
        assert!(waiting.deliver(reply("peer-a", "r2")).is_some());
    }
}
