//! Async locks by key (instance uuid, image id): operations on one key run one at a time,
//! different keys in parallel. An entry lives only while someone holds or waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Slots = Mutex<HashMap<String, Arc<AsyncMutex<()>>>>;

/// A set of async mutexes created on demand, one per key.
#[derive(Debug, Default)]
pub(crate) struct KeyedLocks {
    slots: Arc<Slots>,
}

/// Holds the lock of one key; dropping it releases the lock (and the entry when no one
/// else wants it).
#[derive(Debug)]
pub(crate) struct KeyGuard {
    slots: Arc<Slots>,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    fn slot(&self, key: &str) -> Arc<AsyncMutex<()>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(key.to_string()).or_default().clone()
    }

    /// Waits for the lock of `key`.
    pub(crate) async fn lock(&self, key: &str) -> KeyGuard {
        let guard = self.slot(key).lock_owned().await;
        KeyGuard {
            slots: self.slots.clone(),
            key: key.to_string(),
            guard: Some(guard),
        }
    }

    /// The lock of `key` if it is free now.
    pub(crate) fn try_lock(&self, key: &str) -> Option<KeyGuard> {
        let slot = self.slot(key);
        match slot.try_lock_owned() {
            Ok(guard) => Some(KeyGuard {
                slots: self.slots.clone(),
                key: key.to_string(),
                guard: Some(guard),
            }),
            Err(_) => None,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map holds it: nobody holds or waits for this key.
        if slots
            .get(&self.key)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            slots.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_key_and_entries_go_away() {
        let locks = KeyedLocks::default();
        let a = locks.lock("a").await;
        assert!(locks.try_lock("a").is_none(), "a is held");
        let b = locks.try_lock("b");
        assert!(b.is_some(), "b is independent of a");
        drop(b);
        drop(a);
        assert_eq!(locks.len(), 0, "no entry without a holder");
        assert!(locks.try_lock("a").is_some());
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_after_the_holder() {
        let locks = Arc::new(KeyedLocks::default());
        let held = locks.lock("k").await;
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _g = locks.lock("k").await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(held);
        waiter.await.unwrap();
        assert_eq!(locks.len(), 0);
    }
}
