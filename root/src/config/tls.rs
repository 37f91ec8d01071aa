//! TLS on both sides of the root: the port clients call (`[tls]`) and the
//! calls to leaves and the merge (`[connect.tls]`). Each takes PEM file
//! paths; the files are read and checked when the root starts.
//!
//! ```toml
//! [tls]                       # clients → root
//! cert = "/certs/root.pem"
//! key = "/certs/root.key"
//! client_ca = "/certs/ca.pem" # clients must present a certificate it signed
//!
//! [connect.tls]               # root → leaves and merge
//! ca = "/certs/ca.pem"        # trust leaves and merge signed by it
//! cert = "/certs/root.pem"    # the root's identity, for leaves that require one
//! key = "/certs/root.key"
//! ```

use std::path::PathBuf;

use scatter_management::{ClientTlsFiles, PemFile, ServerTls, ServerTlsFiles};
use serde::{Deserialize, Serialize};

use crate::error::StartError;

/// TLS on the port clients call. Off unless `cert` and `key` are given.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenTlsConfig {
    /// The root's certificate chain (PEM). With it clients must dial
    /// `https://`; the admin endpoints speak HTTPS too.
    pub cert: Option<PathBuf>,
    /// The private key of `cert` (PEM).
    pub key: Option<PathBuf>,
    /// When set, clients must present a certificate this CA signed (mutual
    /// TLS): only holders of such a certificate can query, at the price of
    /// issuing one to every client (and probe).
    pub client_ca: Option<PathBuf>,
}

impl ListenTlsConfig {
    /// The files read and checked, or `None` when TLS is off.
    pub fn load(&self) -> Result<Option<ServerTls>, StartError> {
        let file = |path: &Option<PathBuf>, key: &str, flag: &str| {
            path.as_ref()
                .map(|p| PemFile::new(p, format!("tls.{key} (--{flag})")))
        };
        let files = match (
            file(&self.cert, "cert", "tls-cert"),
            file(&self.key, "key", "tls-key"),
            file(&self.client_ca, "client_ca", "tls-client-ca"),
        ) {
            (None, None, None) => return Ok(None),
            (Some(cert), Some(key), client_ca) => ServerTlsFiles {
                cert,
                key,
                client_ca,
            },
            (None, None, Some(_)) => {
                return Err(config_error(
                    "tls.client_ca (--tls-client-ca) needs tls.cert and tls.key: \
                     clients are only asked for a certificate over TLS",
                ));
            }
            _ => {
                return Err(config_error(
                    "tls.cert (--tls-cert) and tls.key (--tls-key) go together: give both or neither",
                ));
            }
        };
        ServerTls::load(&files).map(Some).map_err(StartError::from)
    }
}

/// TLS for the root's calls to leaves and the merge. Off unless `ca` is
/// given; then every leaf and merge address is dialled as `https://`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamTlsConfig {
    /// The CA (PEM) that signed the leaves' and the merge's certificates;
    /// a peer whose certificate it did not sign is refused.
    pub ca: Option<PathBuf>,
    /// The root's own certificate (PEM), for leaves and merges that
    /// require callers to present one (`--tls-client-ca` on them).
    pub cert: Option<PathBuf>,
    /// The private key of `cert` (PEM).
    pub key: Option<PathBuf>,
    /// The name the peers' certificates must carry, when it differs from
    /// the host dialled (all leaves share one certificate, dialled by IP).
    /// Default: the host of each address.
    pub server_name: Option<String>,
}

impl UpstreamTlsConfig {
    /// The client TLS files, or `None` when TLS to leaves is off.
    pub fn files(&self) -> Result<Option<ClientTlsFiles>, StartError> {
        let file = |path: &PathBuf, key: &str, flag: &str| {
            PemFile::new(path, format!("connect.tls.{key} (--upstream-tls-{flag})"))
        };
        let identity = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some((file(cert, "cert", "cert"), file(key, "key", "key"))),
            (None, None) => None,
            _ => {
                return Err(config_error(
                    "connect.tls.cert (--upstream-tls-cert) and connect.tls.key \
                     (--upstream-tls-key) go together: give both or neither",
                ));
            }
        };
        let Some(ca) = &self.ca else {
            if identity.is_some() || self.server_name.is_some() {
                return Err(config_error(
                    "TLS to leaves needs connect.tls.ca (--upstream-tls-ca): the CA that \
                     signed the leaves' and the merge's certificates",
                ));
            }
            return Ok(None);
        };
        Ok(Some(ClientTlsFiles {
            ca: file(ca, "ca", "ca"),
            identity,
            server_name: self.server_name.clone(),
        }))
    }
}

fn config_error(message: &str) -> StartError {
    StartError::Config(message.to_owned())
}

#[cfg(test)]
mod tests {
    use crate::config::RootConfig;

    fn refusal(toml_text: &str) -> String {
        let config: RootConfig =
            toml::from_str(&format!("shards = [[\"127.0.0.1:1\"]]\n{toml_text}"))
                .expect("valid TOML");
        config.validate().unwrap_err().to_string()
    }

    #[test]
    fn missing_upstream_ca_is_refused_naming_key_flag_and_path() {
        let err = refusal("[connect.tls]\nca = \"/nonexistent/scatter/ca.pem\"");
        assert!(err.contains("connect.tls.ca (--upstream-tls-ca)"), "{err}");
        assert!(err.contains("/nonexistent/scatter/ca.pem"), "{err}");
    }

    #[test]
    fn half_configured_tls_is_refused_saying_what_is_missing() {
        let err = refusal("[tls]\ncert = \"/etc/scatter/root.pem\"");
        assert!(err.contains("go together"), "{err}");
        let err = refusal("[tls]\nclient_ca = \"/etc/scatter/ca.pem\"");
        assert!(err.contains("needs tls.cert and tls.key"), "{err}");
        let err = refusal("[connect.tls]\ncert = \"/a.pem\"\nkey = \"/a.key\"");
        assert!(err.contains("needs connect.tls.ca"), "{err}");
    }

    #[test]
    fn no_tls_sections_means_plaintext() {
        let config = RootConfig {
            shards: vec![vec!["127.0.0.1:1".into()]],
            ..RootConfig::default()
        };
        config.validate().unwrap();
        assert!(config.tls.load().unwrap().is_none());
        assert!(config.connect.tls.files().unwrap().is_none());
    }
}
