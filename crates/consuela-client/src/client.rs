//! [`Client`]: configuration, request execution, status mapping, events.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::config::{ClientConfig, RequestHook, Token};
use crate::error::{ConfigError, Error, ErrorKind, Outcome};
use crate::event::RequestEvent;
use crate::query::{QueryMeta, QueryOptions, QueryResponse};
use crate::request::{Query, parse_endpoint};
use crate::transport::{
    HttpRequest, HttpResponse, HttpTransport, Transport, TransportError, TransportErrorKind,
};

/// An async Consul HTTP client.
///
/// Cheap to clone (an `Arc` inside); clones share the connection pool. Endpoint groups are
/// reached through [`session`](Self::session), [`kv`](Self::kv), [`txn`](Self::txn),
/// [`agent`](Self::agent), [`catalog`](Self::catalog), [`health`](Self::health) and
/// [`status`](Self::status) (defined with the groups, in [`api`](crate::api)).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    /// `base` parsed once; each request clones it and sets path and query, which is cheaper
    /// than parsing a whole URL string per request.
    base_url: Url,
    /// The path part of `base` (empty, or e.g. `/consul` behind a reverse proxy).
    base_path: String,
    token: Option<HeaderValue>,
    /// `Authorization: Basic …`, marked sensitive.
    http_auth: Option<HeaderValue>,
    datacenter: Option<String>,
    namespace: Option<String>,
    partition: Option<String>,
    request_timeout: Duration,
    transport: Arc<dyn Transport>,
    /// `max_connections` as permits; `None` without a limit.
    slots: Option<Arc<tokio::sync::Semaphore>>,
    max_response_size: Option<usize>,
    hook: Option<RequestHook>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.inner.base)
            .field("token", &self.inner.token.as_ref().map(|_| "<redacted>"))
            .field(
                "http_auth",
                &self.inner.http_auth.as_ref().map(|_| "<redacted>"),
            )
            .field("datacenter", &self.inner.datacenter)
            .field("namespace", &self.inner.namespace)
            .field("partition", &self.inner.partition)
            .field("request_timeout", &self.inner.request_timeout)
            .field("transport", &self.inner.transport)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client over the default HTTP transport.
    ///
    /// Reads `token_file` and the TLS files (CA file, CA path, client certificate and key), if
    /// configured; reads nothing from the environment.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for an invalid address, an unreadable token file, an unreadable or
    /// malformed CA, certificate or key, a certificate without its key, or a token or basic-auth
    /// credentials that cannot be sent as a header.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let transport = HttpTransport::new(&config)?;
        Self::with_transport(config, transport)
    }

    /// Builds a client over a custom [`Transport`] (for fault injection in tests).
    ///
    /// # Errors
    ///
    /// As [`Client::new`], except for TLS settings, which the transport owns.
    pub fn with_transport(config: ClientConfig, transport: impl Transport) -> Result<Self, Error> {
        let endpoint = parse_endpoint(&config.address)?;
        let base = endpoint.base;
        let mut token = config.token.clone();
        if let Some(path) = &config.token_file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
                path: path.clone(),
                source,
            })?;
            let text = text.trim();
            if !text.is_empty() {
                token = Some(Token::new(text));
            }
        }
        let token = match token.filter(|token| !token.expose().is_empty()) {
            Some(token) => {
                let mut value =
                    HeaderValue::from_str(token.expose()).map_err(|_| ConfigError::Token)?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let http_auth = match &config.http_auth {
            Some(auth) => {
                use base64::Engine as _;
                let credentials = format!("{}:{}", auth.username(), auth.expose_password());
                let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| ConfigError::HttpAuth)?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let base_url = Url::parse(&base).map_err(|error| ConfigError::Address {
            address: base.clone(),
            reason: error.to_string(),
        })?;
        let base_path = base_url.path().trim_end_matches('/').to_owned();
        Ok(Self {
            inner: Arc::new(Inner {
                base: endpoint.display,
                base_url,
                base_path,
                token,
                http_auth,
                datacenter: config.datacenter.filter(|dc| !dc.is_empty()),
                namespace: config.namespace.filter(|ns| !ns.is_empty()),
                partition: config.partition.filter(|p| !p.is_empty()),
                request_timeout: config.request_timeout,
                transport: Arc::new(transport),
                slots: config
                    .max_connections
                    .map(|n| Arc::new(tokio::sync::Semaphore::new(n.max(1)))),
                max_response_size: config.max_response_size,
                hook: config.on_request,
            }),
        })
    }

    /// The agent's address, e.g. `http://127.0.0.1:8500` or `unix:///run/consul/http.sock`.
    pub fn address(&self) -> &str {
        &self.inner.base
    }

    /// The request timeout for non-blocking requests.
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// Executes `call`. Statuses in `answers` (besides 2xx) are returned as responses rather than
    /// errors, because the endpoint uses them as definite answers (404 on a KV read, 409 on a txn).
    pub(crate) async fn send(&self, call: Call, answers: &[u16]) -> Result<Response, Error> {
        let Call {
            method,
            path,
            mut query,
            body,
            json,
            hold,
            dc,
        } = call;
        if let Some(datacenter) = self.inner.datacenter.as_deref().filter(|_| dc) {
            query.pair("dc", datacenter);
        }
        // As Consul's Go client: on every request, agent endpoints included.
        if let Some(namespace) = &self.inner.namespace {
            query.pair("ns", namespace);
        }
        if let Some(partition) = &self.inner.partition {
            query.pair("partition", partition);
        }
        let mut url = self.inner.base_url.clone();
        if self.inner.base_path.is_empty() {
            url.set_path(&path);
        } else {
            url.set_path(&format!("{}{path}", self.inner.base_path));
        }
        if !query.as_str().is_empty() {
            url.set_query(Some(query.as_str()));
        }
        let mut headers = HeaderMap::new();
        if let Some(token) = &self.inner.token {
            headers.insert("x-consul-token", token.clone());
        }
        if let Some(auth) = &self.inner.http_auth {
            headers.insert(reqwest::header::AUTHORIZATION, auth.clone());
        }
        if json {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let request = HttpRequest {
            method: method.clone(),
            url,
            headers,
            body,
            timeout: self.inner.request_timeout + hold,
        };
        let started = Instant::now();
        let result = match &self.inner.slots {
            None => self.inner.transport.send(request).await,
            Some(slots) => {
                // The wait for a slot counts against the request's own timeout.
                let timeout = request.timeout;
                match tokio::time::timeout(timeout, slots.clone().acquire_owned()).await {
                    Ok(Ok(_slot)) => {
                        let left = timeout.saturating_sub(started.elapsed());
                        let request = HttpRequest {
                            timeout: left,
                            ..request
                        };
                        self.inner.transport.send(request).await
                    }
                    _ => Err(TransportError::new(
                        TransportErrorKind::Busy,
                        "every connection slot stayed taken",
                    )),
                }
            }
        };
        let result = result.and_then(|response| match self.inner.max_response_size {
            Some(limit) if response.body.len() > limit => Err(TransportError::too_large(limit)),
            _ => Ok(response),
        });
        let latency = started.elapsed();
        let result = match result {
            Ok(response)
                if response.status.is_success() || answers.contains(&response.status.as_u16()) =>
            {
                Ok(response)
            }
            Ok(response) => Err(Error::from_status(response.status, &response.body)),
            Err(error) => Err(error.into_error()),
        };
        let (status, outcome, error_kind) = match &result {
            Ok(response) => (Some(response.status.as_u16()), Outcome::Done, None),
            Err(error) => (
                error.status().map(|status| status.as_u16()),
                error.outcome(),
                Some(error.kind()),
            ),
        };
        tracing::debug!(
            method = %method,
            path = %path,
            status,
            latency_us = latency.as_micros() as u64,
            outcome = outcome.as_str(),
            "consul request"
        );
        if let Some(hook) = &self.inner.hook {
            hook.call(&RequestEvent {
                method: &method,
                path: &path,
                status,
                latency,
                outcome,
                error: error_kind,
                blocking: !hold.is_zero(),
            });
        }
        match result {
            Ok(http) => Ok(Response { http, method, path }),
            Err(error) => Err(error.with_request(method.as_str(), &path)),
        }
    }

    /// A read: sends `call` with `opts` and decodes a JSON body with its metadata.
    pub(crate) async fn read<T: DeserializeOwned>(
        &self,
        mut call: Call,
        opts: QueryOptions,
    ) -> Result<QueryResponse<T>, Error> {
        call.read_options(opts);
        let response = self.send(call, &[]).await?;
        let meta = response.meta();
        Ok(QueryResponse::new(response.json()?, meta))
    }
}

/// One request to execute.
#[derive(Debug)]
pub(crate) struct Call {
    method: Method,
    path: String,
    pub(crate) query: Query,
    body: Option<Bytes>,
    json: bool,
    /// Extra time the server may hold the request (blocking queries).
    hold: Duration,
    /// Whether `?dc=` applies (not for agent-local endpoints).
    dc: bool,
}

impl Call {
    pub(crate) fn new(method: Method, path: String) -> Self {
        let dc = !path.starts_with("/v1/agent/");
        Self {
            method,
            path,
            query: Query::new(),
            body: None,
            json: false,
            hold: Duration::ZERO,
            dc,
        }
    }

    pub(crate) fn get(path: String) -> Self {
        Self::new(Method::GET, path)
    }

    pub(crate) fn put(path: String) -> Self {
        Self::new(Method::PUT, path)
    }

    pub(crate) fn delete(path: String) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// Sets a raw body (sent with `Content-Length`).
    pub(crate) fn body(mut self, body: Bytes) -> Self {
        self.body = Some(body);
        self.json = false;
        self
    }

    /// Sets a JSON body.
    pub(crate) fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value).map_err(|source| {
            Error::new(ErrorKind::InvalidInput)
                .with_source(source)
                .with_request(self.method.as_str(), &self.path)
        })?;
        self.body = Some(Bytes::from(body));
        self.json = true;
        Ok(self)
    }

    /// Adds consistency and blocking parameters, and extends the timeout for blocking reads.
    pub(crate) fn read_options(&mut self, opts: QueryOptions) {
        opts.apply(&mut self.query);
        self.hold = opts.max_server_hold();
    }
}

/// A response whose status the endpoint defines.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) http: HttpResponse,
    method: Method,
    path: String,
}

impl Response {
    pub(crate) fn status(&self) -> StatusCode {
        self.http.status
    }

    pub(crate) fn meta(&self) -> QueryMeta {
        QueryMeta::from_headers(&self.http.headers)
    }

    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.http.body).map_err(|source| {
            Error::new(ErrorKind::Decode)
                .with_status(self.http.status)
                .with_source(source)
                .with_request(self.method.as_str(), &self.path)
        })
    }

    /// Decodes a `true`/`false` body.
    pub(crate) fn bool(&self) -> Result<bool, Error> {
        self.json()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use consuela_wire::{Index, SessionId};
    use futures_util::future::BoxFuture;

    use super::*;
    use crate::PutOptions;
    use crate::transport::TransportError;

    /// A scripted answer: status, headers, body.
    type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

    /// Records requests and answers from a script.
    #[derive(Debug, Default)]
    struct Scripted {
        requests: Mutex<Vec<HttpRequest>>,
        answers: Mutex<Vec<Answer>>,
    }

    #[derive(Debug, Clone)]
    struct Shared(Arc<Scripted>);

    impl Transport for Shared {
        fn send(
            &self,
            request: HttpRequest,
        ) -> BoxFuture<'static, Result<HttpResponse, TransportError>> {
            self.0.requests.lock().unwrap().push(request);
            let (status, headers, body) = self.0.answers.lock().unwrap().remove(0);
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.insert(name, HeaderValue::from_static(value));
            }
            let response = HttpResponse::new(
                StatusCode::from_u16(status).unwrap(),
                map,
                Bytes::from_static(body.as_bytes()),
            );
            Box::pin(async move { Ok(response) })
        }
    }

    fn scripted(config: ClientConfig, answers: Vec<Answer>) -> (Client, Arc<Scripted>) {
        let script = Arc::new(Scripted {
            requests: Mutex::default(),
            answers: Mutex::new(answers),
        });
        let client = Client::with_transport(config, Shared(script.clone())).unwrap();
        (client, script)
    }

    #[tokio::test]
    async fn requests_carry_token_dc_and_extended_timeouts() {
        let config = ClientConfig::new("127.0.0.1:8500/consul/")
            .token("secret")
            .datacenter("dc9")
            .request_timeout(Duration::from_secs(2));
        let (client, script) = scripted(
            config,
            vec![
                (200, vec![("X-Consul-Index", "12")], "[]"),
                (200, vec![], "true\n"),
                (200, vec![], ""),
            ],
        );
        let got = client
            .kv()
            .list(
                "a b/",
                QueryOptions::blocking(Index(11), Duration::from_secs(16)),
            )
            .await
            .unwrap();
        assert_eq!(got.index, Index(12));
        let session = SessionId::new("s 1");
        let opts = PutOptions {
            flags: 3,
            acquire: Some(session),
            ..PutOptions::default()
        };
        assert!(client.kv().put("a", &b"v"[..], opts).await.unwrap());
        client
            .agent()
            .pass_check(&"service:web".into(), Some("ok & fine"))
            .await
            .unwrap();

        let requests = script.requests.lock().unwrap();
        let list = &requests[0];
        assert_eq!(list.method, Method::GET);
        assert_eq!(
            list.url.as_str(),
            "http://127.0.0.1:8500/consul/v1/kv/a%20b/?recurse&index=11&wait=16000ms&dc=dc9"
        );
        assert_eq!(list.timeout, Duration::from_secs(2 + 17));
        let token = list.headers.get("x-consul-token").unwrap();
        assert_eq!(token, "secret");
        assert!(token.is_sensitive());
        let put = &requests[1];
        assert_eq!(
            put.url.as_str(),
            "http://127.0.0.1:8500/consul/v1/kv/a?flags=3&acquire=s%201&dc=dc9"
        );
        assert_eq!(put.body.as_deref(), Some(&b"v"[..]));
        assert_eq!(put.timeout, Duration::from_secs(2));
        let pass = &requests[2];
        assert_eq!(
            pass.url.as_str(),
            "http://127.0.0.1:8500/consul/v1/agent/check/pass/service%3Aweb?note=ok%20%26%20fine",
            "agent endpoints take no dc"
        );
    }

    #[tokio::test]
    async fn unexpected_answers_become_typed_errors() {
        let (client, _) = scripted(
            ClientConfig::default(),
            vec![
                (418, vec![], "teapot"),
                (200, vec![], "not json"),
                (301, vec![("Location", "/v1/kv/a")], ""),
                (503, vec![], "unavailable"),
            ],
        );
        let error = client.status().leader().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnexpectedStatus);
        assert_eq!(error.consul_message(), Some("teapot"));
        let error = client.status().leader().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Decode);
        assert_eq!(error.outcome(), Outcome::Unknown);
        assert!(std::error::Error::source(&error).is_some());
        let error = client
            .kv()
            .delete("a", crate::DeleteOptions::default())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnexpectedStatus);
        let error = client
            .session()
            .destroy(&SessionId::new("x"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        assert_eq!(error.outcome(), Outcome::Failed);
        assert_eq!(error.request(), Some("PUT /v1/session/destroy/x"));
    }

    #[test]
    fn bad_ca_and_address_are_config_errors() {
        let mut config = ClientConfig::new("https://127.0.0.1:8501");
        config.tls.ca_pem = Some(b"not a certificate".to_vec());
        let error = Client::new(config).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{error}");
        let mut config = ClientConfig::new("https://127.0.0.1:8501");
        config.tls.ca_file = Some("/nonexistent/consuela-ca.pem".into());
        let error = Client::new(config).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{error}");
        let error = Client::new(ClientConfig::new("ftp://x")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        let error = Client::new(ClientConfig::new("http://x").token("bad\ntoken")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
    }

    #[test]
    fn debug_is_redacted() {
        let client = Client::new(ClientConfig::default().token("hunter2")).unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
