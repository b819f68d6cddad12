//! Audit bundles and checkpoint files, built away from the loop.
//!
//! Either needs the state of a finalized prefix, which only a fold from genesis
//! gives, reading every event of the prefix from the store: seconds at a million
//! events. Anyone who can reach the API may ask for a bundle without personal data, so
//! on the loop each request would stop sync, gossip and every other call for that
//! long. The loop only takes the job (a copy of the prefix's order) and runs it on a
//! blocking thread; one at a time, so that a stranger asking in a loop keeps one core
//! busy at most, and is told to come back rather than queued.

use crate::handle::AuditRefusal;
use crate::store::Store;
use carnet_protocol::ledger::audit::AuditError;
use carnet_protocol::ledger::Archive;
use carnet_protocol::{ContentId, SignedEvent};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The audit being built, if any.
#[derive(Default)]
pub(super) struct Audits {
    running: Option<JoinHandle<()>>,
    /// Set while a job is built, cleared before its answer is sent: a caller that
    /// asks again on its answer is not told busy by a thread still winding down.
    building: Arc<AtomicBool>,
    /// Set at shutdown: the running fold stops at its next event.
    cancelled: Arc<AtomicBool>,
}

impl Audits {
    /// Whether an audit is being built: a new one is refused until it is done.
    pub(super) fn busy(&self) -> bool {
        self.building.load(Ordering::Acquire)
    }

    /// Runs `job` over `store` on a blocking thread and sends its result to `reply`.
    pub(super) fn start<T: Send + 'static>(
        &mut self,
        store: Store,
        job: impl FnOnce(&dyn Archive) -> Result<T, AuditError> + Send + 'static,
        reply: oneshot::Sender<Result<T, AuditRefusal>>,
    ) {
        let archive = Cancellable {
            store,
            cancelled: self.cancelled.clone(),
        };
        self.building.store(true, Ordering::Release);
        let building = Building(self.building.clone());
        self.running = Some(tokio::task::spawn_blocking(move || {
            let built = job(&archive).map_err(|e| match archive.cancelled() {
                true => AuditRefusal::ShuttingDown,
                false => AuditRefusal::Audit(e),
            });
            drop(building);
            let _ = reply.send(built);
        }));
    }

    /// Stops the running fold and waits for its thread: it holds the store open.
    pub(super) async fn stop(&mut self) {
        self.cancelled.store(true, Ordering::Relaxed);
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
    }
}

/// Clears the building flag when dropped: after the job, or if it panicked.
struct Building(Arc<AtomicBool>);

impl Drop for Building {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The store, read until shutdown.
struct Cancellable {
    store: Store,
    cancelled: Arc<AtomicBool>,
}

impl Cancellable {
    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

impl Archive for Cancellable {
    fn event(
        &self,
        id: &ContentId,
    ) -> Result<Option<SignedEvent>, carnet_protocol::ledger::ArchiveError> {
        if self.cancelled() {
            return Err(carnet_protocol::ledger::ArchiveError("cancelled".into()));
        }
        Archive::event(&self.store, id)
    }
}
