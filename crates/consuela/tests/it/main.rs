//! Registry integration tests: one binary, run against an in-process dev
//! server on 127.0.0.1:0, or against the Consul at `CONSUL_HTTP_ADDR`.

mod support;

mod t10_basic;
mod t20_multi;
mod t25_batching;
mod t30_reaper;
mod t40_keeper;
mod t50_spawn;
mod t60_watch;
mod t70_singleton;
mod t80_presence;
mod t90_unavailable;
mod t95_server_failures;
mod t96_tls;
mod t97_semaphore;
mod t98_group;
mod t99_messaging;
