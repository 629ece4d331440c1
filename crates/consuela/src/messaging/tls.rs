//! The rustls configurations of `[messaging.tls]`: the endpoint's server
//! side here, the deliveries' client side through `consuela-client`'s.

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{ConfigError, MessagingTlsConfig};

/// The endpoint's TLS: this member's certificate, and with a CA the client
/// certificates it accepts (required with `verify_incoming`).
pub(crate) fn server_config(tls: &MessagingTlsConfig) -> Result<rustls::ServerConfig, ConfigError> {
    let chain: Vec<CertificateDer<'static>> = pem_certificates(&tls.cert_file)?;
    let key = PrivateKeyDer::from_pem_slice(&read(&tls.key_file)?)
        .map_err(|_| invalid(&tls.key_file, "holds no PKCS#8, PKCS#1 or SEC1 private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::MessagingTls(e.to_string()))?;
    let builder = match &tls.ca_file {
        None => versions.with_no_client_auth(),
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in pem_certificates(ca_file)? {
                roots
                    .add(ca)
                    .map_err(|e| invalid(ca_file, &format!("holds an unusable CA: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match tls.verify_incoming {
                true => verifier,
                false => verifier.allow_unauthenticated(),
            };
            versions.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| ConfigError::MessagingTls(e.to_string()))?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid(&tls.key_file, &format!("does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let all = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid(path, "is not valid PEM"))?;
    if all.is_empty() {
        return Err(invalid(path, "holds no PEM certificate"));
    }
    Ok(all)
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| invalid(path, &format!("cannot be read: {e}")))
}

fn invalid(path: &Path, reason: &str) -> ConfigError {
    ConfigError::MessagingTls(format!("{} {reason}", path.display()))
}
