//! The agent's fixed identity: node id, addresses, start time. Chosen once
//! when the state is built; the catalog's bootstrap and the status and
//! operator endpoints read it.

/// The agent's fixed identity (node id, addresses).
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) node_id: String,
    pub(crate) address: String,
    pub(crate) server_port: u16,
    /// When the server started (autopilot's `StableSince`).
    pub(crate) started: std::time::SystemTime,
}

impl Identity {
    /// The server RPC address: `/v1/status/leader`, `Stats.consul.leader_addr`.
    pub(crate) fn server_addr(&self) -> String {
        format!("{}:{}", self.address, self.server_port)
    }
}
