//! Runs the real binary against an in-process dev server.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use consuela_testkit::consuela_devserver::{DevServer, DevServerConfig};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::time::{Instant, sleep, timeout};

/// How long any single expectation may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// A dev server with fast session expiry, and a `--config` file giving the
/// CLI's members a 1s TTL and a 200ms lock-delay.
pub(crate) struct Env {
    pub(crate) server: DevServer,
    dir: PathBuf,
    config: PathBuf,
}

impl Env {
    pub(crate) async fn start() -> Self {
        Self::start_with("[session]\nttl = \"1s\"\nttl_min = \"100ms\"\nlock_delay = \"200ms\"\n")
            .await
    }

    /// A dev server and a consuela.toml with this text.
    pub(crate) async fn start_with(config_text: &str) -> Self {
        let server = consuela_testkit::spawn_devserver_with(DevServerConfig::fast()).await;
        let dir = std::env::temp_dir().join(format!(
            "consuela-cli-it-{}-{}",
            std::process::id(),
            server.local_addr().port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("consuela.toml");
        std::fs::write(&config, config_text).unwrap();
        Self {
            server,
            dir,
            config,
        }
    }

    /// `consuela --consul URL --config FILE ARGS...` (global flags first: after
    /// `run NAME --` everything belongs to the command), isolated from the
    /// caller's CONSUL_HTTP_* variables.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = bare(&["--consul", &self.server.url(), "--config"]);
        command.arg(&self.config).args(args);
        command
    }

    /// Starts `consuela ARGS` with piped stdio; killed when dropped.
    pub(crate) fn spawn(&self, args: &[&str]) -> Proc {
        Proc::spawn(self.command(args))
    }

    /// Runs `consuela ARGS` to completion.
    pub(crate) async fn output(&self, args: &[&str]) -> Output {
        output(self.command(args)).await
    }

    /// The Consul session holding `name` (default namespace), if any.
    pub(crate) async fn session_of(&self, name: &str) -> Option<consuela_client::wire::SessionId> {
        let client =
            consuela_client::Client::new(consuela_client::ClientConfig::new(self.server.url()))
                .unwrap();
        client
            .kv()
            .get(
                &format!("consuela/{name}"),
                consuela_client::QueryOptions::default(),
            )
            .await
            .unwrap()
            .value
            .and_then(|entry| entry.session)
    }

    /// Polls `consuela whereis NAME` until `want(exit code)` holds.
    pub(crate) async fn wait_whereis(&self, name: &str, want: impl Fn(i32) -> bool) -> Output {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let out = self.output(&["whereis", name]).await;
            if want(out.code) {
                return out;
            }
            assert!(Instant::now() < deadline, "whereis {name}: {out:?}");
            sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `consuela ARGS` without any connection flags.
pub(crate) fn bare(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_consuela"));
    for var in [
        "CONSUL_HTTP_ADDR",
        "CONSUL_HTTP_TOKEN",
        "CONSUL_HTTP_TOKEN_FILE",
        "CONSUL_HTTP_SSL",
        "CONSUL_HTTP_SSL_VERIFY",
        "CONSUL_HTTP_AUTH",
        "CONSUL_CACERT",
        "CONSUL_CAPATH",
        "CONSUL_CLIENT_CERT",
        "CONSUL_CLIENT_KEY",
        "CONSUL_TLS_SERVER_NAME",
        "CONSUL_NAMESPACE",
        "CONSUL_PARTITION",
    ] {
        command.env_remove(var);
    }
    command.args(args).kill_on_drop(true);
    command
}

#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) async fn output(mut command: Command) -> Output {
    let out = timeout(DEADLINE, command.output())
        .await
        .expect("consuela did not finish in time")
        .expect("cannot run consuela");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running `consuela`, killed (SIGKILL) when dropped, also on panic.
pub(crate) struct Proc {
    pub(crate) child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<ChildStderr>>,
}

impl Proc {
    pub(crate) fn spawn(mut command: Command) -> Self {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("cannot start consuela");
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// The next stdout line, within the deadline.
    pub(crate) async fn line(&mut self) -> String {
        timeout(DEADLINE, self.stdout.next_line())
            .await
            .expect("no stdout line in time")
            .unwrap()
            .expect("stdout closed")
    }

    /// Reads stderr until a line contains `needle`.
    pub(crate) async fn stderr_until(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let line = tokio::time::timeout_at(deadline, self.stderr.next_line())
                .await
                .unwrap_or_else(|_| panic!("no stderr line with {needle:?} in time"))
                .unwrap()
                .unwrap_or_else(|| panic!("stderr closed before {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// The rest of stderr (until the process closes it).
    pub(crate) async fn stderr_rest(&mut self) -> String {
        let mut text = String::new();
        while let Ok(Ok(Some(line))) = timeout(DEADLINE, self.stderr.next_line()).await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    /// Closes stdin (a `read` in the command returns).
    pub(crate) fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    pub(crate) fn pid(&self) -> i32 {
        i32::try_from(self.child.id().unwrap()).unwrap()
    }

    pub(crate) fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid()).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// Waits for the exit, within the deadline.
    pub(crate) async fn wait(&mut self) -> ExitStatus {
        timeout(DEADLINE, self.child.wait())
            .await
            .expect("consuela did not exit in time")
            .unwrap()
    }
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
pub(crate) fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits until process `pid` is dead.
pub(crate) async fn wait_dead(pid: i32) {
    let deadline = Instant::now() + DEADLINE;
    while !is_dead(pid) {
        assert!(Instant::now() < deadline, "process {pid} still alive");
        sleep(Duration::from_millis(20)).await;
    }
}
