//! Integration tests of consuela-client, compiled as one binary.
//!
//! By default every test starts its own dev server on `127.0.0.1:0`; with `CONSUL_HTTP_ADDR`
//! set, tests that need no dev-server feature run against that Consul instead. Tests that need
//! dev-server knobs (ACL mode, fault hooks, two servers) always use in-process dev servers.

mod support;

mod t01_status_agent;
mod t02_session;
mod t03_kv;
mod t04_locks;
mod t05_txn;
mod t06_blocking;
mod t07_acl;
mod t08_faults;
mod t09_catalog_health;
mod t10_events;
mod t11_limits;
mod t12_tls;
