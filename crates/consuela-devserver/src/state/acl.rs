//! ACL tokens of the legacy ACL system: the anonymous token, the master
//! (management) token, and the client tokens created through `/v1/acl/*`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Inner;
use crate::policy::Policy;

/// The id every request without a token uses.
pub(crate) const ANONYMOUS: &str = "anonymous";
/// Consul's built-in root policies: their ids cannot be used or changed.
const ROOT: [&str; 3] = ["allow", "deny", "manage"];

/// `structs.ACL`, in its field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Acl {
    #[serde(rename = "ID")]
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(rename = "Type")]
    pub(crate) kind: String,
    pub(crate) rules: String,
    pub(crate) create_index: u64,
    pub(crate) modify_index: u64,
    /// `rules`, parsed once when the token is written.
    #[serde(skip)]
    pub(crate) policy: Policy,
}

/// The tokens by id, and the table index.
#[derive(Debug, Default)]
pub(crate) struct Acls {
    pub(crate) by_id: BTreeMap<String, Acl>,
    pub(crate) index: u64,
}

/// Why an ACL write failed: 403 texts and 500 texts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AclError {
    Denied(String),
    Failed(String),
}

impl Inner {
    /// ACLs on: the anonymous token and the master token, at one index.
    pub(crate) fn bootstrap_acls(&mut self, master: &str) {
        let idx = self.index.write();
        for (id, name, kind) in [
            (ANONYMOUS, "Anonymous Token", "client"),
            (master, "Master Token", "management"),
        ] {
            self.acls.by_id.insert(
                id.to_owned(),
                Acl {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    kind: kind.to_owned(),
                    rules: String::new(),
                    create_index: idx,
                    modify_index: idx,
                    policy: Policy::default(),
                },
            );
        }
        self.acls.index = idx;
        self.end_write();
    }

    /// `ACL.Apply` with `ACLSet`: creates (no id) or replaces a token, after
    /// `aclApplyInternal`'s checks. Returns the id.
    pub(crate) fn set_acl(&mut self, mut acl: Acl) -> Result<String, AclError> {
        if acl.id.is_empty() {
            acl.id = uuid::Uuid::new_v4().to_string();
        }
        if acl.kind != "client" && acl.kind != "management" {
            return Err(AclError::Failed("Invalid ACL Type".to_owned()));
        }
        if ROOT.contains(&acl.id.as_str()) {
            return Err(AclError::Denied(
                "Permission denied: Cannot modify root ACL".to_owned(),
            ));
        }
        acl.policy = Policy::parse(&acl.rules)
            .map_err(|e| AclError::Failed(format!("ACL rule compilation failed: {e}")))?;
        let idx = self.index.write();
        acl.create_index = self.acls.by_id.get(&acl.id).map_or(idx, |a| a.create_index);
        acl.modify_index = idx;
        let id = acl.id.clone();
        self.acls.by_id.insert(id.clone(), acl);
        self.acls.index = idx;
        self.pending.acls = true;
        Ok(id)
    }

    /// `ACL.Apply` with `ACLDelete`; unknown ids are a no-op.
    pub(crate) fn delete_acl(&mut self, id: &str) -> Result<(), AclError> {
        if id == ANONYMOUS {
            return Err(AclError::Denied(
                "Permission denied: Cannot delete anonymous token".to_owned(),
            ));
        }
        if self.acls.by_id.remove(id).is_some() {
            self.acls.index = self.index.write();
            self.pending.acls = true;
        }
        Ok(())
    }
}
