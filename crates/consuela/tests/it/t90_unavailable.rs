//! The original's unavailability cases, made deterministic with the fault
//! proxy: cancelled and unanswered requests, a black-holed Consul, giving
//! up, and what reaches the wire.

use std::time::Duration;

use consuela::client::{ClientConfig, Consistency};
use consuela::config::RetryPolicy;
use consuela::singleton::{SingletonConfig, StopReason};
use consuela::{Contact, Directory, Registry};
use consuela_testkit::{Latency, Mode, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::support::{Cluster, SOON, namespace, stop_reason};

#[tokio::test]
async fn a_cancelled_register_leaves_nothing_behind() {
    let cluster = Cluster::start().await;
    let ns = namespace("cancelled");
    let proxy = cluster.proxy().await;
    let mut config = cluster.config_via(0, &ns, &proxy.url());
    config.session.ttl = Duration::from_secs(20).max(cluster.ttl);
    let r = Registry::start(config).await.unwrap();
    let observer = cluster.registry(1, &ns).await;
    // Consul applies the acquisition; the caller gives up before the answer.
    proxy.set_latency(Latency {
        upstream: Duration::ZERO,
        downstream: Duration::from_secs(1),
    });
    let cancelled = tokio::time::timeout(
        Duration::from_millis(300),
        r.register("dropped", Contact::default()),
    )
    .await;
    assert!(cancelled.is_err(), "the register future was cancelled");
    proxy.set_latency(Latency::default());
    wait_until(SOON, "nothing is left in Consul", || async {
        r.reaper_queue() == 0 && observer.whereis("dropped").await.unwrap().is_none()
    })
    .await;
    // Nor locally: the name can be registered again at once.
    let again = r.register("dropped", Contact::default()).await.unwrap();
    again.unregister().await.unwrap();
    r.shutdown().await.unwrap();
    observer.shutdown().await.unwrap();
    proxy.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn whereis_with_consul_black_holed_errs_within_the_request_timeout() {
    let cluster = Cluster::start().await;
    let ns = namespace("black-hole");
    let proxy = cluster.proxy().await;
    let mut config = cluster.config_via(0, &ns, &proxy.url());
    config.session.ttl = Duration::from_secs(20).max(cluster.ttl);
    let request_timeout = config.consul.request_timeout;
    let r = Registry::start(config).await.unwrap();
    proxy.set_mode(Mode::Ignore);
    let started = Instant::now();
    let err = r.whereis("anyone").await.unwrap_err();
    let took = started.elapsed();
    assert!(err.is_retryable(), "{err}");
    assert!(
        took < request_timeout + Duration::from_secs(1),
        "took {took:?} for a {request_timeout:?} request timeout"
    );
    proxy.set_mode(Mode::Pass);
    r.shutdown().await.unwrap();
    proxy.shutdown().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_singleton_that_may_give_up_stops_when_its_retries_run_out() {
    let cluster = Cluster::start().await;
    let ns = namespace("give-up");
    let proxy = cluster.proxy().await;
    let mut config = cluster.config_via(0, &ns, &proxy.url());
    config.session.ttl = Duration::from_secs(20).max(cluster.ttl);
    let r = Registry::start(config).await.unwrap();
    proxy.set_mode(Mode::Stop);
    let singleton = SingletonConfig {
        retry: RetryPolicy::linear(Duration::from_millis(50)).max_attempts(3),
        give_up: true,
        ..SingletonConfig::default()
    };
    let handle = r
        .singleton("never", Contact::default(), singleton, || async {})
        .unwrap();
    assert_eq!(stop_reason(&handle).await, StopReason::RetriesExhausted);
    proxy.set_mode(Mode::Pass);
    r.shutdown().await.unwrap();
    proxy.shutdown().await;
    cluster.shutdown().await;
}

/// A one-shot HTTP server that records request lines and answers every
/// request with an empty KV 404.
async fn recording_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0_u8; 8192];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    if head.windows(4).any(|w| w == b"\r\n\r\n") {
                        let text = String::from_utf8_lossy(&head).into_owned();
                        let _ = tx.send(text.lines().next().unwrap_or_default().to_owned());
                        let answer = "HTTP/1.1 404 Not Found\r\nX-Consul-Index: 7\r\nX-Consul-Knownleader: true\r\nX-Consul-Lastcontact: 0\r\nContent-Length: 0\r\n\r\n";
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                        head.clear();
                    }
                }
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn consistency_modes_reach_the_wire() {
    let (url, mut lines) = recording_server().await;
    let client = consuela::client::Client::new(ClientConfig::new(url)).unwrap();
    let directory = Directory::new(client, "wire").unwrap();
    for (mode, query) in [
        (Consistency::Default, " "),
        (Consistency::Consistent, "?consistent "),
        (Consistency::Stale, "?stale "),
    ] {
        let found = directory.whereis_with("x", mode).await.unwrap();
        assert_eq!(found, None);
        let line = lines.recv().await.unwrap();
        assert!(
            line.starts_with(&format!("GET /v1/kv/wire/x{query}")),
            "{mode:?}: {line}"
        );
    }
}

#[cfg(feature = "metrics")]
mod metrics_feature {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
        Recorder, SharedString, Unit,
    };

    use super::*;

    /// Sums of every counter, last value of every gauge, sample count of every histogram.
    #[derive(Clone, Default)]
    struct Figures(Arc<Mutex<BTreeMap<String, f64>>>);

    struct Handle(Figures, String);

    impl Figures {
        fn get(&self, name: &str) -> f64 {
            self.0.lock().unwrap().get(name).copied().unwrap_or(0.0)
        }

        fn add(&self, name: &str, v: f64) {
            *self.0.lock().unwrap().entry(name.to_owned()).or_default() += v;
        }

        fn set(&self, name: &str, v: f64) {
            self.0.lock().unwrap().insert(name.to_owned(), v);
        }
    }

    impl CounterFn for Handle {
        fn increment(&self, value: u64) {
            self.0.add(&self.1, value as f64);
        }
        fn absolute(&self, value: u64) {
            self.0.set(&self.1, value as f64);
        }
    }

    impl GaugeFn for Handle {
        fn increment(&self, value: f64) {
            self.0.add(&self.1, value);
        }
        fn decrement(&self, value: f64) {
            self.0.add(&self.1, -value);
        }
        fn set(&self, value: f64) {
            self.0.set(&self.1, value);
        }
    }

    impl HistogramFn for Handle {
        fn record(&self, _: f64) {
            self.0.add(&self.1, 1.0);
        }
    }

    impl Recorder for Figures {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Handle(self.clone(), key.name().to_owned())))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(Arc::new(Handle(self.clone(), key.name().to_owned())))
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::new(Handle(self.clone(), key.name().to_owned())))
        }
    }

    #[tokio::test]
    async fn the_metrics_feature_records_what_it_documents() {
        let figures = Figures::default();
        // The only test that installs a recorder; others only add to its sums.
        metrics::set_global_recorder(figures.clone()).expect("no recorder yet");
        let cluster = Cluster::start().await;
        let ns = namespace("metrics");
        let a = cluster.registry(0, &ns).await;
        let b = cluster.registry(1, &ns).await;
        let held = a.register("m", Contact::default()).await.unwrap();
        assert!(
            b.register("m", Contact::default())
                .await
                .unwrap_err()
                .is_conflict()
        );
        held.unregister().await.unwrap();
        wait_until(SOON, "a renew is recorded", || async {
            figures.get("consuela_renew_seconds") >= 1.0
        })
        .await;
        for name in [
            "consuela_registrations_total",
            "consuela_register_seconds",
            "consuela_conflicts_total",
            "consuela_unregister_seconds",
        ] {
            assert!(figures.get(name) >= 1.0, "{name} was not recorded");
        }
        a.shutdown().await.unwrap();
        b.shutdown().await.unwrap();
        cluster.shutdown().await;
    }
}
