//! Global flags, and how they, the environment and `--config` become a
//! [`consuela::Config`] and a running [`Registry`].
//!
//! Precedence, lowest first: defaults, the `--config` file, the standard
//! `CONSUL_*` variables (as the Consul CLI reads them), command-line flags.
//! The README's connection table lists each variable, flag and key.

use std::path::PathBuf;

use anyhow::{Context, bail};
use consuela::event::{Pulse, TracingPulse};
use consuela::{Config, Directory, Registry, client::Client, client::ClientConfig, config::OnLost};

/// The namespace used when neither `--namespace` nor the config file sets one.
pub(crate) const DEFAULT_NAMESPACE: &str = "consuela";

/// Flags every command that talks to Consul accepts, before the command
/// (`consuela --consul URL ls`) or after it (`consuela ls --consul URL`).
///
/// Not clap-`global`: `consuela dev` and `consuela demo` talk to no given
/// Consul, so these stay out of their help.
#[derive(Clone, Default, clap::Args)]
#[command(next_help_heading = "Consul")]
pub(crate) struct GlobalArgs {
    /// Consul agent address: http://HOST:PORT, https://HOST:PORT, HOST:PORT
    /// or unix:///PATH (default: CONSUL_HTTP_ADDR, then `consul.url` in
    /// --config, then http://127.0.0.1:8500).
    #[arg(long, visible_alias = "http-addr", value_name = "URL")]
    consul: Option<String>,
    /// ACL token (default: CONSUL_HTTP_TOKEN).
    #[arg(long, value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the ACL token (default: CONSUL_HTTP_TOKEN_FILE).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// HTTP basic authentication, USER:PASSWORD (default: CONSUL_HTTP_AUTH).
    #[arg(long, value_name = "USER:PASSWORD", hide_env_values = true)]
    http_auth: Option<String>,
    /// PEM file with the CAs that sign Consul's certificate (default:
    /// CONSUL_CACERT).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Directory of PEM files with trusted CAs (default: CONSUL_CAPATH).
    #[arg(long, value_name = "DIR")]
    ca_path: Option<PathBuf>,
    /// Client certificate (PEM) for agents with verify_incoming (default:
    /// CONSUL_CLIENT_CERT).
    #[arg(long, value_name = "FILE")]
    client_cert: Option<PathBuf>,
    /// The client certificate's key: PKCS#8, RSA or EC PEM (default:
    /// CONSUL_CLIENT_KEY).
    #[arg(long, value_name = "FILE")]
    client_key: Option<PathBuf>,
    /// Check Consul's certificate against this name instead of the URL's
    /// host (default: CONSUL_TLS_SERVER_NAME).
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
    /// Do not check Consul's certificate (CONSUL_HTTP_SSL_VERIFY=false);
    /// only for tests.
    #[arg(long)]
    tls_skip_verify: bool,
    /// Key prefix of every name: names live at NAMESPACE/NAME [default:
    /// consuela]. Not Consul's namespace (--consul-namespace).
    #[arg(long, visible_alias = "prefix", value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// Consul Enterprise namespace, sent as ?ns= (default: CONSUL_NAMESPACE).
    #[arg(long, value_name = "NS")]
    consul_namespace: Option<String>,
    /// Consul Enterprise admin partition, sent as ?partition= (default:
    /// CONSUL_PARTITION).
    #[arg(long, value_name = "PARTITION")]
    partition: Option<String>,
    /// A consuela.toml with any option of the library's Config (`nodename`
    /// and `namespace` may be left out).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Consul node the session binds to (default: the agent's own node).
    #[arg(long = "nodename", value_name = "NODE")]
    node: Option<String>,
    /// This member's name, stored with every registration (default: HOSTNAME-PID).
    #[arg(long, value_name = "MEMBER")]
    member: Option<String>,
    /// Datacenter sent as ?dc= (default: `consul.datacenter` in --config,
    /// then the agent's own).
    #[arg(long, value_name = "DC")]
    datacenter: Option<String>,
}

impl std::fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token and the basic-auth password are summarised, never shown.
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("GlobalArgs")
            .field("consul", &self.consul)
            .field("token", &redacted(&self.token))
            .field("token_file", &self.token_file)
            .field("http_auth", &redacted(&self.http_auth))
            .field("ca_file", &self.ca_file)
            .field("ca_path", &self.ca_path)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("tls_server_name", &self.tls_server_name)
            .field("tls_skip_verify", &self.tls_skip_verify)
            .field("namespace", &self.namespace)
            .field("consul_namespace", &self.consul_namespace)
            .field("partition", &self.partition)
            .field("config", &self.config)
            .field("node", &self.node)
            .field("member", &self.member)
            .field("datacenter", &self.datacenter)
            .finish()
    }
}

impl GlobalArgs {
    /// These flags, overridden by the ones given after the command.
    pub(crate) fn with(&self, after: &Self) -> Self {
        fn pick<T: Clone>(after: &Option<T>, before: &Option<T>) -> Option<T> {
            after.clone().or_else(|| before.clone())
        }
        Self {
            consul: pick(&after.consul, &self.consul),
            token: pick(&after.token, &self.token),
            token_file: pick(&after.token_file, &self.token_file),
            http_auth: pick(&after.http_auth, &self.http_auth),
            ca_file: pick(&after.ca_file, &self.ca_file),
            ca_path: pick(&after.ca_path, &self.ca_path),
            client_cert: pick(&after.client_cert, &self.client_cert),
            client_key: pick(&after.client_key, &self.client_key),
            tls_server_name: pick(&after.tls_server_name, &self.tls_server_name),
            tls_skip_verify: after.tls_skip_verify || self.tls_skip_verify,
            namespace: pick(&after.namespace, &self.namespace),
            consul_namespace: pick(&after.consul_namespace, &self.consul_namespace),
            partition: pick(&after.partition, &self.partition),
            config: pick(&after.config, &self.config),
            node: pick(&after.node, &self.node),
            member: pick(&after.member, &self.member),
            datacenter: pick(&after.datacenter, &self.datacenter),
        }
    }

    /// The configuration these flags, the environment and the config file
    /// describe. The node name is asked from the agent when nothing sets it.
    pub(crate) async fn config(&self) -> anyhow::Result<Config> {
        self.config_with(|name| std::env::var(name).ok()).await
    }

    async fn config_with(&self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let mut table = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("invalid configuration in {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        // Placeholders, so that a file may leave out the two required keys.
        let nodename_known = self.node.is_some() || table.contains_key("nodename");
        table.entry("nodename").or_insert_with(|| "unknown".into());
        table
            .entry("namespace")
            .or_insert_with(|| DEFAULT_NAMESPACE.into());
        let mut config =
            Config::from_toml(&toml::to_string(&table)?).with_context(|| match &self.config {
                Some(path) => format!("invalid configuration in {}", path.display()),
                None => "invalid configuration".to_owned(),
            })?;

        // The standard Consul variables, read as the Consul CLI reads them.
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let from_env = ClientConfig::from_env_with(&env).context("invalid CONSUL_* variable")?;
        let consul = &mut config.consul;
        if set("CONSUL_HTTP_ADDR").is_some() || set("CONSUL_HTTP_SSL").is_some() {
            consul.url = Some(from_env.address.clone());
        }
        if let Some(file) = from_env.token_file {
            consul.token_file = Some(file);
            consul.token = None;
        } else if let Some(token) = from_env.token {
            consul.token = Some(token.expose().to_owned());
            consul.token_file = None;
        }
        if let Some(auth) = set("CONSUL_HTTP_AUTH") {
            consul.http_auth = Some(auth);
        }
        let tls = from_env.tls;
        if let Some(ca) = tls.ca_file {
            consul.tls.ca_file = Some(ca);
            consul.ca_file = None;
        }
        set_some(&mut consul.tls.ca_path, tls.ca_path);
        set_some(&mut consul.tls.cert_file, tls.client_cert);
        set_some(&mut consul.tls.key_file, tls.client_key);
        set_some(&mut consul.tls.server_name, tls.server_name);
        if set("CONSUL_HTTP_SSL_VERIFY").is_some() {
            consul.tls.verify = !tls.danger_accept_invalid_certs;
        }
        set_some(&mut consul.namespace, from_env.namespace);
        set_some(&mut consul.partition, from_env.partition);

        // Flags win.
        if let Some(url) = &self.consul {
            // As the Consul CLI: CONSUL_HTTP_SSL=true makes a scheme-less
            // -http-addr https too.
            let ssl = set("CONSUL_HTTP_SSL")
                .is_some_and(|v| matches!(v.trim(), "1" | "t" | "T" | "TRUE" | "true" | "True"));
            consul.url = Some(match url.split_once("://") {
                Some((scheme, rest)) if ssl && scheme.eq_ignore_ascii_case("http") => {
                    format!("https://{rest}")
                }
                None if ssl => format!("https://{url}"),
                _ => url.clone(),
            });
        }
        if let Some(token) = &self.token {
            consul.token = Some(token.clone());
            consul.token_file = None;
        } else if let Some(file) = &self.token_file {
            consul.token_file = Some(file.clone());
            consul.token = None;
        }
        set_some(&mut consul.http_auth, self.http_auth.clone());
        if let Some(ca) = &self.ca_file {
            consul.tls.ca_file = Some(ca.clone());
            consul.ca_file = None;
        }
        set_some(&mut consul.tls.ca_path, self.ca_path.clone());
        set_some(&mut consul.tls.cert_file, self.client_cert.clone());
        set_some(&mut consul.tls.key_file, self.client_key.clone());
        set_some(&mut consul.tls.server_name, self.tls_server_name.clone());
        if self.tls_skip_verify {
            consul.tls.verify = false;
        }
        set_some(&mut consul.namespace, self.consul_namespace.clone());
        set_some(&mut consul.partition, self.partition.clone());
        set_some(&mut consul.datacenter, self.datacenter.clone());
        if let Some(namespace) = &self.namespace {
            config.namespace.clone_from(namespace);
        }
        if let Some(member) = &self.member {
            config.member = Some(member.clone());
        }
        if config.consul.url.is_none() {
            config.consul.url = Some("http://127.0.0.1:8500".to_owned());
        }
        match &self.node {
            Some(node) => config.nodename.clone_from(node),
            None if !nodename_known => config.nodename = agent_node(&config).await?,
            None => {}
        }
        // The CLI stops its command itself on loss; never exit underneath it.
        config.on_lost = OnLost::Stop;
        config.validate().context("invalid configuration")
    }

    /// Session-less read access to the namespace.
    pub(crate) async fn directory(&self) -> anyhow::Result<Directory> {
        let config = self.config().await?;
        let url = config.consul_url();
        let client = Client::new(config.client_config())
            .with_context(|| format!("invalid Consul settings for {url}"))?;
        Directory::new(client, &config.namespace).context("invalid namespace")
    }

    /// Starts a registry (one Consul session), with a last change to the
    /// configuration and an event handler next to the tracing one.
    pub(crate) async fn registry_with(
        &self,
        change: impl FnOnce(&mut Config),
        pulse: impl Pulse,
    ) -> anyhow::Result<Registry> {
        let mut config = self.config().await?;
        // A command's names have no mailbox: a file shared with the
        // application must not make every `consuela run` bind its endpoint.
        config.messaging = None;
        change(&mut config);
        let config = config.validate().context("invalid configuration")?;
        let url = config.consul_url();
        Registry::builder(config)
            .pulse(TracingPulse)
            .pulse(pulse)
            .start()
            .await
            .with_context(|| format!("cannot start a session with Consul at {url}"))
    }
}

/// Replaces `slot` when `value` is set.
fn set_some<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

/// The node name of the agent the config points at.
async fn agent_node(config: &Config) -> anyhow::Result<String> {
    let url = config.consul_url();
    let client = Client::new(config.client_config())
        .with_context(|| format!("invalid Consul settings for {url}"))?;
    let me = client
        .agent()
        .self_()
        .await
        .with_context(|| format!("cannot reach Consul at {url}"))?;
    let node = me.config.node_name.to_string();
    if node.is_empty() {
        bail!("Consul at {url} did not say its node name; pass --node");
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[tokio::test]
    async fn flags_beat_environment_beat_file() {
        let dir = std::env::temp_dir().join(format!("consuela-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "nodename = \"n1\"\nnamespace = \"file\"\n[consul]\nurl = \"http://file:8500\"\ntoken = \"f\"\n",
        )
        .unwrap();
        let args = GlobalArgs {
            config: Some(file),
            ..GlobalArgs::default()
        };
        let env = |name: &str| match name {
            "CONSUL_HTTP_ADDR" => Some("env:8500".to_owned()),
            "CONSUL_HTTP_TOKEN" => Some("e".to_owned()),
            _ => None,
        };
        let config = args.config_with(env).await.unwrap();
        assert_eq!(config.consul.url.as_deref(), Some("http://env:8500"));
        assert_eq!(config.consul.token.as_deref(), Some("e"));
        assert_eq!(config.namespace, "file");
        assert_eq!(config.nodename, "n1");

        let args = GlobalArgs {
            consul: Some("http://flag:1".to_owned()),
            namespace: Some("flag".to_owned()),
            node: Some("n2".to_owned()),
            ..args
        };
        let config = args.config_with(env).await.unwrap();
        assert_eq!(config.consul.url.as_deref(), Some("http://flag:1"));
        assert_eq!(config.namespace, "flag");
        assert_eq!(config.nodename, "n2");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn tls_and_enterprise_settings_follow_the_same_precedence() {
        let dir = std::env::temp_dir().join(format!("consuela-cli-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "nodename = \"n1\"\n[consul]\nurl = \"https://file:8501\"\nca_file = \"/file/ca.pem\"\n\
             http_auth = \"file:pw\"\nnamespace = \"file-ns\"\n\
             [consul.tls]\ncert_file = \"/file/c.pem\"\nkey_file = \"/file/k.pem\"\nserver_name = \"file.consul\"\n",
        )
        .unwrap();
        let args = GlobalArgs {
            config: Some(file),
            ..GlobalArgs::default()
        };
        let env = |name: &str| {
            Some(
                match name {
                    "CONSUL_HTTP_ADDR" => "env:8501",
                    "CONSUL_HTTP_SSL" => "true",
                    "CONSUL_CACERT" => "/env/ca.pem",
                    "CONSUL_CLIENT_CERT" => "/env/c.pem",
                    "CONSUL_CLIENT_KEY" => "/env/k.pem",
                    "CONSUL_HTTP_AUTH" => "env:pw",
                    "CONSUL_HTTP_SSL_VERIFY" => "false",
                    "CONSUL_PARTITION" => "env-part",
                    _ => return None,
                }
                .to_owned(),
            )
        };
        let config = args.config_with(env).await.unwrap();
        let consul = &config.consul;
        assert_eq!(consul.url.as_deref(), Some("https://env:8501"));
        assert_eq!(
            consul.tls.ca_file.as_deref(),
            Some(Path::new("/env/ca.pem"))
        );
        assert_eq!(consul.ca_file, None);
        assert_eq!(
            consul.tls.cert_file.as_deref(),
            Some(Path::new("/env/c.pem"))
        );
        assert_eq!(consul.tls.server_name.as_deref(), Some("file.consul"));
        assert!(!consul.tls.verify);
        assert_eq!(consul.http_auth.as_deref(), Some("env:pw"));
        assert_eq!(consul.namespace.as_deref(), Some("file-ns"));
        assert_eq!(consul.partition.as_deref(), Some("env-part"));

        let args = GlobalArgs {
            consul: Some("flag:8501".to_owned()),
            ca_file: Some("/flag/ca.pem".into()),
            client_key: Some("/flag/k.pem".into()),
            tls_server_name: Some("flag.consul".to_owned()),
            consul_namespace: Some("flag-ns".to_owned()),
            http_auth: Some("flag:pw".to_owned()),
            ..args
        };
        let config = args.config_with(env).await.unwrap();
        let consul = &config.consul;
        // CONSUL_HTTP_SSL applies to a scheme-less flag address too.
        assert_eq!(consul.url.as_deref(), Some("https://flag:8501"));
        assert_eq!(
            consul.tls.ca_file.as_deref(),
            Some(Path::new("/flag/ca.pem"))
        );
        assert_eq!(
            consul.tls.cert_file.as_deref(),
            Some(Path::new("/env/c.pem"))
        );
        assert_eq!(
            consul.tls.key_file.as_deref(),
            Some(Path::new("/flag/k.pem"))
        );
        assert_eq!(consul.tls.server_name.as_deref(), Some("flag.consul"));
        assert_eq!(consul.namespace.as_deref(), Some("flag-ns"));
        assert_eq!(consul.http_auth.as_deref(), Some("flag:pw"));
        assert!(!format!("{consul:?}").contains("flag:pw"));
        assert!(!format!("{args:?}").contains("flag:pw"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
