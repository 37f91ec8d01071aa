use super::*;

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scatter-tls-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn server_files(cert: PathBuf, key: PathBuf) -> ServerTlsFiles {
    ServerTlsFiles {
        cert: PemFile::new(cert, "--tls-cert"),
        key: PemFile::new(key, "--tls-key"),
        client_ca: None,
    }
}

#[test]
fn missing_file_is_refused_naming_setting_and_path() {
    let missing = PathBuf::from("/nonexistent/scatter/leaf.pem");
    let key = temp_file("key.pem", "-----BEGIN PRIVATE KEY-----\n");
    let err = ServerTls::load(&server_files(missing, key))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--tls-cert") && err.contains("/nonexistent/scatter/leaf.pem"),
        "{err}"
    );
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn file_without_pem_block_is_refused_saying_what_it_lacks() {
    let cert = temp_file("not-a-cert.pem", "hello, I am not a certificate\n");
    let key = temp_file("key2.pem", "-----BEGIN PRIVATE KEY-----\n");
    let err = ServerTls::load(&server_files(cert, key))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--tls-cert") && err.contains("not-a-cert.pem"),
        "{err}"
    );
    assert!(err.contains("no PEM CERTIFICATE"), "{err}");

    let ca = temp_file("ca-is-a-key.pem", "-----BEGIN PRIVATE KEY-----\n");
    let files = ClientTlsFiles {
        ca: PemFile::new(ca, "--upstream-tls-ca"),
        identity: None,
        server_name: None,
    };
    let err = client_tls(&files).unwrap_err().to_string();
    assert!(
        err.contains("--upstream-tls-ca") && err.contains("no PEM CERTIFICATE"),
        "{err}"
    );
}

#[test]
fn pem_markers_around_garbage_are_refused_when_parsed() {
    let cert = temp_file(
        "garbage-cert.pem",
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    );
    let key = temp_file(
        "garbage-key.pem",
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    );
    let err = ServerTls::load(&server_files(cert, key))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--tls-cert / --tls-key"), "{err}");
}

#[test]
fn every_way_a_refused_client_certificate_shows_is_recognised_and_others_are_not() {
    for seen in [
        "transport error: received fatal alert: CertificateRequired",
        "transport error: connection closed before message completed",
        "transport error: Broken pipe (os error 32)",
        "transport error: Connection reset by peer (os error 104)",
        "operation was canceled: transport error: operation was canceled: connection was not ready",
    ] {
        assert!(refused_after_handshake(seen), "not recognised: {seen}");
    }
    for other in [
        "transport error: tcp connect error: Connection refused (os error 111)",
        "status: Unavailable, message: \"no shard answered\"",
    ] {
        assert!(
            !refused_after_handshake(other),
            "wrongly recognised: {other}"
        );
    }
}
