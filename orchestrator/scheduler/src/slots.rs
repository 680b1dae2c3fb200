//! How many attempts run on each remote executor, so each has its own concurrency limit.
//! Local attempts are counted by the board's run registry (investigations share it).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use harness_executor::ExecutorKind;

#[derive(Default, Clone)]
pub struct Slots {
    running: Arc<Mutex<HashMap<ExecutorKind, usize>>>,
}

/// One taken slot; dropping it frees the slot.
pub struct Slot {
    slots: Slots,
    kind: ExecutorKind,
}

impl Slots {
    pub fn count(&self, kind: ExecutorKind) -> usize {
        self.lock().get(&kind).copied().unwrap_or(0)
    }

    /// Attempts running anywhere but locally.
    pub fn remote(&self) -> usize {
        self.lock()
            .iter()
            .filter(|(k, _)| **k != ExecutorKind::Local)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn take(&self, kind: ExecutorKind) -> Slot {
        *self.lock().entry(kind).or_default() += 1;
        Slot {
            slots: self.clone(),
            kind,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ExecutorKind, usize>> {
        // A panic while holding this lock leaves plain counters behind: still usable.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(n) = self.slots.lock().get_mut(&self.kind) {
            *n = n.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_held_until_dropped() {
        let slots = Slots::default();
        let a = slots.take(ExecutorKind::Docker);
        let _b = slots.take(ExecutorKind::Local);
        assert_eq!(slots.count(ExecutorKind::Docker), 1);
        assert_eq!(slots.remote(), 1);
        drop(a);
        assert_eq!(slots.count(ExecutorKind::Docker), 0);
    }
}
