//! [`Routes`]: the owners a courier last delivered to, by name, so that a
//! steady stream of messages costs no Consul read per message.
//!
//! Remembering is safe because every delivery carries the fencing token of
//! the owner addressed: an owner that has moved on refuses the message
//! without taking it, and the courier then looks the name up again.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::holder::Holder;
use crate::name::Name;

/// Names remembered at most; past it the table starts over.
const MAX_ROUTES: usize = 16_384;

#[derive(Debug, Default)]
pub(crate) struct Routes(Mutex<HashMap<Name, Holder>>);

impl Routes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Name, Holder>> {
        // Every critical section is one map operation: nothing half-done to see.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, name: &Name) -> Option<Holder> {
        self.lock().get(name).cloned()
    }

    pub(crate) fn remember(&self, name: &Name, holder: Holder) {
        let mut routes = self.lock();
        if routes.len() >= MAX_ROUTES && !routes.contains_key(name) {
            routes.clear();
        }
        routes.insert(name.clone(), holder);
    }

    pub(crate) fn forget(&self, name: &Name) {
        self.lock().remove(name);
    }
}
