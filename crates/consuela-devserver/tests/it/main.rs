//! Integration tests: a real dev server on 127.0.0.1:0, driven over HTTP.
//! Time-based behaviour runs with lowered TTL floors; every wait is on a
//! condition with a generous timeout, never a fixed sleep.

mod support;
mod t01_kv_locks;
mod t02_session_ttl;
mod t03_blocking;
mod t04_checks;
mod t05_faults_shutdown;
mod t06_catalog_register;
mod t07_agent_operator;
mod t08_query_options;
mod t09_prepared_queries;
mod t10_acl;
