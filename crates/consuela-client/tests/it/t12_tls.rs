//! TLS, unix sockets, basic auth and Enterprise parameters, end to end against dev servers
//! that speak HTTPS (optionally requiring client certificates) or listen on a socket.
//! Every certificate is made for the test run (`consuela_testkit::tls`).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use consuela_client::{
    BasicAuth, Client, ClientConfig, ErrorKind, Outcome, PutOptions, QueryOptions, TlsConfig,
    TlsFailure,
};
use consuela_testkit::consuela_devserver::{DevServer, DevServerConfig, DevServerTls};
use consuela_testkit::tls::{CertifiedKey, ScratchDir, TestCa};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// An HTTPS dev server with a certificate from `ca`; with `client_ca`, client certificates
/// signed by it are required.
async fn tls_server(server: &CertifiedKey, client_ca: Option<&TestCa>) -> DevServer {
    let mut tls = DevServerTls::new(server.cert_pem.clone(), server.key_pem.clone());
    if let Some(ca) = client_ca {
        tls = tls
            .with_client_ca(ca.cert_pem.clone())
            .verify_incoming(true);
    }
    DevServer::bind_tls(
        DevServerConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
        &tls,
    )
    .await
    .expect("TLS dev server")
}

fn config(url: String, tls: TlsConfig) -> ClientConfig {
    let mut config = ClientConfig::new(url);
    config.tls = tls;
    config
}

async fn leader(config: ClientConfig) -> Result<String, consuela_client::Error> {
    Client::new(config)?.status().leader().await
}

fn env(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    move |name| map.get(name).cloned()
}

#[tokio::test]
async fn ca_file_and_ca_path_verify_the_server() {
    let ca = TestCa::new("consuela test CA");
    let other = TestCa::new("another CA");
    let server = tls_server(&ca.server(&[]), None).await;
    let dir = ScratchDir::new("consuela-client-tls");
    let ca_file = dir.write("ca.pem", &ca.cert_pem);
    // A CA directory is read recursively; every file in it must hold a certificate.
    dir.write("ca.d/other.pem", &other.cert_pem);
    dir.write("ca.d/nested/ours.pem", &ca.cert_pem);

    let from_env = ClientConfig::from_env_with(env(&[
        ("CONSUL_HTTP_ADDR", server.url()),
        ("CONSUL_CACERT", ca_file.display().to_string()),
    ]))
    .unwrap();
    assert!(leader(from_env).await.is_ok());

    let from_env = ClientConfig::from_env_with(env(&[
        ("CONSUL_HTTP_ADDR", server.local_addr().to_string()),
        ("CONSUL_HTTP_SSL", "true".to_owned()),
        (
            "CONSUL_CAPATH",
            dir.path().join("ca.d").display().to_string(),
        ),
    ]))
    .unwrap();
    assert!(from_env.address.starts_with("https://"), "{from_env:?}");
    let client = Client::new(from_env).unwrap();
    client
        .kv()
        .put("tls/ca-path", "yes", PutOptions::default())
        .await
        .unwrap();
    let entry = client
        .kv()
        .get("tls/ca-path", QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.value.as_deref(), Some(&b"yes"[..]));

    // A directory with a file that is no certificate is a configuration error.
    dir.write("ca.d/README", "not a certificate");
    let error = Client::new(config(
        server.url(),
        TlsConfig {
            ca_path: Some(dir.path().join("ca.d")),
            ..TlsConfig::default()
        },
    ))
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("README"), "{error}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_wrong_ca_or_no_ca_is_refused_as_unknown_issuer() {
    let ca = TestCa::new("consuela test CA");
    let other = TestCa::new("another CA");
    let server = tls_server(&ca.server(&[]), None).await;
    for tls in [
        TlsConfig {
            ca_pem: Some(other.cert_pem.clone().into_bytes()),
            ..TlsConfig::default()
        },
        // The built-in roots do not know a private CA.
        TlsConfig::default(),
    ] {
        let error = leader(config(server.url(), tls)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Tls, "{error:?}");
        assert_eq!(error.tls_failure(), Some(TlsFailure::UnknownIssuer));
        assert_eq!(error.outcome(), Outcome::Failed);
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("unknown CA"), "{error}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn an_expired_server_certificate_is_named_so() {
    let ca = TestCa::new("consuela test CA");
    let server = tls_server(&ca.server_expired(), None).await;
    let tls = TlsConfig {
        ca_pem: Some(ca.cert_pem.clone().into_bytes()),
        ..TlsConfig::default()
    };
    let error = leader(config(server.url(), tls)).await.unwrap_err();
    assert_eq!(error.tls_failure(), Some(TlsFailure::Expired), "{error:?}");
    assert!(error.to_string().contains("expired"), "{error}");
    server.shutdown().await;
}

#[tokio::test]
async fn https_to_a_plain_http_agent_says_the_server_does_not_speak_tls() {
    let server = consuela_testkit::spawn_devserver().await;
    let url = server.url().replace("http://", "https://");
    let error = leader(ClientConfig::new(url)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error:?}");
    assert_eq!(error.tls_failure(), Some(TlsFailure::NotTls), "{error:?}");
    assert!(error.to_string().contains("does not speak TLS"), "{error}");
    server.shutdown().await;
}

#[tokio::test]
async fn ssl_verify_false_connects_without_a_ca() {
    let ca = TestCa::new("consuela test CA");
    let server = tls_server(&ca.server_only(&["elsewhere.example"]), None).await;
    let config = ClientConfig::from_env_with(env(&[
        ("CONSUL_HTTP_ADDR", server.url()),
        ("CONSUL_HTTP_SSL_VERIFY", "false".to_owned()),
    ]))
    .unwrap();
    assert!(config.tls.danger_accept_invalid_certs);
    assert!(leader(config).await.is_ok());
    server.shutdown().await;
}

#[tokio::test]
async fn the_tls_server_name_is_what_the_certificate_is_checked_against() {
    let ca = TestCa::new("consuela test CA");
    let server = tls_server(&ca.server_only(&["server.dc1.consul"]), None).await;
    let trust = || TlsConfig {
        ca_pem: Some(ca.cert_pem.clone().into_bytes()),
        ..TlsConfig::default()
    };
    let error = leader(config(server.url(), trust())).await.unwrap_err();
    assert_eq!(
        error.tls_failure(),
        Some(TlsFailure::NameMismatch),
        "{error:?}"
    );
    let dir = ScratchDir::new("consuela-client-tls");
    let ca_file = dir.write("ca.pem", &ca.cert_pem);
    let config = ClientConfig::from_env_with(env(&[
        ("CONSUL_HTTP_ADDR", server.url()),
        ("CONSUL_CACERT", ca_file.display().to_string()),
        // Consul drops a port here.
        (
            "CONSUL_TLS_SERVER_NAME",
            "server.dc1.consul:8501".to_owned(),
        ),
    ]))
    .unwrap();
    assert!(leader(config).await.is_ok());
    let error = leader(ClientConfig {
        tls: TlsConfig {
            server_name: Some("other.dc1.consul".to_owned()),
            ..trust()
        },
        ..ClientConfig::new(server.url())
    })
    .await
    .unwrap_err();
    assert_eq!(error.tls_failure(), Some(TlsFailure::NameMismatch));
    server.shutdown().await;
}

#[tokio::test]
async fn client_certificates_in_every_key_format_are_accepted() {
    let ca = TestCa::new("consuela test CA");
    let server = tls_server(&ca.server(&[]), Some(&ca)).await;
    let dir = ScratchDir::new("consuela-client-tls");
    let ca_file = dir.write("ca.pem", &ca.cert_pem);
    let ec = ca.client("client.dc1.consul");
    let rsa = ca.client_rsa("client.dc1.consul");
    assert!(
        rsa.key_traditional_pem()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    assert!(
        ec.key_traditional_pem()
            .starts_with("-----BEGIN EC PRIVATE KEY-----")
    );
    let cases = [
        ("ec-pkcs8", &ec, ec.key_pem.clone()),
        ("ec-sec1", &ec, ec.key_traditional_pem()),
        ("rsa-pkcs8", &rsa, rsa.key_pem.clone()),
        ("rsa-pkcs1", &rsa, rsa.key_traditional_pem()),
    ];
    for (name, cert, key) in cases {
        let cert_file = dir.write(&format!("{name}.pem"), &cert.cert_pem);
        let key_file = dir.write(&format!("{name}-key.pem"), &key);
        let config = ClientConfig::from_env_with(env(&[
            ("CONSUL_HTTP_ADDR", server.url()),
            ("CONSUL_CACERT", ca_file.display().to_string()),
            ("CONSUL_CLIENT_CERT", cert_file.display().to_string()),
            ("CONSUL_CLIENT_KEY", key_file.display().to_string()),
        ]))
        .unwrap();
        let result = leader(config).await;
        assert!(result.is_ok(), "{name}: {result:?}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_missing_or_foreign_client_certificate_is_refused_with_its_cause() {
    let ca = TestCa::new("consuela test CA");
    let rogue = TestCa::new("rogue CA");
    let server = tls_server(&ca.server(&[]), Some(&ca)).await;
    let trust = TlsConfig {
        ca_pem: Some(ca.cert_pem.clone().into_bytes()),
        ..TlsConfig::default()
    };
    let error = leader(config(server.url(), trust.clone()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error:?}");
    assert_eq!(error.tls_failure(), Some(TlsFailure::CertificateRequired));
    assert_eq!(error.outcome(), Outcome::Failed);
    assert!(
        error.to_string().contains("requires a client certificate"),
        "{error}"
    );

    let foreign = rogue.client("client.dc1.consul");
    let error = leader(config(
        server.url(),
        TlsConfig {
            client_cert_pem: Some(foreign.cert_pem.into_bytes()),
            client_key_pem: Some(foreign.key_pem.into_bytes()),
            ..trust
        },
    ))
    .await
    .unwrap_err();
    assert_eq!(
        error.tls_failure(),
        Some(TlsFailure::CertificateRejected),
        "{error:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn unreadable_or_malformed_tls_files_are_config_errors() {
    let ca = TestCa::new("consuela test CA");
    let dir = ScratchDir::new("consuela-client-tls");
    let client = ca.client("c");
    let cert = dir.write("cert.pem", &client.cert_pem);
    let garbage = dir.write(
        "garbage.pem",
        "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
    );
    let cases = [
        TlsConfig {
            ca_file: Some(dir.path().join("missing.pem")),
            ..TlsConfig::default()
        },
        TlsConfig {
            ca_file: Some(garbage.clone()),
            ..TlsConfig::default()
        },
        TlsConfig {
            client_cert: Some(cert.clone()),
            ..TlsConfig::default()
        },
        TlsConfig {
            client_cert: Some(cert.clone()),
            client_key: Some(garbage.clone()),
            ..TlsConfig::default()
        },
        TlsConfig {
            // A key that belongs to another certificate.
            client_cert: Some(cert),
            client_key_pem: Some(ca.client("d").key_pem.into_bytes()),
            ..TlsConfig::default()
        },
    ];
    for tls in cases {
        let debug = format!("{tls:?}");
        let error = Client::new(config("https://127.0.0.1:1".to_owned(), tls)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{debug}: {error:?}");
    }
}

#[tokio::test]
async fn a_unix_socket_address_reaches_the_agent() {
    let dir = ScratchDir::new("consuela-client-unix");
    let path = dir.path().join("consul.sock");
    let server = DevServer::bind_unix(DevServerConfig::default(), &path)
        .await
        .unwrap();
    assert_eq!(server.url(), format!("unix://{}", path.display()));
    let config = ClientConfig::from_env_with(env(&[("CONSUL_HTTP_ADDR", server.url())])).unwrap();
    let client = Client::new(config).unwrap();
    assert_eq!(client.address(), server.url());
    client
        .kv()
        .put("unix/key", "over a socket", PutOptions::default())
        .await
        .unwrap();
    let entry = client
        .kv()
        .get("unix/key", QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.value.as_deref(), Some(&b"over a socket"[..]));
    server.shutdown().await;
    assert!(!path.exists(), "the socket file is removed on shutdown");
}

/// A one-shot HTTP server that answers `"127.0.0.1:8300"` and hands back the request head.
async fn recording_server() -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before its request head ended");
            head.extend_from_slice(&buf[..n]);
        }
        let body = b"\"127.0.0.1:8300\"";
        let mut answer = Vec::new();
        write!(
            answer,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        answer.extend_from_slice(body);
        stream.write_all(&answer).await.unwrap();
        String::from_utf8(head).unwrap()
    });
    (url, task)
}

#[tokio::test]
async fn basic_auth_namespace_and_partition_are_sent() {
    let (url, request) = recording_server().await;
    let config = ClientConfig::from_env_with(env(&[
        ("CONSUL_HTTP_ADDR", url),
        ("CONSUL_HTTP_AUTH", "alice:s3cr3t:pw".to_owned()),
        ("CONSUL_NAMESPACE", "team-a".to_owned()),
        ("CONSUL_PARTITION", "part-1".to_owned()),
    ]))
    .unwrap();
    assert_eq!(
        leader(config).await.unwrap(),
        "127.0.0.1:8300",
        "the answer is read"
    );
    let head = request.await.unwrap();
    let first = head.lines().next().unwrap();
    assert!(first.contains("ns=team-a"), "{head}");
    assert!(first.contains("partition=part-1"), "{head}");
    // base64("alice:s3cr3t:pw"): split at the first colon, as Consul's Go client does.
    let auth = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("authorization")
                .then(|| value.trim().to_owned())
        })
        .expect("an Authorization header");
    assert_eq!(auth, "Basic YWxpY2U6czNjcjN0OnB3", "{head}");
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_an_event_or_a_debug_output() {
    let ca = TestCa::new("consuela test CA");
    let server = tls_server(&ca.server(&[]), Some(&ca)).await;
    let client_cert = ca.client("client.dc1.consul");
    let token = "t0k3n-9f1c2e7a-secret";
    let password = "pa55w0rd-d4e5f6";
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let events = Arc::new(Mutex::new(Vec::new()));
    // A global subscriber must exist besides this thread's: with a single dispatcher,
    // tracing-core computes a callsite's interest from the default of whichever thread hits
    // it first, and another test's thread (no subscriber) would turn the client's off here.
    consuela_testkit::trace_init();
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    let make = |with_cert: bool| {
        let events = events.clone();
        let mut config = ClientConfig::new(server.url())
            .token(token)
            .on_request(move |event| events.lock().unwrap().push(format!("{event:?}")));
        config.http_auth = Some(BasicAuth::new("alice", password));
        config.tls.ca_pem = Some(ca.cert_pem.clone().into_bytes());
        if with_cert {
            config.tls.client_cert_pem = Some(client_cert.cert_pem.clone().into_bytes());
            config.tls.client_key_pem = Some(client_cert.key_pem.clone().into_bytes());
        }
        config
    };
    let mut seen = Vec::new();
    for with_cert in [true, false] {
        let config = make(with_cert);
        seen.push(format!("{config:?}"));
        let client = Client::new(config).unwrap();
        seen.push(format!("{client:?}"));
        match client.status().leader().await {
            Ok(leader) => seen.push(leader),
            Err(error) => seen.push(format!("{error} {error:?}")),
        }
        match client.kv().get("no/such/key", QueryOptions::new()).await {
            Ok(value) => seen.push(format!("{value:?}")),
            Err(error) => seen.push(format!("{error} {error:?}")),
        }
    }
    server.shutdown().await;
    let events = events.lock().unwrap().clone();
    assert!(events.len() >= 4, "{events:?}");
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("consul request"), "the client logged: {log}");
    let text = format!("{}\n{}\n{log}", seen.join("\n"), events.join("\n"));
    let mut secrets = vec![token.to_owned(), password.to_owned()];
    secrets.extend(client_cert.key_material());
    for secret in secrets {
        assert!(!text.contains(&secret), "{secret:?} leaked:\n{text}");
    }
}
