//! Graceful shutdown, the mini-redis way: one signal tells every task to stop, and a channel
//! whose last sender is dropped tells the owner that every task has finished.
//!
//! Each task holds a [`ShutdownGuard`]: it watches the signal and, by merely existing, keeps
//! the drain open. The owner calls [`ShutdownController::shutdown`], which signals and then
//! waits, within a bound, for the last guard to go away. No task list, no per-task bookkeeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Owns the signal and the drain; held by the server handle.
#[derive(Debug)]
pub struct ShutdownController {
    token: CancellationToken,
    /// Set just before the token is cancelled: a check without the token's lock.
    begun: Arc<AtomicBool>,
    drain_tx: Mutex<Option<mpsc::Sender<()>>>,
    drain_rx: Mutex<Option<mpsc::Receiver<()>>>,
}

/// Held by every task for its whole life: tells it when to stop, and tells the controller
/// when it has stopped (by being dropped).
#[derive(Debug, Clone)]
pub struct ShutdownGuard {
    token: CancellationToken,
    begun: Arc<AtomicBool>,
    _drain: mpsc::Sender<()>,
}

impl Default for ShutdownController {
    fn default() -> Self {
        ShutdownController::new()
    }
}

impl ShutdownController {
    /// A controller with no task yet.
    pub fn new() -> ShutdownController {
        let (tx, rx) = mpsc::channel(1);
        ShutdownController {
            token: CancellationToken::new(),
            begun: Arc::new(AtomicBool::new(false)),
            drain_tx: Mutex::new(Some(tx)),
            drain_rx: Mutex::new(Some(rx)),
        }
    }

    /// A guard for a new task, or `None` once shutdown has begun (the task must not start).
    pub fn guard(&self) -> Option<ShutdownGuard> {
        if self.token.is_cancelled() {
            return None;
        }
        let tx = self.drain_tx.lock().ok()?.as_ref()?.clone();
        Some(ShutdownGuard {
            token: self.token.clone(),
            begun: self.begun.clone(),
            _drain: tx,
        })
    }

    /// Signals every task without waiting (used when a handle is dropped).
    pub fn signal(&self) {
        self.begun.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// Signals every task, then waits up to `timeout` for all of them to finish. Returns
    /// whether they all did; a second call returns `true` at once.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.signal();
        if let Ok(mut tx) = self.drain_tx.lock() {
            tx.take();
        }
        let rx = self.drain_rx.lock().ok().and_then(|mut rx| rx.take());
        let Some(mut rx) = rx else {
            return true;
        };
        // `recv` returns `None` once the last guard is dropped; nobody ever sends.
        tokio::time::timeout(timeout, rx.recv()).await.is_ok()
    }
}

impl ShutdownGuard {
    /// Completes when shutdown begins.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Whether shutdown has begun (an atomic load, no lock).
    pub fn is_shutdown(&self) -> bool {
        self.begun.load(Ordering::Acquire)
    }

    /// Like [`ShutdownGuard::cancelled`], for a loop that polls it on every wake-up (each
    /// connection): `wait` (this guard's [`ShutdownGuard::cancelled`], pinned by the caller)
    /// is registered once, and polled again only when the task's waker changes. Polling the
    /// token's future each time took its lock on every wake-up, with every connection of the
    /// server on the same lock.
    pub fn cancelled_cheaply<'a, F>(&'a self, wait: Pin<&'a mut F>) -> CheapCancelled<'a, F>
    where
        F: Future<Output = ()>,
    {
        CheapCancelled {
            begun: &self.begun,
            wait,
            registered: None,
        }
    }
}

/// See [`ShutdownGuard::cancelled_cheaply`].
#[derive(Debug)]
pub struct CheapCancelled<'a, F> {
    begun: &'a AtomicBool,
    wait: Pin<&'a mut F>,
    /// The waker the token's waiter holds, once registered.
    registered: Option<Waker>,
}

impl<F: Future<Output = ()>> Future for CheapCancelled<'_, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.begun.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        // The flag is set before the token is cancelled, so the wake-up cancellation sends
        // to the registered waker finds it set. Until then, a registration with an
        // equivalent waker is enough.
        if this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let r = this.wait.as_mut().poll(cx);
        this.registered = Some(cx.waker().clone());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_every_guard_then_refuses_new_ones() {
        let c = ShutdownController::new();
        let g = c.guard().unwrap();
        let task = tokio::spawn(async move {
            g.cancelled().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(g);
        });
        assert!(c.shutdown(Duration::from_secs(1)).await);
        assert!(task.is_finished() || task.await.is_ok());
        assert!(c.guard().is_none());
        assert!(c.shutdown(Duration::from_secs(1)).await);
    }

    /// The cheap wait is polled many times without re-registering, and still ends the task
    /// when shutdown begins (else shutdown would time out).
    #[tokio::test(start_paused = true)]
    async fn a_cheap_wait_polled_on_every_wake_up_still_sees_shutdown() {
        let c = ShutdownController::new();
        let g = c.guard().unwrap();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let wait = std::pin::pin!(g.cancelled());
            let mut cancelled = g.cancelled_cheaply(wait);
            let mut wake_ups = 0;
            while wake_ups < 100 {
                tokio::select! {
                    biased;
                    _ = &mut cancelled => return Err(wake_ups),
                    _ = tokio::task::yield_now() => wake_ups += 1,
                }
            }
            let _ = ready_tx.send(());
            (&mut cancelled).await;
            assert!(g.is_shutdown());
            Ok(wake_ups)
        });
        ready_rx.await.unwrap();
        assert!(!c.token.is_cancelled());
        assert!(c.shutdown(Duration::from_secs(1)).await);
        assert_eq!(task.await.unwrap(), Ok(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_task_makes_shutdown_time_out() {
        let c = ShutdownController::new();
        let g = c.guard().unwrap();
        assert!(!c.shutdown(Duration::from_secs(1)).await);
        drop(g);
    }
}
