//! HTTPS for the dev server: [`DevServerTls`], as a Consul agent's `cert_file`, `key_file`,
//! `ca_file` and `verify_incoming_https`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Error;

/// TLS settings of a dev server's listener.
///
/// The certificate and key are PEM (the key PKCS#8, PKCS#1 or SEC1). With a client CA,
/// client certificates signed by it are accepted; with [`verify_incoming`](Self::verify_incoming)
/// as well, a client without one is refused during the handshake, as Consul's
/// `verify_incoming` does. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct DevServerTls {
    /// The server's certificate chain (PEM).
    pub cert_pem: Vec<u8>,
    /// The server's private key (PEM).
    pub key_pem: Vec<u8>,
    /// CAs whose client certificates are accepted (PEM). Default none.
    pub client_ca_pem: Option<Vec<u8>>,
    /// Refuse clients without a certificate signed by `client_ca_pem`. Default `false`.
    pub verify_incoming: bool,
}

impl DevServerTls {
    /// A server certificate and key, as PEM; no client certificates asked for.
    pub fn new(cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
            client_ca_pem: None,
            verify_incoming: false,
        }
    }

    /// Reads the certificate and key files.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a file cannot be read (the message names it).
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, Error> {
        Ok(Self::new(read(cert)?, read(key)?))
    }

    /// Accepts client certificates signed by these CAs (PEM).
    #[must_use]
    pub fn with_client_ca(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.client_ca_pem = Some(pem.into());
        self
    }

    /// Reads the client CA file (see [`with_client_ca`](Self::with_client_ca)).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read.
    pub fn with_client_ca_file(self, path: &Path) -> Result<Self, Error> {
        Ok(self.with_client_ca(read(path)?))
    }

    /// Requires a client certificate (Consul's `verify_incoming`).
    #[must_use]
    pub fn verify_incoming(mut self, verify: bool) -> Self {
        self.verify_incoming = verify;
        self
    }

    /// The rustls server configuration.
    pub(crate) fn server_config(&self) -> Result<rustls::ServerConfig, Error> {
        let bad = |what: &str| Error::Tls(what.to_owned());
        let chain = CertificateDer::pem_slice_iter(&self.cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("the certificate is not valid PEM"))?;
        if chain.is_empty() {
            return Err(bad("no PEM certificate in the certificate file"));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|_| bad("no PKCS#8, PKCS#1 or SEC1 private key in the key file"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let builder = match &self.client_ca_pem {
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in CertificateDer::pem_slice_iter(pem) {
                    let ca = ca.map_err(|_| bad("the client CA is not valid PEM"))?;
                    roots
                        .add(ca)
                        .map_err(|e| Error::Tls(format!("unusable client CA: {e}")))?;
                }
                if roots.is_empty() {
                    return Err(bad("no PEM certificate in the client CA file"));
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if self.verify_incoming {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier.build().map_err(|e| Error::Tls(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None if self.verify_incoming => {
                return Err(bad("verify_incoming needs a client CA"));
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| Error::Tls(format!("the key does not fit the certificate: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot read {}: {e}", path.display()),
        ))
    })
}

impl fmt::Debug for DevServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevServerTls")
            .field("cert_pem", &self.cert_pem.len())
            .field("key_pem", &"<redacted>")
            .field("client_ca_pem", &self.client_ca_pem.as_ref().map(Vec::len))
            .field("verify_incoming", &self.verify_incoming)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_PEM: &[u8] = b"-----BEGIN PRIVATE KEY-----\nS3CR3T\n-----END PRIVATE KEY-----\n";

    #[test]
    fn unusable_settings_are_errors_that_quote_no_key() {
        let cases = [
            DevServerTls::new(b"no certificate".to_vec(), NOT_PEM.to_vec()),
            DevServerTls::new(Vec::new(), Vec::new()).verify_incoming(true),
            DevServerTls::new(NOT_PEM.to_vec(), NOT_PEM.to_vec()).with_client_ca(NOT_PEM.to_vec()),
        ];
        for tls in cases {
            let error = tls.server_config().unwrap_err();
            assert!(matches!(error, Error::Tls(_)), "{error:?}");
            let text = format!("{error} {error:?} {tls:?}");
            assert!(!text.contains("S3CR3T"), "{text}");
        }
        let error =
            DevServerTls::from_files(Path::new("/nonexistent/c.pem"), Path::new("/k")).unwrap_err();
        assert!(error.to_string().contains("I/O"), "{error}");
    }
}
