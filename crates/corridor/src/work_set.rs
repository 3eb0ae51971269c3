//! The futures that run on the session driver's task (the RPC stream's
//! reader and writer), each polled only when it was woken.
//!
//! A `FuturesUnordered` did this before, built for many futures: for these
//! two it cost a queue node and a parent-waker registration per wake, and
//! it asked for another poll each time it had polled all of them. Here each
//! future has a flag and a waker that sets it and wakes the driver's part
//! for work ([`WakeSet`](crate::wake_set::WakeSet)).

use futures_util::future::BoxFuture;
use futures_util::task::ArcWake;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context, Waker};

/// Futures polled when woken, until they finish.
#[derive(Default)]
pub(crate) struct WorkSet {
    slots: Vec<Slot>,
}

struct Slot {
    future: BoxFuture<'static, ()>,
    mark: Arc<Mark>,
    waker: Waker,
}

struct Mark {
    woken: AtomicBool,
    /// Whom a wake of this future tells: the driver's part for work.
    driver: Waker,
}

impl ArcWake for Mark {
    fn wake_by_ref(mark: &Arc<Self>) {
        // The flag first: the driver, once woken, finds it set.
        mark.woken.store(true, SeqCst);
        mark.driver.wake_by_ref();
    }
}

impl WorkSet {
    /// Adds `future`, to be polled on the next [`Self::run`]; a wake of it
    /// wakes `driver`.
    pub(crate) fn push(&mut self, future: BoxFuture<'static, ()>, driver: &Waker) {
        let mark = Arc::new(Mark {
            woken: AtomicBool::new(true),
            driver: driver.clone(),
        });
        let waker = futures_util::task::waker(mark.clone());
        self.slots.push(Slot {
            future,
            mark,
            waker,
        });
    }

    /// Polls each future woken since its last poll, and drops those that
    /// have finished.
    pub(crate) fn run(&mut self) {
        self.slots.retain_mut(|slot| {
            // Cleared before the poll: a wake during it is kept for the next run.
            if !slot.mark.woken.swap(false, SeqCst) {
                return true;
            }
            let mut cx = Context::from_waker(&slot.waker);
            slot.future.as_mut().poll(&mut cx).is_pending()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wake_set::tests::task;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_future_is_polled_when_woken_and_dropped_when_done() {
        let (driver_count, driver) = task();
        let polls = Arc::new(AtomicUsize::new(0));
        let (kept_tx, kept_rx) = std::sync::mpsc::channel::<Waker>();
        let mut set = WorkSet::default();
        let counted = polls.clone();
        set.push(
            Box::pin(std::future::poll_fn(move |cx| {
                let n = counted.fetch_add(1, SeqCst) + 1;
                let _ = kept_tx.send(cx.waker().clone());
                if n == 2 {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })),
            &driver,
        );
        set.run();
        assert_eq!(polls.load(SeqCst), 1, "new work is polled at once");
        set.run();
        assert_eq!(polls.load(SeqCst), 1, "not woken: not polled");
        kept_rx.recv().expect("waker").wake();
        assert_eq!(driver_count.0.load(SeqCst), 1, "the driver is told");
        set.run();
        assert_eq!(polls.load(SeqCst), 2);
        assert!(set.slots.is_empty(), "finished work is dropped");
    }
}
