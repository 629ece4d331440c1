//! Certificates for the TLS tests, made with rcgen: a CA, server certificates for
//! `localhost`/`127.0.0.1` (and any other name), client certificates with PKCS#8, PKCS#1 (RSA)
//! and SEC1 (EC) keys, and a scratch directory to write them to.
//!
//! Nothing here is a secret worth keeping: every key is made for one test run, except the
//! RSA key below, a throwaway fixture (ring, rcgen's signer here, cannot generate RSA keys).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A fixed 2048-bit RSA key (PKCS#8), used only by the tests of PKCS#1 client keys.
const RSA_TEST_KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCh3MWhVmzogt50
AEN8RUEV5Ce4YDsh0hJ0UZYRP6SbJz8Bs1OUsbHXIzdUgs0iJavFJuMKyW/4r4q/
Htl+G8JWMlUWmMyHqgbRkwjlbA1IluOVHq4KmXrkVv3JZ6kA2qJWYzo9jYICjld3
TGJAxNOHMIWioCIl3YMtRvoqSxyiPtLGFW1WhXBvnWqJVesmxiAx1CLaJqqzS6CM
dWyoXIiVnzXJhJPnoEmuQ3DmddLSmN9yJsd9DPsqFG0Qn9cixdLC0gdqWsNCAPrq
3t3CH3owz6Fj/yQED/hE/xdJJtkI9A3n3jndfP3Yn8ZL1i8QXtLVktF3bINKvt15
T0Ng8kJJAgMBAAECggEAR9ECxwDntYpLVUDAsKSxqhrfHMllsy3YDlAcu253hHe3
VvPQA8uL0p7Hb/HRPnNkcUc9uY2C5t5MO1xet7ttUH1oj2wgY5knCVmputFkW27H
b2R7aCyNAD8wv2oE7GIVYSsJrkHZC3VIjaAQgBhUmkkHIg7W1+Iez7oMSTOmcr2j
Pz5a+6YGFVHvIVR+6toArgh7VIA7oTZh1D4OI28XeEVmXu0hANdNXJuhUbLIk2uU
Xhde9Q60MDVmeATIoJp9mPeyOV6+kJZ8NVgDi40zphqGIuZlzKpnpgvLXrDzCbJz
xsGdCxBP9zLlfxbXLT3j+YDpfOkIuOafz2pdX1HnWQKBgQDkqFkoEFOWYFXdna7G
b3JGOlg/xBUeXgE7i9YAQIp9lUb9NV/JLSdQ1nvUbx+P9reY3Vc4LmjovGz2oCfN
t1AAi8/MRBw8vgA791+Bag5dkyQpC1iKO8080FNUG6DB1te+ypgu9CCEN+FP5qvN
RA3STh0l2FJn754oN5UyC1AVgwKBgQC1N7FejxmOLQBXK5uXLDM6cIuHRTni820g
Jn+ISIDB4beLR5thkybP7FG+wSXj3Orfs6T1DxjoDk+8DFJ9wo5mXy2otqMsGvsN
M6iOIAg+lmVxFE9mkcM/uL9md+n7bCsEJbIM+7taxAXAGgMvR9NplSsXsycWSRXj
/M7tELALQwKBgETmhZcQ9F8HwFf7P8MDqgeHZTgxubtg0DZFOMLyr8iPxshd4PMZ
7BLrznyAz53t1fz2FWYUdgBLZvoZ4GSYrD694mvGyktzZVasf9bbQmDoCalkhdWB
l6KPk8xwVsySFIilO55KadHtlLMi6vn7W77XUukoegxfo+Syev6NciBJAoGAcISo
CMJpZ7HhaD6XWQIEvOBsgg0lqBjlRPUicogyCjAQOta3T5qCms9s4jgjQpxE6akt
X0uEd3GLaINuJM/MgxvNyde88QG/p67PlY+mDtZrHg8yTclrpgEcNo92JLpA605M
g2s6JV1ZBLIiEBVU21XXb9u5BUlT4j9ybBfUdukCgYBUO8O833bs9txCuBfc80PA
0wVLnidWAyrZwBIC3KNN33LKKrWl5z2FVSqOwdG4FsRnw7399h5hwHt+ph57p7bo
QtV7WK5dLuaxPS3qEWPWwGyD1+stOCGFmBRhKjC1zpjbTJAMxfMd0xpJih34y9Vo
Q9A0QI/sVRNjWXCuS9PguQ==
-----END PRIVATE KEY-----
";

/// A test certificate authority.
#[derive(Debug)]
pub struct TestCa {
    /// The CA certificate (PEM), what clients and servers trust.
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key, both PEM (the key PKCS#8).
#[derive(Debug, Clone)]
pub struct CertifiedKey {
    /// The certificate.
    pub cert_pem: String,
    /// The private key, PKCS#8 (`PRIVATE KEY`).
    pub key_pem: String,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `localhost`, `127.0.0.1` and `extra` names.
    pub fn server(&self, extra: &[&str]) -> CertifiedKey {
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        names.extend(extra.iter().map(|name| (*name).to_owned()));
        self.issue(
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
            KeyPair::generate().expect("key"),
        )
    }

    /// A certificate for `localhost` and `127.0.0.1` good for both ends of
    /// a connection (server and client authentication), as a cluster
    /// member's certificate is when members talk to each other.
    pub fn member(&self) -> CertifiedKey {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        self.issue_for(
            names,
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            KeyPair::generate().expect("key"),
        )
    }

    /// A server certificate for exactly these names (e.g. `server.dc1.consul` only).
    pub fn server_only(&self, names: &[&str]) -> CertifiedKey {
        let names = names.iter().map(|name| (*name).to_owned()).collect();
        self.issue(
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
            KeyPair::generate().expect("key"),
        )
    }

    /// A server certificate for `localhost` and `127.0.0.1` that expired in 2001.
    pub fn server_expired(&self) -> CertifiedKey {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A client certificate with an EC (P-256) key.
    pub fn client(&self, name: &str) -> CertifiedKey {
        self.issue(
            vec![name.to_owned()],
            ExtendedKeyUsagePurpose::ClientAuth,
            KeyPair::generate().expect("key"),
        )
    }

    /// A client certificate with an RSA key.
    pub fn client_rsa(&self, name: &str) -> CertifiedKey {
        let key = KeyPair::from_pem(RSA_TEST_KEY).expect("RSA fixture key");
        self.issue(
            vec![name.to_owned()],
            ExtendedKeyUsagePurpose::ClientAuth,
            key,
        )
    }

    fn issue(
        &self,
        names: Vec<String>,
        usage: ExtendedKeyUsagePurpose,
        key: KeyPair,
    ) -> CertifiedKey {
        self.issue_for(names, vec![usage], key)
    }

    fn issue_for(
        &self,
        names: Vec<String>,
        usages: Vec<ExtendedKeyUsagePurpose>,
        key: KeyPair,
    ) -> CertifiedKey {
        let mut params = CertificateParams::new(names).expect("params");
        params.extended_key_usages = usages;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl CertifiedKey {
    /// The key in its algorithm's own format: PKCS#1 (`RSA PRIVATE KEY`) for RSA, SEC1
    /// (`EC PRIVATE KEY`) for EC; the PKCS#8 wrapper's inner key.
    pub fn key_traditional_pem(&self) -> String {
        let der = pem_body(&self.key_pem, "PRIVATE KEY");
        let inner = pkcs8_inner_key(&der);
        let label = if self.key_pem_is_rsa() {
            "RSA PRIVATE KEY"
        } else {
            "EC PRIVATE KEY"
        };
        to_pem(label, inner)
    }

    fn key_pem_is_rsa(&self) -> bool {
        // rsaEncryption, 1.2.840.113549.1.1.1
        const RSA_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        let der = pem_body(&self.key_pem, "PRIVATE KEY");
        der.windows(RSA_OID.len()).any(|window| window == RSA_OID)
    }

    /// The base64 lines of the private key, each long enough to identify it: what must
    /// never appear in a log.
    pub fn key_material(&self) -> Vec<String> {
        let mut lines: Vec<String> = [self.key_pem.clone(), self.key_traditional_pem()]
            .iter()
            .flat_map(|pem| {
                pem.lines()
                    .filter(|line| !line.starts_with("-----") && line.len() >= 16)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.dedup();
        lines
    }
}

/// A scratch directory under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A new, empty directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` in it and returns the file's path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pem_body(pem: &str, label: &str) -> Vec<u8> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).expect("PEM begin") + begin.len();
    let stop = pem.find(&end).expect("PEM end");
    let text: String = pem[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("PEM base64")
}

fn to_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for chunk in text.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// One DER element: (tag, content, rest).
fn der_next(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        n if n < 0x80 => (usize::from(n), 2),
        n => {
            let bytes = usize::from(n & 0x7f);
            let len = input[2..2 + bytes]
                .iter()
                .fold(0usize, |len, byte| (len << 8) | usize::from(*byte));
            (len, 2 + bytes)
        }
    };
    (tag, &input[header..header + len], &input[header + len..])
}

/// PKCS#8 `PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING, … }`:
/// the content of `privateKey`, which is the PKCS#1 or SEC1 key.
fn pkcs8_inner_key(der: &[u8]) -> &[u8] {
    let (tag, info, _) = der_next(der);
    assert_eq!(tag, 0x30, "PrivateKeyInfo is a SEQUENCE");
    let (_, _, rest) = der_next(info); // version
    let (_, _, rest) = der_next(rest); // algorithm
    let (tag, key, _) = der_next(rest);
    assert_eq!(tag, 0x04, "privateKey is an OCTET STRING");
    key
}
