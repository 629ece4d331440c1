//! A named counter actor on three member processes: a client sends
//! increments by name while the holder's process is killed, twice, and
//! every acknowledged increment is counted exactly once, by the incarnation
//! that acknowledged it.
//!
//! Runs against the Consul at `CONSUL_HTTP_ADDR` (TTL 10 s, so each
//! failover takes up to about 20 s), or an embedded dev server (TTL 1 s).

#![allow(
    clippy::print_stdout,
    reason = "an example shows what happens on stdout"
)]

mod cluster;

#[tokio::main]
async fn main() -> cluster::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("member") {
        return cluster::member(&args[1..]).await;
    }
    let (target, server) = cluster::target().await?;
    let report = cluster::run(&std::env::current_exe()?, &target, 300, 2).await?;
    println!(
        "{} increments acknowledged out of {} sent; holders killed: {:?}",
        report.acknowledged, report.attempts, report.killed
    );
    for (token, incarnation) in &report.incarnations {
        println!(
            "incarnation with fencing token {token:>6} (pid {:?}): counted {:>4}, acknowledged {:>4}",
            incarnation.pid, incarnation.counted, incarnation.acknowledged
        );
    }
    if let Some(server) = server {
        server.shutdown().await;
    }
    if report.problems.is_empty() {
        println!(
            "every acknowledged increment was counted exactly once, by the incarnation that acknowledged it"
        );
        Ok(())
    } else {
        for problem in &report.problems {
            println!("PROBLEM: {problem}");
        }
        Err("the check failed".into())
    }
}
