//! `consuela demo`: a narrated tour with real timings, no Consul needed.
//!
//! One process runs the embedded dev server and three members (`alpha`,
//! `bravo`, `charlie`), each a real [`Registry`] with its own Consul
//! session, talking HTTP to the dev server exactly as they would to Consul.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use consuela::{
    Config, Contact, Registry, event::Event, singleton::Leadership, singleton::SingletonConfig,
    singleton::SingletonHandle,
};
use consuela_devserver::{DevServer, DevServerConfig};
use tokio::time::{Instant, sleep};

use crate::query::render;

/// Session TTL of the demo's members (Consul's default is 20s).
const TTL: Duration = Duration::from_secs(2);
/// Lock-delay of the demo's members (Consul's default is 10s).
const LOCK_DELAY: Duration = Duration::from_secs(1);
/// Longest wait for any step, so a broken demo fails instead of hanging.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Watch consuela at work: registrations, a conflict, a lookup, a singleton
/// election, a crash and a takeover, a graceful handoff.
///
/// Starts the embedded dev server and three members in this process and
/// narrates a scripted scenario with real timings. Needs no Consul; takes
/// about five seconds. The members use a 2s session TTL and a 1s lock-delay
/// (instead of 20s and 10s) so that the crash takeover takes seconds.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  consuela demo\n  cargo run -p consuela-cli -- demo")]
pub(crate) struct DemoArgs {}

/// The narrator: timestamps every line from the demo's start.
struct Story {
    start: Instant,
    summary: Vec<[String; 3]>,
}

impl Story {
    fn say(&self, text: impl AsRef<str>) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "[{elapsed:6.2}s] {}", text.as_ref());
        let _ = out.flush();
    }

    fn note(&mut self, step: &str, result: impl Into<String>, took: Duration) {
        self.summary
            .push([step.to_owned(), result.into(), format_duration(took)]);
    }
}

fn format_duration(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

async fn member(server: &DevServer, name: &str) -> anyhow::Result<Registry> {
    let mut config = Config::new(server.state().config().node_name.clone(), "demo");
    config.consul.url = Some(server.url());
    config.member = Some(name.to_owned());
    config.session.ttl = TTL;
    config.session.ttl_min = Duration::from_secs(1);
    config.session.lock_delay = LOCK_DELAY;
    // The narration tells the story; the library's own logs would repeat it.
    Registry::builder(config)
        .pulse(|_: &Event| {})
        .start()
        .await
        .with_context(|| format!("cannot start member {name}"))
}

pub(crate) async fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut story = Story {
        start: Instant::now(),
        summary: Vec::new(),
    };
    println!("consuela demo: a Consul-compatible dev server and three members, in this process.");
    println!(
        "Members use a {}s session TTL and a {}s lock-delay (defaults: 20s and 10s; the dev",
        TTL.as_secs(),
        LOCK_DELAY.as_secs()
    );
    println!(
        "server's TTL floor is lowered to 1s), so a crash is detected in seconds, not half a minute."
    );
    println!();

    let t = Instant::now();
    let mut server_config = DevServerConfig::default();
    server_config.session_ttl_min = Duration::from_secs(1);
    let server = DevServer::bind(server_config, ([127, 0, 0, 1], 0).into())
        .await
        .context("cannot start the dev server")?;
    story.say(format!("dev server listening on {}", server.url()));
    story.note("start the dev server", server.url(), t.elapsed());

    let t = Instant::now();
    let alpha = member(&server, "alpha").await?;
    let bravo = member(&server, "bravo").await?;
    let charlie = member(&server, "charlie").await?;
    story.say("alpha, bravo and charlie joined, each with its own Consul session");
    story.note("three members join", "3 sessions", t.elapsed());

    // Registrations: one Consul round trip each.
    let t = Instant::now();
    let frontend = alpha
        .register("web/frontend", Contact::at("10.0.0.1:8080"))
        .await?;
    let took = t.elapsed();
    story.say(format!(
        "alpha registers web/frontend at 10.0.0.1:8080: fencing token {} ({})",
        frontend.fencing_token(),
        format_duration(took)
    ));
    story.note(
        "alpha registers web/frontend",
        format!("fencing token {}", frontend.fencing_token()),
        took,
    );
    let t = Instant::now();
    let mailer = bravo
        .register("jobs/mailer", Contact::at("10.0.0.2:9000"))
        .await?;
    let took = t.elapsed();
    story.say(format!(
        "bravo registers jobs/mailer at 10.0.0.2:9000: fencing token {} ({})",
        mailer.fencing_token(),
        format_duration(took)
    ));
    story.note(
        "bravo registers jobs/mailer",
        format!("fencing token {}", mailer.fencing_token()),
        took,
    );

    // A conflict: names are unique cluster-wide.
    let t = Instant::now();
    match charlie
        .register("web/frontend", Contact::at("10.0.0.3:8080"))
        .await
    {
        Err(e) if e.is_conflict() => {
            let took = t.elapsed();
            let holder = e
                .holder()
                .map_or("someone".to_owned(), |h| h.id.to_string());
            story.say(format!(
                "charlie tries web/frontend too: refused, held by {holder} ({})",
                format_duration(took)
            ));
            story.note(
                "charlie registers web/frontend",
                format!("refused: held by {holder}"),
                took,
            );
        }
        Err(e) => return Err(e).context("charlie's conflicting registration"),
        Ok(_) => bail!("charlie registered a name alpha holds"),
    }

    // A lookup from another member: one GET.
    let t = Instant::now();
    let found = charlie
        .whereis("web/frontend")
        .await?
        .context("web/frontend has no owner")?;
    let took = t.elapsed();
    let address = found.contact.address.clone().unwrap_or_default();
    story.say(format!(
        "charlie looks up web/frontend: {} at {address}, token {} ({})",
        found.id,
        found.fencing_token,
        format_duration(took)
    ));
    story.note(
        "charlie looks up web/frontend",
        format!("{} at {address}", found.id),
        took,
    );

    // A singleton: exactly one member runs the scheduler.
    let t = Instant::now();
    let mut handles = vec![("alpha", join(&alpha)?)];
    let leader = wait_leader(&handles).await?;
    let took = t.elapsed();
    handles.push(("bravo", join(&bravo)?));
    handles.push(("charlie", join(&charlie)?));
    wait_standbys(&handles).await?;
    story.say(format!(
        "singleton cron/scheduler: {leader} leads ({}); bravo and charlie stand by, watching with blocking queries",
        format_duration(took)
    ));
    story.note(
        "singleton cron/scheduler elected",
        format!("{leader} leads"),
        took,
    );

    // A crash: alpha stops renewing its session, as if its process were
    // SIGKILLed. Consul frees its names only after 2 x TTL, then blocks them
    // for the lock-delay: the price of never having two owners.
    story.say(format!(
        "alpha crashes (stops renewing its session). Consul expires it after 2 x TTL = {}s, \
         then holds its names for the {}s lock-delay...",
        (2 * TTL).as_secs(),
        LOCK_DELAY.as_secs()
    ));
    let t = Instant::now();
    let (_, alpha_singleton) = handles.remove(0);
    drop(alpha);
    let successor = wait_leader(&handles).await?;
    let took = t.elapsed();
    drop(alpha_singleton);
    drop(frontend);
    story.say(format!(
        "{successor} takes over cron/scheduler {} after the crash",
        format_duration(took)
    ));
    story.note(
        "alpha crashes, successor takes over",
        format!("{successor} leads"),
        took,
    );
    let t = Instant::now();
    let gone = charlie.whereis("web/frontend").await?;
    story.say(format!(
        "charlie looks up web/frontend again: {} ({})",
        gone.map_or(
            "free: it died with alpha's session".to_owned(),
            |o| format!("still {}?!", o.id)
        ),
        format_duration(t.elapsed())
    ));

    // A graceful shutdown hands over at once: the names are deleted, not
    // left to expire, so no lock-delay applies.
    let (quitter, rest) = if successor == "bravo" {
        (&bravo, "charlie")
    } else {
        (&charlie, "bravo")
    };
    story.say(format!(
        "{successor} shuts down gracefully: releases its names, destroys its session"
    ));
    let t = Instant::now();
    let position = handles
        .iter()
        .position(|(n, _)| *n == successor)
        .context("lost track of the leader")?;
    let (_, quitter_singleton) = handles.remove(position);
    quitter.shutdown().await?;
    let next = wait_leader(&handles).await?;
    let took = t.elapsed();
    drop(quitter_singleton);
    if next != rest {
        bail!("expected {rest} to take over, got {next}");
    }
    story.say(format!(
        "{next} takes over cron/scheduler {} after the shutdown began: no lock-delay",
        format_duration(took)
    ));
    story.note(
        &format!("{successor} shuts down, handoff"),
        format!("{next} leads"),
        took,
    );

    // Clean up.
    drop(mailer);
    for (_, handle) in handles {
        handle.stop().await;
    }
    let _ = bravo.shutdown().await;
    let _ = charlie.shutdown().await;
    server.shutdown().await;
    story.say("done");

    println!();
    let mut rows = vec![["STEP".to_owned(), "RESULT".to_owned(), "TOOK".to_owned()]];
    rows.extend(story.summary.iter().cloned());
    print!("{}", render(&rows));
    println!();
    println!(
        "Total {:.1} s. Next: `consuela dev` in one terminal, then `consuela run NAME -- CMD`, `consuela ls`, `consuela watch`.",
        story.start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Joins the singleton `cron/scheduler`; the "scheduler" idles while leading.
fn join(registry: &Registry) -> anyhow::Result<SingletonHandle> {
    registry
        .singleton(
            "cron/scheduler",
            Contact::default(),
            SingletonConfig::default(),
            std::future::pending::<()>,
        )
        .context("cannot join the singleton")
}

/// The member that leads among `handles`, once one does.
async fn wait_leader(handles: &[(&'static str, SingletonHandle)]) -> anyhow::Result<&'static str> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Some((name, _)) = handles.iter().find(|(_, h)| h.is_leader()) {
            return Ok(name);
        }
        if Instant::now() > deadline {
            bail!("no member took the lead within {STEP_TIMEOUT:?}");
        }
        sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until every member but the leader stands by.
async fn wait_standbys(handles: &[(&'static str, SingletonHandle)]) -> anyhow::Result<()> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !handles.iter().all(|(_, h)| {
        matches!(
            h.leadership(),
            Leadership::Leader { .. } | Leadership::Standby { leader: Some(_) }
        )
    }) {
        if Instant::now() > deadline {
            bail!("the members did not settle within {STEP_TIMEOUT:?}");
        }
        sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}
