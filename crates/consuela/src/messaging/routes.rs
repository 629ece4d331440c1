//! [`Routes`]: the owners a courier last delivered to, by name, so that a
//! steady stream of messages costs no Consul read per message.
//!
//! Remembering is safe because every delivery carries the fencing token of
//! the owner addressed: an owner that has moved on refuses the message
//! without taking it, and the courier then looks the name up again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::wire;
use crate::holder::{Holder, RegistrationId};
use crate::name::Name;
use crate::token::FencingToken;

/// Names remembered at most; past it the table starts over.
const MAX_ROUTES: usize = 16_384;

/// Where a name's mail goes: its holder, and the URL of its mailbox.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) id: RegistrationId,
    pub(crate) token: FencingToken,
    /// `<endpoint>/v1/mail/<name>`; `None` for a holder without a mailbox.
    pub(crate) target: Option<String>,
}

impl Route {
    pub(crate) fn new(name: &Name, holder: Holder) -> Self {
        let target = holder
            .contact
            .mailbox
            .map(|url| format!("{}{}", url.trim_end_matches('/'), wire::path(name)));
        Self {
            id: holder.id,
            token: holder.fencing_token,
            target,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Routes(Mutex<HashMap<Name, Arc<Route>>>);

impl Routes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Name, Arc<Route>>> {
        // Every critical section is one map operation: nothing half-done to see.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, name: &Name) -> Option<Arc<Route>> {
        self.lock().get(name).cloned()
    }

    pub(crate) fn remember(&self, name: &Name, route: Arc<Route>) {
        let mut routes = self.lock();
        if let Some(known) = routes.get(name)
            && Arc::ptr_eq(known, &route)
        {
            return;
        }
        if routes.len() >= MAX_ROUTES && !routes.contains_key(name) {
            routes.clear();
        }
        routes.insert(name.clone(), route);
    }

    pub(crate) fn forget(&self, name: &Name) {
        self.lock().remove(name);
    }
}
