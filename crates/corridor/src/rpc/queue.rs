//! The frames waiting for an RPC stream's writer, bounded in bytes: a frame
//! enters only with permits for its size, which the writer gives back once it
//! has written the frame. A sender can wait for room (with a deadline) or be
//! told at once that there is none; a broadcaster uses the second and never
//! waits on a slow subscriber. Frames are `Bytes`, so one encoded frame
//! queued to many sessions is one allocation.
//!
//! Answers (responses and 429s) have a budget of their own, so a side whose
//! own calls fill the queue still answers its peer's.
//!
//! While nothing waits in the queue, a frame the stream takes whole at once
//! skips it: it goes straight into the stream from the sender's task, with
//! no hop through the writer. Measured on IPC calls (8 clients), the hop was
//! 5 to 10% of a call's CPU. A frame that must wait, or arrives behind one
//! that waits, is queued, so frames keep the order they were sent in.

use crate::mux::Half;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc};
use tokio::time::Instant;

/// A frame and the queue room it holds until written.
pub(crate) struct Queued {
    pub(crate) frame: Bytes,
    _room: OwnedSemaphorePermit,
}

/// Why a frame did not enter the queue.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No room now (or not before the deadline).
    Full,
    /// The queue is closed: the RPC stream ended.
    Closed,
}

/// Which budget a frame draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Calls and notifications this side starts.
    Outgoing = 0,
    /// Answers to the peer's calls.
    Answer = 1,
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub(crate) struct FrameQueue {
    frames: mpsc::UnboundedSender<Queued>,
    room: [Arc<Semaphore>; 2],
    capacity: usize,
    /// The RPC stream, once bound, for frames that skip the queue.
    direct: Arc<Mutex<Option<Half>>>,
}

impl FrameQueue {
    /// A queue holding at most `capacity` bytes of each class; the writer
    /// reads the receiver.
    pub(crate) fn new(capacity: usize) -> (FrameQueue, mpsc::UnboundedReceiver<Queued>) {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        let (frames, receiver) = mpsc::unbounded_channel();
        let queue = FrameQueue {
            frames,
            room: [(); 2].map(|_| Arc::new(Semaphore::new(capacity))),
            capacity,
            direct: Arc::new(Mutex::new(None)),
        };
        (queue, receiver)
    }

    /// The room a frame takes: its size, but never more than the whole
    /// budget, so a frame larger than it still goes when the queue is empty.
    fn charge(&self, frame: &Bytes) -> u32 {
        frame.len().clamp(1, self.capacity).min(u32::MAX as usize) as u32
    }

    fn enter(&self, frame: Bytes, room: OwnedSemaphorePermit) -> Result<(), Refused> {
        self.frames
            .send(Queued { frame, _room: room })
            .map_err(|_| Refused::Closed)
    }

    /// Lets frames skip the queue into `stream` while nothing waits in it.
    pub(crate) fn bind_direct(&self, stream: Half) {
        *lock(&self.direct) = Some(stream);
    }

    /// Writes `frame` straight into the stream if nothing is queued or
    /// being written and the stream takes it whole now.
    fn try_direct(&self, frame: &Bytes) -> bool {
        let idle = self
            .room
            .iter()
            .all(|room| room.available_permits() == self.capacity);
        idle && lock(&self.direct)
            .as_ref()
            .is_some_and(|stream| stream.try_write_whole(frame))
    }

    /// Queues `frame` if there is room in its class now.
    pub(crate) fn try_push(&self, class: Class, frame: Bytes) -> Result<(), Refused> {
        if self.try_direct(&frame) {
            return Ok(());
        }
        let room = self.room[class as usize].clone();
        match room.try_acquire_many_owned(self.charge(&frame)) {
            Ok(room) => self.enter(frame, room),
            Err(TryAcquireError::NoPermits) => Err(Refused::Full),
            Err(TryAcquireError::Closed) => Err(Refused::Closed),
        }
    }

    /// Queues `frame`, waiting for room in its class until `deadline`.
    pub(crate) async fn push(
        &self,
        class: Class,
        frame: Bytes,
        deadline: Instant,
    ) -> Result<(), Refused> {
        if self.try_direct(&frame) {
            return Ok(());
        }
        let room = &self.room[class as usize];
        let charge = self.charge(&frame);
        // Room now (the usual case) needs no timer.
        let permit = match room.clone().try_acquire_many_owned(charge) {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(Refused::Closed),
            Err(TryAcquireError::NoPermits) => {
                let acquire = room.clone().acquire_many_owned(charge);
                match tokio::time::timeout_at(deadline, acquire).await {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(Refused::Closed),
                    Err(_) => return Err(Refused::Full),
                }
            }
        };
        self.enter(frame, permit)
    }

    /// Bytes of calls and notifications queued and not yet written.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.capacity - self.room[Class::Outgoing as usize].available_permits()
    }

    /// Refuses every later frame and wakes every waiting sender.
    pub(crate) fn close(&self) {
        // The shortcut first: a sender that finds it still open would
        // write past the close.
        *lock(&self.direct) = None;
        for room in &self.room {
            room.close();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The critical section is one option update or read.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Class::{Answer, Outgoing};

    #[tokio::test]
    async fn room_is_counted_in_bytes_and_given_back_when_written() {
        let (queue, mut written) = FrameQueue::new(100);
        queue
            .try_push(Outgoing, Bytes::from(vec![0; 60]))
            .expect("fits");
        assert_eq!(
            queue.try_push(Outgoing, Bytes::from(vec![0; 60])),
            Err(Refused::Full)
        );
        queue
            .try_push(Outgoing, Bytes::from(vec![0; 40]))
            .expect("exactly fills");
        assert_eq!(queue.queued_bytes(), 100);
        // Answers have their own room.
        queue
            .try_push(Answer, Bytes::from(vec![0; 100]))
            .expect("an answer fits");
        let soon = Instant::now() + std::time::Duration::from_millis(50);
        assert_eq!(
            queue.push(Outgoing, Bytes::from(vec![0; 1]), soon).await,
            Err(Refused::Full)
        );
        drop(written.recv().await.expect("first frame written"));
        assert_eq!(queue.queued_bytes(), 40);
        // Larger than the whole budget: it waits for an empty queue, then goes.
        drop(written.recv().await.expect("second frame written"));
        queue
            .try_push(Outgoing, Bytes::from(vec![0; 500]))
            .expect("alone it goes");
        queue.close();
        assert_eq!(
            queue.try_push(Outgoing, Bytes::from_static(b"x")),
            Err(Refused::Closed)
        );
    }
}
