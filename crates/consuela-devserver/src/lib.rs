//! A faithful single-node Consul for tests and local development.
//!
//! `consuela-devserver` speaks the Consul HTTP API that consuela and common
//! Consul clients (the Go `api` package, python-consul, the `consul` CLI)
//! call — sessions, KV with locks, `/v1/txn`, blocking queries, agent
//! services, checks and maintenance, catalog registration, health, events,
//! status, operator and coordinates — and answers byte for byte like a
//! Consul 1.0.8 dev agent (the conformance transcripts in
//! `shared/consul-conformance` are the reference). Start one inside a test:
//!
//! ```no_run
//! # async fn demo() -> Result<(), consuela_devserver::Error> {
//! use consuela_devserver::{DevServer, DevServerConfig};
//! let server = DevServer::bind(DevServerConfig::fast(), "127.0.0.1:0".parse().unwrap()).await?;
//! let base = server.url(); // http://127.0.0.1:PORT
//! // ... point a client at `base` ...
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! over HTTPS with [`DevServer::bind_tls`] and a [`DevServerTls`] (optionally
//! requiring client certificates, as an agent's `verify_incoming`), on a unix
//! socket with [`DevServer::bind_unix`], or test handlers without a socket
//! through [`router`] and `tower::ServiceExt::oneshot`.
//!
//! # Endpoints
//!
//! Served, with Consul 1.0.8's methods (`OPTIONS` and 405 with `Allow`),
//! status codes, error texts and read metadata:
//!
//! | Group | Paths |
//! |---|---|
//! | KV, txn | `/v1/kv/*`, `/v1/txn` |
//! | Sessions | `/v1/session/{create,destroy/,renew/,info/,node/,list}` |
//! | Agent | `/v1/agent/{self,members,services,checks,maintenance,reload,join/,leave,force-leave/,monitor,metrics}`, `/v1/agent/service/{register,deregister/,maintenance/}`, `/v1/agent/check/{register,deregister/,pass/,warn/,fail/,update/}` |
//! | Catalog | `/v1/catalog/{register,deregister,datacenters,nodes,services,service/,node/}` |
//! | Health | `/v1/health/{node/,checks/,service/,state/}` |
//! | Events | `/v1/event/fire/`, `/v1/event/list` |
//! | Operator | `/v1/operator/autopilot/{configuration,health}`, `/v1/operator/raft/{configuration,peer}` |
//! | Coordinates | `/v1/coordinate/{datacenters,nodes,node/,update}` |
//! | Status | `/v1/status/{leader,peers}` |
//! | Prepared queries | `/v1/query`, `/v1/query/:id`, `/v1/query/:id-or-name/{execute,explain}` (with `name_prefix_match` templates) |
//! | ACL | `/v1/acl/{bootstrap,create,update,destroy/,info/,clone/,list,replication}`, `/v1/agent/token/` (401 `ACL support disabled` with ACLs off) |
//!
//! Left out, answering 404 with an empty body as Consul answers an unknown
//! path: snapshots (`/v1/snapshot`), the keyring (`/v1/operator/keyring`),
//! the UI's `/v1/internal/ui/*`, and everything newer than 1.0.8 (connect,
//! the 1.4 ACL system, config entries).
//!
//! # Behaviour
//!
//! - One global Raft-like index; every write (a KV op, a txn, a session
//!   create/destroy, an invalidation, a catalog change, an autopilot update)
//!   is one atomic step at the next index. Table indexes (KV incl.
//!   tombstones, sessions, the catalog's `nodes`, `services`, `checks` and
//!   per-service rows, coordinates, prepared queries, ACLs) feed
//!   `X-Consul-Index` as in Consul 1.0.8: each read reports the tables it
//!   reads, so a blocking read returns only when they change. Deleted keys leave tombstones so prefix indexes never go
//!   backwards.
//! - Blocking queries honour `index`/`wait` (default 5 min, max 10 min, plus up
//!   to wait/16 of jitter) and wake only on changes to what they read. The
//!   event list's index is derived from the last event id, as Consul's is,
//!   and blocks while it equals `?index`.
//! - Session TTLs expire at `last renew + TTL × session_ttl_multiplier`;
//!   invalidation (destroy, TTL, a bound check going critical or deregistered,
//!   the session's node deregistered) releases or deletes held keys per
//!   `Behavior` and starts a lock-delay of `min(LockDelay, lock_delay_max)` on
//!   each. A check written as critical invalidates the sessions bound to it,
//!   as Consul's state store does on every critical write.
//! - Agent TTL checks really expire (`TTL expired (last output before timeout
//!   follows): ...`); TCP checks really dial; HTTP checks really GET (plain
//!   `http://` only) and follow up to 10 redirects, as Go's client does.
//!   Script checks run only with [`DevServerConfig::enable_script_checks`]
//!   (`consuela dev --enable-script-checks`), else registering one answers
//!   Consul's 500.
//! - `/ui/` answers with a small page (the web UI is not included), so `/`
//!   redirects somewhere, as on a dev agent.
//! - Catalog writes are all or nothing and validated in Consul's order.
//!   External nodes (`catalog/register`) have no coordinates and no agent:
//!   their checks change only by registration.
//! - User events are delivered to this agent only when their node, service
//!   (service id) and tag filters match it, as unanchored RE2 expressions;
//!   the last 256 are kept.
//! - `PUT /v1/agent/leave` answers, then shuts the server down
//!   ([`DevServer::stopped`] resolves; `consuela dev` exits).
//! - `/v1/agent/monitor` replays the recent INFO-and-above lines (the last
//!   512, as Consul's log writer keeps them; startup says the server leads),
//!   then streams the server's own log lines as they come (`http: Request
//!   ...` at DEBUG), with `?token=` hidden.
//! - `agent/join` succeeds for the agent's own address and fails to reach
//!   any other; `operator/raft/peer` finds no peer but this server.
//! - Prepared queries resolve by id, name (case-insensitively) or the longest
//!   template name prefix; executing one filters out critical instances (and
//!   non-passing ones with `OnlyPassing`), applies node meta and `!tag`
//!   filters, shuffles and honours `?limit`. There is no failover to other
//!   datacenters and no `?near` sorting.
//! - ACLs ([`DevServerConfig::acl_token`], the master token): the legacy
//!   system of 1.0.8. The anonymous and master tokens exist; client tokens
//!   carry HCL or JSON rules (`key`, `service`, `node`, `event`, `query`,
//!   `session`, `agent` prefixes; `operator`, `keyring`), decided by the
//!   longest prefix over [`DevServerConfig::acl_default_allow`] (default
//!   deny here, allow in Consul). KV, txn ops, registrations, sessions,
//!   events, agent and operator endpoints are checked (403 `Permission
//!   denied`); KV lists, catalog, health and event lists are filtered. An
//!   unknown token gets 403 `ACL not found`; `/v1/status/*` checks none.
//!   Tokens are never logged.
//!
//! # Test-only endpoints
//!
//! Not part of Consul; never ACL-protected. Each has a method on
//! [`ServerState`] (and [`DevServer`]) for in-process tests.
//!
//! | Request | Effect | Handle method |
//! |---|---|---|
//! | `PUT /_dev/session/invalidate/:id` | invalidate the session now, as a TTL expiry would; `true`/`false` | [`ServerState::invalidate_session`] |
//! | `PUT /_dev/fault/no-leader` | every `/v1/` request answers 500 `No cluster leader` | [`ServerState::set_no_leader`]`(None)` |
//! | `PUT /_dev/fault/no-leader?count=N` | the next N `/v1/` requests do | [`ServerState::set_no_leader`]`(Some(n))` |
//! | `DELETE /_dev/fault/no-leader` | stop | [`ServerState::clear_no_leader`] |
//! | `PUT /_dev/fault/election?duration=15s` | hold a leader election that long: requests a follower forwards to the leader answer 500 `No cluster leader`, no session TTL fires, and at the end every session's TTL timer restarts from scratch, as a new leader's do | [`ServerState::hold_election`] |
//! | `PUT /_dev/fault/agent-restart?duration=5s` | restart the agent: its listener closes that long (connections refused), open connections are cut, then it listens again on the same address with its state intact (session timers keep running, as on the servers) | [`ServerState::restart_agent`] |
//! | `PUT /_dev/fault/latency?ms=N` | delay every `/v1/` response by N ms (0 or `DELETE` clears) | [`ServerState::set_latency`] |
//! | `PUT /_dev/ttl/pause`, `PUT /_dev/ttl/resume` | stop / restart session- and check-TTL expiry (overdue ones fire on resume) | [`ServerState::pause_ttl`] |
//! | `PUT /_dev/fault/reset` | clear no-leader, an election, latency and a TTL pause | [`ServerState::reset_faults`] |
//! | `GET /_dev/state` | the whole state as JSON | [`ServerState::dump`] |
//!
//! # Known differences from Consul 1.0.8
//!
//! - Keys whose percent-decoded bytes are not UTF-8 are refused with 400 (Go
//!   strings may hold any bytes; Rust strings may not).
//! - A plain PUT or a lock re-acquire that changes nothing does not bump
//!   `ModifyIndex` (newer Consul's behaviour; 1.0.8 rewrote the entry).
//! - Sessions are returned in the 1.0.8 shape (effective checks in `Checks`);
//!   `NodeChecks`/`ServiceChecks` are accepted on create.
//! - `"Checks": null` in a session create keeps the default (1.0.8's
//!   mapstructure); newer agents read it as "no checks". Send `[]` for none.
//! - `DeregisterCriticalServiceAfter` is accepted and ignored; Docker checks
//!   are refused; HTTP checks speak plain `http://` only.
//! - Node names, service ids and check ids are case-sensitive (Consul's
//!   memdb indexes are case-insensitive).
//! - `catalog/register` keeps a check's status only if it is `passing`,
//!   `warning`, `critical` or `maintenance` (Consul stores any string); the
//!   other statuses are refused with a 500 that says so. A check's
//!   `Definition` is not stored.
//! - A `catalog/deregister` of the agent's own node, services or checks
//!   invalidates the sessions Consul would invalidate, and the entries stay:
//!   Consul's anti-entropy would put them back within seconds.
//! - ACL rules are not enforced on prepared queries, coordinates, session
//!   reads or the agent's service and check lists; `keyring` rules are
//!   parsed but nothing uses them. HCL parse errors name the position but
//!   are not the hcl library's texts.
//! - `agent/self`'s `DebugConfig` holds only `Datacenter`, `NodeName` and
//!   `DevMode`; `Stats` values are this server's own (counts, indexes), with
//!   Go runtime fields filled in plausibly.
//! - All conformance scenarios pass; none is excluded.
//!
//! # Conformance suite
//!
//! `tests/conformance` checks the Consul API behaviour consuela relies on
//! (`shared/reference/consul-api.md` §7) over raw HTTP. By default every
//! test starts its own dev server, with lowered TTL floors for the
//! time-based checks (a few seconds in total). With `CONSUL_HTTP_ADDR` set
//! (and `CONSUL_HTTP_TOKEN` if ACLs are on) the same checks run against that
//! real agent with honest durations (10 s TTLs; about a minute with enough
//! test threads), under a unique key prefix per test, cleaned up afterwards:
//!
//! ```text
//! cargo test -p consuela-devserver --test conformance
//! CONSUL_HTTP_ADDR=127.0.0.1:8500 cargo test -p consuela-devserver --test conformance -- --test-threads=32
//! ```
//!
//! Where Consul versions answer differently (1.0.8 versus newer agents), the
//! suite accepts each documented answer.
//!
//! # Layout
//!
//! - `config.rs` — [`DevServerConfig`] and its defaults.
//! - `server.rs` — [`DevServer`]: TCP, TLS and unix-socket listeners
//!   ([`Listen`]), the accept loop (hyper HTTP/1.1 with Go-style header case),
//!   graceful shutdown through a `CancellationToken` and a `TaskTracker`.
//! - `tls.rs` — [`DevServerTls`]: certificate, key and client CA (PEM), and
//!   `verify_incoming`, as a Consul agent's TLS settings.
//! - `state.rs` — [`ServerState`]: the single mutex, the `Locked` guard that
//!   ends writes and wakes watchers, the timer task; `state/index.rs` (global
//!   and table indexes), `state/kv.rs` (entries, tombstones, lock-delays),
//!   `state/txn.rs` (every KV op, single or in a txn, over an overlay with
//!   rollback), `state/session.rs` (create/renew/invalidate, id rules),
//!   `state/catalog.rs` (nodes, services, checks by node, with
//!   `catalog/agent.rs`, `catalog/register.rs` and `catalog/status.rs`),
//!   `state/event.rs` (the user-event buffer), `state/operator.rs`
//!   (autopilot, coordinates), `state/log.rs` (the log behind the monitor),
//!   `state/watch.rs` (per-key/prefix/table wake-ups), `state/dump.rs`
//!   (dump + invariants).
//! - `http.rs` — [`router`], dispatch and the request log, response helpers,
//!   the blocking-query loop; `http/mux.rs` (Go ServeMux routing and the
//!   route table), `http/query.rs`, `http/gojson.rs` (Go JSON / mapstructure
//!   error texts), `http/goregex.rs` (Go `regexp` error texts),
//!   `http/sniff.rs` (Go content sniffing for `?raw`), and one module per
//!   endpoint group.
//! - `checks.rs` — TCP/HTTP check runners.

mod checks;
mod config;
mod error;
mod gostr;
// Handlers return `Result<_, Response>` to early-return a finished error
// response; it is the cold path, so the large `Err` is not worth boxing.
#[allow(clippy::result_large_err)]
mod http;
mod policy;
mod server;
mod state;
mod tls;

pub use config::DevServerConfig;
pub use error::Error;
pub use http::router;
pub use server::{DevServer, Listen};
pub use state::ServerState;
pub use tls::DevServerTls;
