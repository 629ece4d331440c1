//! The counter cluster, shared by the `counter` example and its test: three
//! member processes keep one named counter actor (a ractor actor under the
//! consuela name `counter`, via `spawn_named_singleton`); a client calls
//! `counter` with increments by name while the holder's process is killed.
//!
//! Every incarnation appends each increment it counts to its own log (named
//! by its fencing token) before it answers, so the logs say who counted
//! what even for a killed process. The check: every acknowledged increment
//! is in exactly one log, the log of the incarnation whose fencing token
//! its receipt carries, and no increment is in two logs.

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use consuela::config::MessagingConfig;
use consuela::messaging::{Envelope, Responder, SendOptions};
use consuela::{Config, ErrorKind, FencingToken, Registry};
use consuela_ractor::{NamedMessage, spawn_named_singleton};
use consuela_testkit::consuela_devserver::{DevServer, DevServerConfig};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

pub(crate) type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// One increment, as senders send it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Increment {
    pub(crate) id: u64,
}

/// The counter's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Counted {
    pub(crate) pid: u32,
    pub(crate) count: u64,
}

pub(crate) enum CounterMsg {
    Increment { id: u64, reply: Option<Responder> },
}

impl NamedMessage for CounterMsg {
    type Mail = Increment;
    fn from_mail(mail: Envelope<Increment>) -> Option<Self> {
        let (Increment { id }, reply) = mail.into_parts();
        Some(CounterMsg::Increment { id, reply })
    }
}

/// One incarnation of the counter: its log is `<dir>/<fencing token>.log`.
pub(crate) struct Counter {
    log: PathBuf,
}

impl Actor for Counter {
    type Msg = CounterMsg;
    type State = (std::fs::File, u64);
    type Arguments = ();

    async fn pre_start(
        &self,
        _: ActorRef<CounterMsg>,
        (): (),
    ) -> std::result::Result<Self::State, ActorProcessingErr> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        Ok((file, 0))
    }

    async fn handle(
        &self,
        _: ActorRef<CounterMsg>,
        message: CounterMsg,
        (file, count): &mut Self::State,
    ) -> std::result::Result<(), ActorProcessingErr> {
        let CounterMsg::Increment { id, reply } = message;
        writeln!(file, "{id}")?;
        file.sync_data()?;
        *count += 1;
        if let Some(reply) = reply {
            reply.respond(&Counted {
                pid: std::process::id(),
                count: *count,
            });
        }
        Ok(())
    }
}

/// The Consul at `CONSUL_HTTP_ADDR` (TTL 10 s, so each failover takes up
/// to about 20 s), or a dev server of our own (TTL 1 s), kept alive by the
/// second value.
async fn target() -> Result<(Target, Option<DevServer>)> {
    let probe = consuela_testkit::consul_target().await;
    if probe.is_real() {
        let client = consuela::client::Client::new(probe.client_config())?;
        let node = client.agent().self_().await?.config.node_name.to_string();
        let target = Target {
            url: probe.url.clone(),
            token: probe.token.clone(),
            node,
            ttl: Duration::from_secs(10),
        };
        return Ok((target, None));
    }
    probe.shutdown().await;
    let mut config = DevServerConfig::default();
    config.session_ttl_min = Duration::from_millis(100);
    let server = DevServer::bind(config, ([127, 0, 0, 1], 0).into()).await?;
    let target = Target {
        url: server.url(),
        token: None,
        node: "consuela-dev".to_owned(),
        ttl: Duration::from_secs(1),
    };
    Ok((target, Some(server)))
}

/// Where the members find Consul.
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) token: Option<String>,
    pub(crate) node: String,
    pub(crate) ttl: Duration,
}

impl Target {
    fn config(&self, namespace: &str, member: &str) -> Config {
        let mut config = Config::new(self.node.clone(), namespace);
        config.consul.url = Some(self.url.clone());
        config.consul.token.clone_from(&self.token);
        config.member = Some(member.to_owned());
        config.session.ttl = self.ttl;
        config.session.ttl_min = self.ttl.min(Duration::from_secs(10));
        config.session.lock_delay = Duration::from_millis(100);
        config.leader.watch_wait = Duration::from_secs(5);
        config
    }

    fn args(&self) -> Vec<String> {
        vec![
            self.url.clone(),
            self.token.clone().unwrap_or_default(),
            self.node.clone(),
            self.ttl.as_millis().to_string(),
        ]
    }

    fn from_args(args: &[String]) -> Option<Self> {
        Some(Self {
            url: args.first()?.clone(),
            token: Some(args.get(1)?.clone()).filter(|t| !t.is_empty()),
            node: args.get(2)?.clone(),
            ttl: Duration::from_millis(args.get(3)?.parse().ok()?),
        })
    }
}

/// The binary's entry, example and test alike: as `member ...` it is one of
/// the member processes (and answers `None` when that ends); otherwise it
/// runs the cluster with `increments` acknowledged increments and two kills,
/// on the Consul of [`target`], and answers the report.
pub(crate) async fn main(increments: usize) -> Result<Option<Report>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("member") {
        return member(&args[1..]).await.map(|()| None);
    }
    let (target, server) = target().await?;
    let report = run(&std::env::current_exe()?, &target, increments, 2).await?;
    if let Some(server) = server {
        server.shutdown().await;
    }
    Ok(Some(report))
}

/// A member process: `member <url> <token> <node> <ttl ms> <namespace> <dir> <i>`.
/// Competes for the counter until its stdin closes, then shuts down.
async fn member(args: &[String]) -> Result<()> {
    let target = Target::from_args(args)
        .ok_or("usage: member <url> <token> <node> <ttl ms> <namespace> <dir> <i>")?;
    let (namespace, dir, i) = match &args[4..] {
        [namespace, dir, i] => (namespace.clone(), PathBuf::from(dir), i.clone()),
        _ => {
            return Err("usage: member <url> <token> <node> <ttl ms> <namespace> <dir> <i>".into());
        }
    };
    let mut config = target.config(&namespace, &format!("member-{i}"));
    config.messaging = Some(MessagingConfig::listen(([127, 0, 0, 1], 0).into()));
    let registry = Registry::start(config).await?;
    let singleton = spawn_named_singleton(&registry, "counter", move |token: FencingToken| {
        let log = dir.join(format!("{token}.log"));
        (Counter { log }, ())
    })?;
    // The parent waits for this line: the member is registered and standing by.
    #[allow(clippy::print_stdout, reason = "the parent reads it")]
    {
        println!("ready");
    }
    let mut rest = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut rest).await;
    singleton.stop().await;
    registry.shutdown().await?;
    Ok(())
}

/// What a run found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Per incarnation (by fencing token): its process, what it counted,
    /// and how many of those the client got an answer for.
    pub(crate) incarnations: BTreeMap<u64, Incarnation>,
    pub(crate) acknowledged: usize,
    pub(crate) attempts: u64,
    pub(crate) killed: Vec<u32>,
    /// Every breach of the check, one line each.
    pub(crate) problems: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Incarnation {
    pub(crate) pid: Option<u32>,
    pub(crate) counted: usize,
    pub(crate) acknowledged: usize,
}

/// Starts three members (`exe member ...`), sends `increments` acknowledged
/// increments, killing the holder's process `kills` times on the way, and
/// checks the logs.
pub(crate) async fn run(
    exe: &Path,
    target: &Target,
    increments: usize,
    kills: usize,
) -> Result<Report> {
    let namespace = format!("counter-{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("consuela-counter-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut members = Vec::new();
    for i in 0..3 {
        members.push(start_member(exe, target, &namespace, &dir, i).await?);
    }
    let client = Registry::start(target.config(&namespace, "client")).await?;
    let mut report = Report::default();
    // Acknowledged increments: id -> the receipt's fencing token.
    let mut acked = HashMap::new();
    let mut next_id = 0u64;
    let kill_at: Vec<usize> = (1..=kills).map(|k| increments * k / (kills + 1)).collect();
    let mut holder_pid = None;
    while acked.len() < increments {
        if kill_at.get(report.killed.len()) == Some(&acked.len())
            && let Some(pid) = holder_pid.take()
        {
            let member = members
                .iter_mut()
                .find(|m: &&mut Child| m.id() == Some(pid))
                .ok_or("the holder is not one of ours")?;
            member.start_kill()?;
            member.wait().await?;
            report.killed.push(pid);
        }
        let id = next_id;
        next_id += 1;
        let call = client
            .call_with::<_, Counted>(
                "counter",
                Increment { id },
                Duration::from_secs(2),
                SendOptions::new(),
            )
            .await;
        match call {
            Ok((counted, receipt)) => {
                acked.insert(id, receipt.token.get());
                let incarnation = report.incarnations.entry(receipt.token.get()).or_default();
                incarnation.pid = Some(counted.pid);
                incarnation.acknowledged += 1;
                holder_pid = Some(counted.pid);
            }
            // No owner during the failover, or one that died under the
            // call: try again with a new increment (never the same one: it
            // may have been counted).
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NoOwner
                        | ErrorKind::Stale { .. }
                        | ErrorKind::OwnerUnreachable { .. }
                        | ErrorKind::CallTimeout
                        | ErrorKind::NoReply
                ) =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => return Err(e.into()),
        }
    }
    report.attempts = next_id;
    report.acknowledged = acked.len();
    client.shutdown().await?;
    for mut member in members {
        drop(member.stdin.take());
        if tokio::time::timeout(Duration::from_secs(30), member.wait())
            .await
            .is_err()
        {
            report
                .problems
                .push("a member did not stop when asked".to_owned());
            let _ = member.kill().await;
        }
    }
    check(&dir, &acked, &mut report)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}

async fn start_member(
    exe: &Path,
    target: &Target,
    namespace: &str,
    dir: &Path,
    i: usize,
) -> Result<Child> {
    let mut child = Command::new(exe)
        .arg("member")
        .args(target.args())
        .args([namespace, &dir.display().to_string(), &i.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    match lines.next_line().await? {
        Some(line) if line == "ready" => Ok(child),
        other => Err(format!("member {i} did not start: {other:?}").into()),
    }
}

/// Reads every incarnation's log and checks it against the receipts.
fn check(dir: &Path, acked: &HashMap<u64, u64>, report: &mut Report) -> Result<()> {
    let mut counted_by: HashMap<u64, Vec<u64>> = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(token) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path)?;
        let ids: Vec<u64> = text
            .lines()
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()?;
        report.incarnations.entry(token).or_default().counted = ids.len();
        for id in ids {
            counted_by.entry(id).or_default().push(token);
        }
    }
    for (id, tokens) in &counted_by {
        if tokens.len() > 1 {
            report.problems.push(format!(
                "increment {id} counted {} times, by {tokens:?}",
                tokens.len()
            ));
        }
    }
    for (id, token) in acked {
        match counted_by.get(id).map(Vec::as_slice) {
            Some([by]) if by == token => {}
            other => report.problems.push(format!(
                "increment {id} acknowledged by {token} but counted by {other:?}"
            )),
        }
    }
    Ok(())
}
