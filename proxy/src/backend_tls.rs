//! The gateway as a TLS client of its backends: which certificates it trusts and what it checks.
//!
//! The PostgreSQL backend connection (`pg/backend.rs`) does its own TLS with the configurations
//! built here; the MySQL backend leaves TLS to mysql_async (`mysql/backend.rs`), which reads the
//! same CA certificates. Everything is read and checked when the backend URL is parsed, at
//! start: a CA file that cannot be read stops the gateway instead of weakening a connection.
//!
//! Does not: decide the mode (each backend's URL does, with its own database's words), or read
//! the system's certificate store (a URL names the CA file it trusts).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What the gateway checks of a backend's certificate.
#[derive(Debug, Clone)]
pub enum Verify {
    /// Nothing: the connection is encrypted against eavesdroppers, not against an impostor
    /// (libpq's `sslmode=require` without a root certificate, MySQL's `REQUIRED`). The server
    /// must still prove it holds the key of the certificate it shows.
    Nothing,
    /// The certificate chains to one of these roots, whatever names it holds (`verify-ca`).
    Chain(Arc<RootCertStore>),
    /// The certificate chains to one of these roots and is valid for the host name the URL
    /// connects to (`verify-full`).
    ChainAndName(Arc<RootCertStore>),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the CA certificates (PEM, one or more) of `param=path` in a backend URL. The error names
/// the parameter and the file, and says what to do.
pub fn load_roots(param: &str, path: &str) -> Result<Arc<RootCertStore>, String> {
    let pem = std::fs::read(Path::new(path))
        .map_err(|e| format!("{param}={path}: cannot read the CA certificate file: {e}"))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{param}={path}: not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{param}={path}: the file holds no PEM certificate (-----BEGIN CERTIFICATE-----); \
             give the CA certificate that signed the server's certificate"
        ));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("{param}={path}: a certificate in it is not usable: {e}"))?;
    }
    Ok(Arc::new(roots))
}

/// A rustls client configuration (ring, TLS 1.2 and 1.3) that checks what `verify` says.
pub fn client_config(verify: &Verify) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Nothing => Arc::new(AnyCertificate { algorithms }),
        Verify::Chain(roots) => Arc::new(ChainOnly {
            roots: roots.clone(),
            algorithms,
        }),
        Verify::ChainAndName(roots) => {
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| format!("the CA certificates cannot be used: {e}"))?
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The rustls error behind a failed connection, if TLS is what failed (a handshake error
/// arrives wrapped in an `io::Error`, and mysql_async wraps that again).
pub fn tls_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // io::Error's `source` skips the error it wraps.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(inner);
        }
        next = e.source();
    }
    None
}

/// What to do about a rustls error, for the gateway's log and start-up errors.
pub fn explain(e: &rustls::Error, ca_param: &str) -> String {
    use rustls::CertificateError as C;
    let hint = match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
            ": the server's certificate is not signed by a CA certificate in {ca_param}; give \
             the CA that signed it"
        ),
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => {
            // mysql_async 0.37.1 checks the name under VERIFY_CA too (see mysql/backend.rs).
            let instead = if ca_param == "sslrootcert" {
                ", or check only the chain (sslmode=verify-ca)"
            } else {
                ""
            };
            format!(
                ": the server's certificate does not name the host the URL connects to; \
                 connect by a name the certificate holds{instead}"
            )
        }
        rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => ": the server's certificate is outside its validity period".to_string(),
        _ => String::new(),
    };
    format!("{e}{hint}")
}

/// Accepts any certificate, but still checks the handshake signature against it.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// libpq's `verify-ca`: the chain must lead to one of the roots; the names are not looked at.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
