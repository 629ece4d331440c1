//! TLS: the rustls configuration the HTTP transport is built with, and the classification of
//! TLS failures into their one-line causes ([`TlsFailure`](crate::TlsFailure)).
//!
//! The configuration follows Consul's Go client (`api.SetupTLSConfig`): a configured CA
//! replaces the built-in roots, a client certificate needs its key, a server name overrides
//! the host the certificate is checked against, and `danger_accept_invalid_certs` checks
//! nothing but the handshake signatures.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::config::TlsConfig;
use crate::error::{ConfigError, Error, TlsFailure};

/// The cause of a transport failure, if it was TLS: walks the source chain for a
/// [`rustls::Error`] (also inside `std::io::Error`s, whose `source()` skips the error they
/// wrap). `client_cert` says whether a client certificate was configured, which tells a
/// refused certificate from a missing one when the server only says "bad certificate".
pub(crate) fn classify_tls(
    error: &(dyn StdError + 'static),
    client_cert: bool,
) -> Option<TlsFailure> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(error) = next {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(failure(tls, client_cert));
        }
        // An `io::Error` wrapping an error reports that error's source, skipping it: step
        // into it instead (hyper nests them, io inside io).
        next = match error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => error.source(),
        };
    }
    None
}

fn failure(error: &rustls::Error, client_cert: bool) -> TlsFailure {
    use rustls::Error as E;
    match error {
        E::InvalidCertificate(certificate) => match certificate {
            CertificateError::UnknownIssuer => TlsFailure::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::NameMismatch
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsFailure::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsFailure::NotYetValid
            }
            _ => TlsFailure::BadServerCertificate,
        },
        E::AlertReceived(AlertDescription::CertificateRequired) => TlsFailure::CertificateRequired,
        // Go's server answers `bad_certificate` (TLS 1.2) both to a missing and to a refused
        // client certificate; rustls answers `unknown_ca` and the like to a refused one.
        E::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::AccessDenied,
        ) => {
            if client_cert {
                TlsFailure::CertificateRejected
            } else {
                TlsFailure::CertificateRequired
            }
        }
        // The first bytes back are not a TLS record: typically an HTTP answer.
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => TlsFailure::NotTls,
        _ => TlsFailure::Handshake,
    }
}

/// The rustls client configuration of `tls`, as the client's own transport
/// uses it: for other HTTPS clients that must trust and present exactly what
/// the Consul client does.
///
/// # Errors
///
/// [`ErrorKind::Config`](crate::ErrorKind::Config) when a file cannot be read
/// or holds no usable certificate or key.
pub fn client_config(tls: &TlsConfig) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| ConfigError::Tls(Box::new(error)))?;
    let builder = if tls.danger_accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
    } else {
        let roots = Arc::new(roots(tls)?);
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|error| ConfigError::Tls(Box::new(error)))?;
        match &tls.server_name {
            Some(name) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ServerNameOverride {
                    name: server_name(name)?,
                    inner: verifier,
                })),
            None => builder.with_webpki_verifier(verifier),
        }
    };
    let config = match identity(tls)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|error| ConfigError::Tls(Box::new(error)))?,
        None => builder.with_no_client_auth(),
    };
    Ok(config)
}

/// `CONSUL_TLS_SERVER_NAME` without a `:port` suffix, as Consul strips it.
fn server_name(name: &str) -> Result<ServerName<'static>, Error> {
    let name = name.trim();
    let host = match (name.rfind(':'), name.rfind(']')) {
        (Some(colon), bracket) if bracket.is_none_or(|bracket| colon > bracket) => &name[..colon],
        _ => name,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|_| {
        ConfigError::ServerName {
            name: name.to_owned(),
        }
        .into()
    })
}

/// The trusted roots: the configured CAs only, or the Mozilla set when none is configured.
fn roots(tls: &TlsConfig) -> Result<rustls::RootCertStore, Error> {
    let mut store = rustls::RootCertStore::empty();
    let mut configured = false;
    if let Some(path) = &tls.ca_file {
        add_pem(&mut store, &read(path)?, Some(path), "CA file")?;
        configured = true;
    }
    if let Some(dir) = &tls.ca_path {
        let mut files = Vec::new();
        walk(dir, &mut files)?;
        files.sort();
        if files.is_empty() {
            return Err(ConfigError::Pem {
                what: "CA path",
                path: Some(dir.clone()),
                reason: "the directory holds no file".to_owned(),
            }
            .into());
        }
        for file in files {
            add_pem(&mut store, &read(&file)?, Some(&file), "CA path")?;
        }
        configured = true;
    }
    if let Some(pem) = &tls.ca_pem {
        add_pem(&mut store, pem, None, "CA PEM")?;
        configured = true;
    }
    if !configured {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Ok(store)
}

/// Every file under `dir`, recursively (Consul's `rootcerts.LoadCAPath` walks it so).
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    let io = |source| ConfigError::File {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| {
        ConfigError::File {
            path: path.to_owned(),
            source,
        }
        .into()
    })
}

fn add_pem(
    store: &mut rustls::RootCertStore,
    pem: &[u8],
    path: Option<&Path>,
    what: &'static str,
) -> Result<(), Error> {
    let invalid = |reason: String| -> Error {
        ConfigError::Pem {
            what,
            path: path.map(Path::to_owned),
            reason,
        }
        .into()
    };
    let certificates = certificates(pem).map_err(invalid)?;
    for certificate in certificates {
        store
            .add(certificate)
            .map_err(|error| invalid(format!("not a usable CA certificate: {error}")))?;
    }
    Ok(())
}

/// The certificates of a PEM text; an error (never quoting the text) when it has none or is
/// malformed.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_reason)?;
    if certificates.is_empty() {
        return Err("no PEM certificate found".to_owned());
    }
    Ok(certificates)
}

/// What is wrong with a PEM text, without quoting any of it (it may be a private key).
fn pem_reason(error: rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error as E;
    match error {
        E::MissingSectionEnd { .. } => "a PEM section has no END line".to_owned(),
        E::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".to_owned(),
        E::Base64Decode(_) => "a PEM section is not valid base64".to_owned(),
        E::NoItemsFound => "no PEM item found".to_owned(),
        E::Io(error) => format!("cannot read: {error}"),
        _ => "malformed PEM".to_owned(),
    }
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client certificate chain and key, if configured; both or neither.
fn identity(tls: &TlsConfig) -> Result<Option<Identity>, Error> {
    let cert = match (&tls.client_cert, &tls.client_cert_pem) {
        (Some(path), _) => Some((read(path)?, Some(path))),
        (None, Some(pem)) => Some((pem.clone(), None)),
        (None, None) => None,
    };
    let key = match (&tls.client_key, &tls.client_key_pem) {
        (Some(path), _) => Some((read(path)?, Some(path))),
        (None, Some(pem)) => Some((pem.clone(), None)),
        (None, None) => None,
    };
    let ((cert, cert_path), (key, key_path)) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) | (None, Some(_)) => {
            return Err(ConfigError::ClientCertificate.into());
        }
    };
    let chain = certificates(&cert).map_err(|reason| ConfigError::Pem {
        what: "client certificate",
        path: cert_path.cloned(),
        reason,
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|error| ConfigError::Pem {
        what: "client key",
        path: key_path.cloned(),
        reason: match error {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key found".to_owned()
            }
            error => pem_reason(error),
        },
    })?;
    Ok(Some((chain, key)))
}

/// Checks the certificate against a configured name instead of the URL's host.
#[derive(Debug)]
struct ServerNameOverride {
    name: ServerName<'static>,
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ServerNameOverride {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `CONSUL_HTTP_SSL_VERIFY=false`: any certificate, any name; the handshake signatures are
/// still checked (so the peer holds the key of the certificate it sent).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn server_names_lose_their_port() {
        assert_eq!(
            server_name("server.dc1.consul:8501").unwrap(),
            ServerName::try_from("server.dc1.consul").unwrap()
        );
        assert_eq!(
            server_name("[::1]:8501").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert_eq!(
            server_name("127.0.0.1").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        assert!(server_name("bad name!").is_err());
    }

    #[test]
    fn a_certificate_needs_its_key() {
        let tls = TlsConfig {
            client_cert_pem: Some(b"x".to_vec()),
            ..TlsConfig::default()
        };
        let error = client_config(&tls).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.to_string().contains("both"), "{error}");
    }

    #[test]
    fn bad_pem_is_a_config_error_that_quotes_nothing() {
        let tls = TlsConfig {
            ca_pem: Some(b"-----BEGIN CERTIFICATE-----\nS3CR3T!!\n".to_vec()),
            ..TlsConfig::default()
        };
        let error = client_config(&tls).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        let text = format!("{error} {error:?}");
        assert!(!text.contains("S3CR3T"), "{text}");
        let tls = TlsConfig {
            client_cert_pem: Some(b"no pem here".to_vec()),
            client_key_pem: Some(b"-----BEGIN PRIVATE KEY-----\nS3CR3T\n".to_vec()),
            ..TlsConfig::default()
        };
        let error = client_config(&tls).unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(text.contains("client certificate"), "{text}");
        assert!(!text.contains("S3CR3T"), "{text}");
        let tls = TlsConfig {
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..TlsConfig::default()
        };
        assert_eq!(client_config(&tls).unwrap_err().kind(), ErrorKind::Config);
    }

    #[test]
    fn failures_are_classified() {
        let alert = |description| rustls::Error::AlertReceived(description);
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            alert(AlertDescription::CertificateRequired),
        );
        assert_eq!(
            classify_tls(&wrapped, false),
            Some(TlsFailure::CertificateRequired)
        );
        let bad = alert(AlertDescription::BadCertificate);
        assert_eq!(
            classify_tls(&bad, false),
            Some(TlsFailure::CertificateRequired)
        );
        assert_eq!(
            classify_tls(&bad, true),
            Some(TlsFailure::CertificateRejected)
        );
        let cases = [
            (CertificateError::UnknownIssuer, TlsFailure::UnknownIssuer),
            (CertificateError::NotValidForName, TlsFailure::NameMismatch),
            (CertificateError::Expired, TlsFailure::Expired),
            (CertificateError::NotValidYet, TlsFailure::NotYetValid),
            (
                CertificateError::BadSignature,
                TlsFailure::BadServerCertificate,
            ),
        ];
        for (error, expected) in cases {
            let error = rustls::Error::InvalidCertificate(error);
            assert_eq!(classify_tls(&error, false), Some(expected));
        }
        let other = std::io::Error::other("reset");
        assert_eq!(classify_tls(&other, false), None);
    }
}
