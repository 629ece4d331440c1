//! ACL mode: 403 without or with a wrong token, success with the right one; the token never
//! leaks into Debug output, errors or events. Needs a dev server started with a token.

use std::sync::{Arc, Mutex};

use consuela_client::{Client, ClientConfig, ErrorKind, Outcome, PutOptions, QueryOptions};
use consuela_testkit::consuela_devserver::DevServerConfig;
use consuela_testkit::{spawn_devserver_with, trace_init};

const SECRET: &str = "consuela-it-secret-7f3c";

#[tokio::test]
async fn forbidden_without_the_token_allowed_with_it() {
    trace_init();
    let server = spawn_devserver_with(DevServerConfig::default().with_acl_token(SECRET)).await;

    let anonymous = Client::new(ClientConfig::new(server.url())).unwrap();
    let error = anonymous
        .kv()
        .get("acl/k", QueryOptions::new())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Forbidden, "{error}");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(403));
    assert_eq!(error.outcome(), Outcome::Done);
    assert!(!error.is_retryable());
    let error = anonymous
        .kv()
        .put("acl/k", b"v".to_vec(), PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Forbidden, "{error}");

    let wrong = Client::new(ClientConfig::new(server.url()).token("not-the-token")).unwrap();
    let error = wrong
        .kv()
        .get("acl/k", QueryOptions::new())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Forbidden, "{error}");

    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let config = ClientConfig::new(server.url())
        .token(SECRET)
        .on_request(move |event| sink.lock().unwrap().push(format!("{event:?}")));
    let config_debug = format!("{config:?}");
    let authorized = Client::new(config).unwrap();
    assert!(
        authorized
            .kv()
            .put("acl/k", b"v".to_vec(), PutOptions::default())
            .await
            .unwrap()
    );
    let entry = authorized
        .kv()
        .get("acl/k", QueryOptions::new())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(entry.value.as_deref(), Some(&b"v"[..]));
    let missing_error = authorized
        .kv()
        .get("/bad", QueryOptions::new())
        .await
        .unwrap_err();

    for text in [
        config_debug,
        format!("{authorized:?}"),
        format!("{missing_error:?} {missing_error}"),
        events.lock().unwrap().join("\n"),
    ] {
        assert!(!text.contains(SECRET), "token leaked: {text}");
    }
    assert_eq!(events.lock().unwrap().len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn token_file_is_read_and_wins() {
    trace_init();
    let server = spawn_devserver_with(DevServerConfig::default().with_acl_token(SECRET)).await;
    let dir = std::env::temp_dir().join(format!("consuela-it-{}", crate::support::unique("token")));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, format!("  {SECRET}\n")).unwrap();
    let mut config = ClientConfig::new(server.url()).token("overridden-by-file");
    config.token_file = Some(file.clone());
    let client = Client::new(config).unwrap();
    assert!(
        client
            .kv()
            .put("acl/f", b"v".to_vec(), PutOptions::default())
            .await
            .unwrap()
    );

    let mut config = ClientConfig::new(server.url());
    config.token_file = Some(dir.join("missing"));
    let error = Client::new(config).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        std::error::Error::source(&error).is_some(),
        "the I/O error is kept"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    server.shutdown().await;
}
