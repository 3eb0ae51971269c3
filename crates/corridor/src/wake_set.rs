//! A task made of parts, each with a waker of its own, so that a wake-up
//! polls only the parts that were woken.
//!
//! The session driver is such a task: the carrier (yamux frames in and out)
//! is one part, the work beside it (the RPC stream's reader and writer)
//! another. Polled as one, every wake-up polled both, and a part's wake that
//! landed while the task was running (the writer's frame waking the carrier,
//! the carrier's data waking the reader) made tokio poll the whole task once
//! more. With a [`WakeSet`], a wake while the task runs only marks its part,
//! which the same poll then serves; a wake between polls wakes the task.

use futures_util::task::{ArcWake, AtomicWaker};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context, Waker};

/// Wakers and woken marks for a task of `N` parts.
pub(crate) struct WakeSet<const N: usize> {
    shared: Arc<Shared<N>>,
    wakers: [Waker; N],
}

struct Shared<const N: usize> {
    /// The task's own waker, for wakes between polls.
    task: AtomicWaker,
    /// The task is being polled: a wake only marks its part.
    polling: AtomicBool,
    woken: [AtomicBool; N],
}

struct PartWaker<const N: usize> {
    shared: Arc<Shared<N>>,
    part: usize,
}

impl<const N: usize> ArcWake for PartWaker<N> {
    fn wake_by_ref(waker: &Arc<Self>) {
        // The mark first, then the check: a poll that ends after this check
        // sees the mark (see `settle`), and one that has ended is woken.
        waker.shared.woken[waker.part].store(true, SeqCst);
        if !waker.shared.polling.load(SeqCst) {
            waker.shared.task.wake();
        }
    }
}

impl<const N: usize> WakeSet<N> {
    /// Every part starts woken: the first poll polls them all.
    pub(crate) fn new() -> WakeSet<N> {
        let shared = Arc::new(Shared {
            task: AtomicWaker::new(),
            polling: AtomicBool::new(false),
            woken: std::array::from_fn(|_| AtomicBool::new(true)),
        });
        let wakers = std::array::from_fn(|part| {
            futures_util::task::waker(Arc::new(PartWaker {
                shared: shared.clone(),
                part,
            }))
        });
        WakeSet { shared, wakers }
    }

    /// Starts a poll of the task (`cx` is the task's).
    pub(crate) fn begin(&self, cx: &Context<'_>) {
        self.shared.task.register(cx.waker());
        self.shared.polling.store(true, SeqCst);
    }

    /// Whether `part` was woken since it was last taken; it is to be polled
    /// now, with [`Self::context`] (a wake from here on marks it again).
    pub(crate) fn take(&self, part: usize) -> bool {
        self.shared.woken[part].swap(false, SeqCst)
    }

    /// The context `part` is polled with.
    pub(crate) fn context(&self, part: usize) -> Context<'_> {
        Context::from_waker(&self.wakers[part])
    }

    /// Ends the poll, unless a part was woken since it was taken: then
    /// false, and the poll goes on to serve it.
    pub(crate) fn settle(&self) -> bool {
        self.shared.polling.store(false, SeqCst);
        if self.shared.woken.iter().any(|woken| woken.load(SeqCst)) {
            self.shared.polling.store(true, SeqCst);
            return false;
        }
        true
    }

    /// Ends the poll early, the task woken to come back after other tasks
    /// have had a turn; the marks stay for that poll.
    pub(crate) fn yield_now(&self, cx: &Context<'_>) {
        self.shared.polling.store(false, SeqCst);
        cx.waker().wake_by_ref();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the task's wakes.
    struct Count(AtomicUsize);

    impl ArcWake for Count {
        fn wake_by_ref(count: &Arc<Self>) {
            count.0.fetch_add(1, SeqCst);
        }
    }

    fn task() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), futures_util::task::waker(count))
    }

    #[test]
    fn the_first_poll_polls_every_part_then_only_the_woken_one() {
        let (_, task) = task();
        let cx = Context::from_waker(&task);
        let set = WakeSet::<2>::new();
        set.begin(&cx);
        assert!(set.take(0) && set.take(1));
        assert!(set.settle());
        set.context(1).waker().wake_by_ref();
        set.begin(&cx);
        assert!(!set.take(0));
        assert!(set.take(1));
        assert!(set.settle());
    }

    #[test]
    fn a_wake_while_polling_marks_the_part_without_waking_the_task() {
        let (count, task) = task();
        let cx = Context::from_waker(&task);
        let set = WakeSet::<2>::new();
        set.begin(&cx);
        assert!(set.take(0) && set.take(1));
        set.context(0).waker().wake_by_ref();
        assert!(!set.settle(), "part 0 is served in the same poll");
        assert!(set.take(0));
        assert!(!set.take(1));
        assert!(set.settle());
        assert_eq!(count.0.load(SeqCst), 0);
    }

    #[test]
    fn a_wake_between_polls_wakes_the_task_once_per_poll() {
        let (count, task) = task();
        let cx = Context::from_waker(&task);
        let set = WakeSet::<2>::new();
        set.begin(&cx);
        let kept = set.context(1).waker().clone();
        assert!(set.take(0) && set.take(1));
        assert!(set.settle());
        kept.wake_by_ref();
        assert_eq!(count.0.load(SeqCst), 1);
        // The task's waker is spent until the next poll registers it again.
        kept.wake_by_ref();
        assert_eq!(count.0.load(SeqCst), 1);
        set.begin(&cx);
        assert!(set.take(1));
    }

    #[test]
    fn a_yield_leaves_the_marks_and_wakes_the_task() {
        let (count, task) = task();
        let cx = Context::from_waker(&task);
        let set = WakeSet::<1>::new();
        set.begin(&cx);
        set.yield_now(&cx);
        assert_eq!(count.0.load(SeqCst), 1);
        set.begin(&cx);
        assert!(set.take(0), "the first poll's mark is still there");
    }
}
