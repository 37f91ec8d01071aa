//! TLS for the port a process serves on and for the calls it makes: PEM
//! files read once at start, so a missing or wrong file stops the process
//! with a message naming the file and the setting that pointed at it,
//! instead of failing every handshake later.
//!
//! A server with a client CA requires every caller to present a certificate
//! that chains to it (mutual TLS); without one it only proves its own
//! identity. The admin endpoints share the port, so they speak HTTPS too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::Error;

mod incoming;

pub(crate) use incoming::incoming;

/// A handshake not finished in this time is dropped, so a peer that
/// connects and goes silent does not hold a slot for ever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One PEM file and the setting that named it (a flag, a variable or a
/// config key), for error messages.
#[derive(Clone, Debug)]
pub struct PemFile {
    /// Where the file is.
    pub path: PathBuf,
    /// How the user named it, e.g. `--tls-cert / SCATTER_TLS_CERT`.
    pub setting: String,
}

impl PemFile {
    /// `path`, as named by `setting`.
    pub fn new(path: impl Into<PathBuf>, setting: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            setting: setting.into(),
        }
    }

    /// The file's bytes, refused unless it holds a PEM block of `label`
    /// (`CERTIFICATE`, or `PRIVATE KEY` matching any key type).
    fn read(&self, label: &str) -> Result<Vec<u8>, Error> {
        let bytes = std::fs::read(&self.path)
            .map_err(|e| self.refused(&format!("cannot read {}: {e}", self.path.display())))?;
        let text = String::from_utf8_lossy(&bytes);
        let holds_block = text
            .lines()
            .any(|line| line.starts_with("-----BEGIN ") && line.contains(label));
        if !holds_block {
            return Err(self.refused(&format!(
                "{} holds no PEM {label} (a `-----BEGIN ...{label}-----` block)",
                self.path.display()
            )));
        }
        Ok(bytes)
    }

    fn refused(&self, reason: &str) -> Error {
        Error::Tls(format!("{}: {reason}", self.setting))
    }
}

/// The files of a serving process's TLS.
#[derive(Clone, Debug)]
pub struct ServerTlsFiles {
    /// The process's certificate chain.
    pub cert: PemFile,
    /// The private key of that certificate.
    pub key: PemFile,
    /// When given, callers must present a certificate this CA signed.
    pub client_ca: Option<PemFile>,
}

/// TLS for the port a process serves on, loaded and checked.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    mutual: bool,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("mutual", &self.mutual)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads and checks `files` now — the server would otherwise find a bad
    /// one only at the first handshake: the certificate and key must parse
    /// and belong together, the client CA must hold a certificate. The
    /// handshake offers `h2` and `http/1.1`, so gRPC and the admin
    /// endpoints both work over it.
    pub fn load(files: &ServerTlsFiles) -> Result<Self, Error> {
        let cert_pem = files.cert.read("CERTIFICATE")?;
        let key_pem = files.key.read("PRIVATE KEY")?;
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                files
                    .cert
                    .refused(&format!("not a PEM certificate chain: {e}"))
            })?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| files.key.refused(&format!("not a PEM private key: {e}")))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&ca.read("CERTIFICATE")?) {
                    let cert =
                        cert.map_err(|e| ca.refused(&format!("not a PEM certificate: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| ca.refused(&format!("not a CA certificate: {e}")))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| ca.refused(&e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| {
            Error::Tls(format!(
                "{} / {}: {e}",
                files.cert.setting, files.key.setting
            ))
        })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            mutual: files.client_ca.is_some(),
        })
    }

    /// Whether callers must present a certificate.
    pub fn is_mutual(&self) -> bool {
        self.mutual
    }

    pub(crate) fn rustls(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }
}

/// The files of a caller's TLS: whom to trust, and whom to be.
#[derive(Clone, Debug)]
pub struct ClientTlsFiles {
    /// The CA that signed the certificates of the servers called.
    pub ca: PemFile,
    /// The caller's own certificate and key, for servers that require one.
    pub identity: Option<(PemFile, PemFile)>,
    /// The name the server's certificate must carry, when it is not the
    /// host dialled (e.g. dialling by IP a certificate made for a name).
    pub server_name: Option<String>,
}

/// Reads and checks `files` into a client TLS configuration, used with
/// `https://` addresses.
pub fn client_tls(files: &ClientTlsFiles) -> Result<ClientTlsConfig, Error> {
    let mut config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(files.ca.read("CERTIFICATE")?))
        .timeout(HANDSHAKE_TIMEOUT);
    let mut settings = files.ca.setting.clone();
    if let Some((cert, key)) = &files.identity {
        config = config.identity(Identity::from_pem(
            cert.read("CERTIFICATE")?,
            key.read("PRIVATE KEY")?,
        ));
        settings = format!("{settings} / {} / {}", cert.setting, key.setting);
    }
    if let Some(name) = &files.server_name {
        config = config.domain_name(name.clone());
    }
    // As for the server: parse now, not at the first dial.
    Endpoint::from_static("https://localhost")
        .tls_config(config.clone())
        .map_err(|e| Error::Tls(format!("{settings}: {}", error_chain(&e))))?;
    Ok(config)
}

/// Whether an error text (see [`error_chain`]) says the peer refused the
/// connection after the TLS handshake. A TLS 1.3 server checks the
/// caller's certificate after the caller thinks the handshake is done;
/// when it refuses it, it sends an alert and closes the connection, and
/// depending on timing the caller sees the alert, only the close, or (when
/// the close comes before the caller's HTTP/2 connection was ready) hyper's
/// "connection was not ready".
pub fn refused_after_handshake(error: &str) -> bool {
    // OS errors are capitalised ("Connection reset by peer"), rustls's not.
    let error = error.to_lowercase();
    [
        "fatal alert",
        "connection closed",
        "broken pipe",
        "connection reset",
        "connection was not ready",
    ]
    .iter()
    .any(|words| error.contains(words))
}

/// `error: its source: ...`, as tonic's transport errors hide the cause.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
