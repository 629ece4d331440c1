//! A registry over mutual TLS, configured through `[consul.tls]`: it registers, and neither
//! its events nor its errors carry the token, the basic-auth password or the key; without a
//! client certificate it does not start, and says why.

use consuela::Registry;
use consuela::config::Config;
use consuela_client::{ErrorKind, TlsFailure};
use consuela_devserver::{DevServer, DevServerConfig, DevServerTls};
use consuela_testkit::tls::{ScratchDir, TestCa};

use crate::support::{Events, namespace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_over_mutual_tls_leaks_no_secret() {
    let ca = TestCa::new("consuela registry test CA");
    let server_cert = ca.server(&[]);
    let client = ca.client_rsa("client.dc1.consul");
    let tls = DevServerTls::new(server_cert.cert_pem, server_cert.key_pem)
        .with_client_ca(ca.cert_pem.clone())
        .verify_incoming(true);
    let server = DevServer::bind_tls(
        DevServerConfig::fast(),
        "127.0.0.1:0".parse().unwrap(),
        &tls,
    )
    .await
    .unwrap();
    let dir = ScratchDir::new("consuela-registry-tls");
    let ca_file = dir.write("ca.pem", &ca.cert_pem);
    let cert_file = dir.write("client.pem", &client.cert_pem);
    // PKCS#1, as older PKIs write RSA keys.
    let key_file = dir.write("client-key.pem", client.key_traditional_pem());
    let token = "t0k3n-registry-0c1d";
    let password = "pa55-registry-9e8f";
    let ns = namespace("tls");
    let toml = |with_cert: bool| {
        let mut text = format!(
            "nodename = \"consuela-dev\"\nnamespace = \"{ns}\"\n\
             [session]\nttl = \"1s\"\nttl_min = \"100ms\"\nlock_delay = \"100ms\"\n\
             [consul]\nurl = \"{}\"\ntoken = \"{token}\"\nhttp_auth = \"alice:{password}\"\n\
             [consul.tls]\nca_file = \"{}\"\n",
            server.url(),
            ca_file.display(),
        );
        if with_cert {
            text.push_str(&format!(
                "cert_file = \"{}\"\nkey_file = \"{}\"\n",
                cert_file.display(),
                key_file.display()
            ));
        }
        text
    };

    let config = Config::from_toml(&toml(true)).unwrap();
    let events = Events::default();
    let registry = Registry::builder(config.clone())
        .pulse(events.pulse())
        .start()
        .await
        .expect("a registry over mutual TLS");
    let registration = registry
        .register("web", consuela::Contact::at("10.0.0.1:80"))
        .await
        .unwrap();
    assert!(registry.whereis("web").await.unwrap().is_some());
    drop(registration);
    registry.shutdown().await.unwrap();

    let error = Registry::start(Config::from_toml(&toml(false)).unwrap())
        .await
        .expect_err("no client certificate");
    let client_error =
        std::iter::successors(Some(&error as &(dyn std::error::Error + 'static)), |e| {
            e.source()
        })
        .find_map(|e| e.downcast_ref::<consuela_client::Error>())
        .expect("the client's error is the source");
    assert_eq!(client_error.kind(), ErrorKind::Tls, "{error:?}");
    assert_eq!(
        client_error.tls_failure(),
        Some(TlsFailure::CertificateRequired)
    );
    server.shutdown().await;

    let events = events.all();
    assert!(!events.is_empty());
    let text = format!("{events:?}\n{config:?}\n{error} {error:?}");
    let mut secrets = vec![token.to_owned(), password.to_owned()];
    secrets.extend(client.key_material());
    for secret in secrets {
        assert!(!text.contains(&secret), "{secret:?} leaked:\n{text}");
    }
}
