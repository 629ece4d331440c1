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
    let Some(report) = cluster::main(300).await? else {
        return Ok(());
    };
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
