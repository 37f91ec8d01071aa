//! Certificates for the TLS tests, made at run time: a CA and certificates
//! it signs for `localhost` / `127.0.0.1`, written as PEM files to a
//! directory of their own that is removed when the [`Pki`] is dropped.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// One certificate and its key, as PEM files.
#[derive(Clone, Debug)]
pub struct CertFiles {
    /// The certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

impl CertFiles {
    /// `--{prefix}cert CERT --{prefix}key KEY`, e.g. with `upstream-tls-`.
    pub fn flags(&self, prefix: &str) -> Vec<String> {
        vec![
            format!("--{prefix}cert"),
            self.cert.display().to_string(),
            format!("--{prefix}key"),
            self.key.display().to_string(),
        ]
    }
}

/// A certificate authority of one test, and the directory its files are in.
pub struct Pki {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
    /// The CA's certificate, to trust.
    pub ca_file: PathBuf,
}

impl Pki {
    /// A new CA named `name`, its certificate written to a fresh directory.
    ///
    /// # Panics
    /// When the key cannot be made or the directory written.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "scatter-pki-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).expect("a temp directory for certificates");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("scatter test CA {name}"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a CA key");
        let ca = CertifiedIssuer::self_signed(params, key).expect("a self-signed CA");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("the CA file written");
        Self { dir, ca, ca_file }
    }

    /// A certificate for `localhost` and `127.0.0.1` signed by this CA,
    /// good for serving and for calling, written as `name.pem` and
    /// `name.key`.
    ///
    /// # Panics
    /// When it cannot be made or written.
    pub fn issue(&self, name: &str) -> CertFiles {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("certificate parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().expect("a key");
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("a signed certificate");
        let files = CertFiles {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, cert.pem()).expect("the certificate written");
        std::fs::write(&files.key, key.serialize_pem()).expect("the key written");
        files
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
