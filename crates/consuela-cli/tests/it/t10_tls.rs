//! Production connections: `consuela dev` over TLS with `--verify-incoming` and on a unix
//! socket, the `CONSUL_*` TLS variables and flags, exit 70 with one line naming the TLS cause,
//! and no secret on stderr even with `-v`.

use std::path::PathBuf;

use consuela_testkit::consuela_devserver::{DevServer, DevServerConfig, DevServerTls};
use consuela_testkit::tls::{CertifiedKey, ScratchDir, TestCa};

use crate::support::{Proc, bare, output};

/// Certificates on disk: a CA, a server certificate and a client certificate from it.
struct Pki {
    ca: TestCa,
    dir: ScratchDir,
    ca_file: PathBuf,
    server: CertifiedKey,
    server_cert: PathBuf,
    server_key: PathBuf,
    client: CertifiedKey,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let ca = TestCa::new("consuela CLI test CA");
        let dir = ScratchDir::new("consuela-cli-tls");
        let server = ca.server(&[]);
        let client = ca.client("client.dc1.consul");
        Self {
            ca_file: dir.write("ca.pem", &ca.cert_pem),
            server_cert: dir.write("server.pem", &server.cert_pem),
            server_key: dir.write("server-key.pem", &server.key_pem),
            // The RSA-style key format Consul's `tls cert create` does not make, but
            // operators' own CAs often do: EC keys in SEC1.
            client_cert: dir.write("client.pem", &client.cert_pem),
            client_key: dir.write("client-key.pem", client.key_traditional_pem()),
            ca,
            dir,
            server,
            client,
        }
    }

    /// An in-process HTTPS dev server that requires client certificates.
    async fn server(&self) -> DevServer {
        let tls = DevServerTls::new(self.server.cert_pem.clone(), self.server.key_pem.clone())
            .with_client_ca(self.ca.cert_pem.clone())
            .verify_incoming(true);
        DevServer::bind_tls(
            DevServerConfig::fast(),
            "127.0.0.1:0".parse().unwrap(),
            &tls,
        )
        .await
        .unwrap()
    }

    /// A consuela.toml with short session times.
    fn config(&self) -> PathBuf {
        self.dir.write(
            "consuela.toml",
            "[session]\nttl = \"1s\"\nttl_min = \"100ms\"\nlock_delay = \"200ms\"\n",
        )
    }
}

fn path(path: &std::path::Path) -> String {
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_verify_incoming_refuses_clients_without_a_certificate() {
    let pki = Pki::new();
    let mut dev = Proc::spawn(bare(&[
        "dev",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &path(&pki.server_cert),
        "--tls-key",
        &path(&pki.server_key),
        "--ca",
        &path(&pki.ca_file),
        "--verify-incoming",
    ]));
    let first = dev.line().await;
    let url = first
        .strip_prefix("consuela dev listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_eq!(dev.line().await, format!("export CONSUL_HTTP_ADDR={url}"));

    // No client certificate: exit 70, one line that says so.
    let mut command = bare(&["ls"]);
    command
        .env("CONSUL_HTTP_ADDR", &url)
        .env("CONSUL_CACERT", &pki.ca_file);
    let out = output(command).await;
    assert_eq!(out.code, 70, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(
        out.stderr.contains("requires a client certificate"),
        "{out:?}"
    );

    // With one (an EC key in SEC1 form), from the environment.
    let mut command = bare(&["ls"]);
    command
        .env("CONSUL_HTTP_ADDR", &url)
        .env("CONSUL_CACERT", &pki.ca_file)
        .env("CONSUL_CLIENT_CERT", &pki.client_cert)
        .env("CONSUL_CLIENT_KEY", &pki.client_key);
    let out = output(command).await;
    assert_eq!(out.code, 0, "{out:?}");

    // The same through flags, with the CA as a directory (read recursively; every file in
    // it must be a certificate).
    let ca_dir = ScratchDir::new("consuela-cli-ca");
    ca_dir.write("nested/ca.pem", &pki.ca.cert_pem);
    let command_args = [
        "--consul",
        url.trim_start_matches("https://"),
        "--ca-path",
        &path(ca_dir.path()),
        "--client-cert",
        &path(&pki.client_cert),
        "--client-key",
        &path(&pki.client_key),
        "ls",
    ];
    // CONSUL_HTTP_SSL makes the scheme-less flag address https, as in Consul's CLI.
    let mut command = bare(&command_args);
    command.env("CONSUL_HTTP_SSL", "true");
    let out = output(command).await;
    assert_eq!(out.code, 0, "{out:?}");
    dev.signal(rustix::process::Signal::TERM);
    assert_eq!(dev.wait().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failures_are_one_line_naming_the_cause_and_exit_70() {
    let pki = Pki::new();
    let server = pki.server().await;
    let other = TestCa::new("another CA");
    let other_ca = pki.dir.write("other-ca.pem", &other.cert_pem);
    let ca = path(&pki.ca_file);
    let cert = path(&pki.client_cert);
    let other_ca = path(&other_ca);
    let missing = path(&pki.dir.path().join("missing-ca.pem"));
    let cases: [(Vec<&str>, &str); 5] = [
        // An unreadable file is named.
        (vec!["--ca-file", &missing], "missing-ca.pem"),
        // The server's CA is not trusted.
        (vec!["--ca-file", &other_ca], "signed by an unknown CA"),
        // The certificate does not name the server.
        (
            vec!["--ca-file", &ca, "--tls-server-name", "server.dc1.consul"],
            "does not match the server name",
        ),
        // A certificate without its key.
        (vec!["--ca-file", &ca, "--client-cert", &cert], "client key"),
        // A key file that holds no key.
        (
            vec![
                "--ca-file",
                &ca,
                "--client-cert",
                &cert,
                "--client-key",
                &ca,
            ],
            "private key",
        ),
    ];
    let url = server.url();
    for (flags, cause) in cases {
        let mut args = vec!["--consul", &url];
        args.extend(flags.iter().copied());
        args.push("ls");
        let out = output(bare(&args)).await;
        assert_eq!(out.code, 70, "{args:?}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:?}");
        assert!(out.stderr.contains(cause), "{args:?}: {out:?}");
    }
    // The dev server refuses unusable TLS files the same way.
    let out = output(bare(&[
        "dev",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &ca,
        "--tls-key",
        &ca,
    ]))
    .await;
    assert_eq!(out.code, 70, "{out:?}");
    assert!(out.stderr.contains("private key"), "{out:?}");
    // An unknown scheme is a clear error too.
    let out = output(bare(&["--consul", "ftp://127.0.0.1:1", "ls"])).await;
    assert_eq!(out.code, 70, "{out:?}");
    assert!(out.stderr.contains("unknown scheme"), "{out:?}");
    // CONSUL_HTTP_SSL_VERIFY=false connects without any CA, client certificate given.
    let mut command = bare(&["ls"]);
    command
        .env("CONSUL_HTTP_ADDR", server.url())
        .env("CONSUL_HTTP_SSL_VERIFY", "false")
        .env("CONSUL_CLIENT_CERT", &pki.client_cert)
        .env("CONSUL_CLIENT_KEY", &pki.client_key);
    let out = output(command).await;
    assert_eq!(out.code, 0, "{out:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_logs_never_show_the_token_the_password_or_the_key() {
    let pki = Pki::new();
    let server = pki.server().await;
    let config = pki.config();
    let token = "t0k3n-cli-5e1f0a9b";
    let password = "pa55-cli-77c1d2";
    for args in [
        &["run", "tls/job", "--", "true"][..],
        &["ls"],
        &["whereis", "tls/job"],
    ] {
        let mut command = bare(&[
            "-v",
            "--consul",
            &server.url(),
            "--config",
            &path(&config),
            "--token",
            token,
            "--ca-file",
            &path(&pki.ca_file),
        ]);
        command
            .args(args)
            .env("CONSUELA_LOG", "trace")
            .env("CONSUL_HTTP_AUTH", format!("alice:{password}"))
            .env("CONSUL_CLIENT_CERT", &pki.client_cert)
            .env("CONSUL_CLIENT_KEY", &pki.client_key);
        let out = output(command).await;
        assert!(out.code == 0 || args[0] == "whereis", "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "-v logs something: {out:?}");
        let text = format!("{}\n{}", out.stdout, out.stderr);
        let mut secrets = vec![token.to_owned(), password.to_owned()];
        secrets.extend(pki.client.key_material());
        for secret in &secrets {
            assert!(
                !text.contains(secret),
                "{args:?}: {secret:?} leaked:\n{text}"
            );
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_listens_on_a_unix_socket() {
    let dir = ScratchDir::new("consuela-cli-unix");
    let socket = dir.path().join("consul.sock");
    let address = format!("unix://{}", socket.display());
    let mut dev = Proc::spawn(bare(&["dev", "--listen", &address]));
    assert_eq!(
        dev.line().await,
        format!("consuela dev listening on {address}")
    );
    assert_eq!(
        dev.line().await,
        format!("export CONSUL_HTTP_ADDR={address}")
    );
    let mut command = bare(&["run", "unix/job", "--", "true"]);
    command.env("CONSUL_HTTP_ADDR", &address);
    let out = output(command).await;
    assert_eq!(out.code, 0, "{out:?}");
    let out = output(bare(&["--consul", &address, "ls"])).await;
    assert_eq!(out.code, 0, "{out:?}");
    dev.signal(rustix::process::Signal::TERM);
    assert_eq!(dev.wait().await.code(), Some(0));
    assert!(!socket.exists(), "the socket file is removed on exit");
}
