//! TLS for the port a process serves on and for the calls it makes: PEM
//! files read once at start, so a missing or wrong file stops the process
//! with a message naming the file and the setting that pointed at it,
//! instead of failing every handshake later.
//!
//! A server with a client CA requires every caller to present a certificate
//! that chains to it (mutual TLS); without one it only proves its own
//! identity. The admin endpoints share the port, so they speak HTTPS too.

use std::path::PathBuf;
use std::time::Duration;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::Error;

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
#[derive(Clone, Debug)]
pub struct ServerTls {
    config: ServerTlsConfig,
    mutual: bool,
}

impl ServerTls {
    /// Reads and checks `files`: the certificate and key must parse and
    /// belong together, the client CA must hold a certificate.
    pub fn load(files: &ServerTlsFiles) -> Result<Self, Error> {
        let identity = Identity::from_pem(
            files.cert.read("CERTIFICATE")?,
            files.key.read("PRIVATE KEY")?,
        );
        let mut config = ServerTlsConfig::new()
            .identity(identity)
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(ca) = &files.client_ca {
            config = config.client_ca_root(Certificate::from_pem(ca.read("CERTIFICATE")?));
        }
        // Building the acceptor parses every file now; the server would
        // otherwise find a bad one only when it starts listening.
        tonic::transport::Server::builder()
            .tls_config(config.clone())
            .map_err(|e| {
                Error::Tls(format!(
                    "{} / {}: {}",
                    files.cert.setting,
                    files.key.setting,
                    error_chain(&e)
                ))
            })?;
        Ok(Self {
            config,
            mutual: files.client_ca.is_some(),
        })
    }

    /// Whether callers must present a certificate.
    pub fn is_mutual(&self) -> bool {
        self.mutual
    }

    pub(crate) fn config(&self) -> ServerTlsConfig {
        self.config.clone()
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
/// depending on timing the caller sees the alert or only the close.
pub fn refused_after_handshake(error: &str) -> bool {
    [
        "fatal alert",
        "connection closed",
        "broken pipe",
        "connection reset",
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
