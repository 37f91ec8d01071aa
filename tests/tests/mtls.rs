//! Mutual TLS between the tiers: a tree where root, leaves and merge prove
//! who they are to each other answers as a plaintext one does; a leaf
//! refuses a root without a certificate it trusts, the root refuses a leaf
//! whose certificate it does not trust, the root's own port refuses
//! clients without one, and a missing or bad certificate file stops a
//! process at start naming it. Certificates are made at run time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use scatter_management::{ClientTlsFiles, PemFile, client_tls};
use scatter_proto::v1::MissingShard;
use scatter_tests::process::{Finished, run_to_end};
use scatter_tests::root::{assert_full_coverage, coverage, missing};
use scatter_tests::tls::{CertFiles, Pki};
use scatter_tests::{Query, Root, Script, Server, binary, free_port};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tonic::transport::ClientTlsConfig;

const DEADLINE: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// How the test itself calls a TLS process: trusting `pki`, as `who`.
fn test_client(pki: &Pki, who: &CertFiles) -> ClientTlsConfig {
    client_tls(&ClientTlsFiles {
        ca: PemFile::new(&pki.ca_file, "test CA"),
        identity: Some((
            PemFile::new(&who.cert, "test cert"),
            PemFile::new(&who.key, "test key"),
        )),
        server_name: None,
    })
    .expect("the test's certificates load")
}

/// `--tls-cert --tls-key` of `me`, and `--tls-client-ca` when `require` is
/// a CA whose certificates callers must present.
fn serve_flags(me: &CertFiles, require: Option<&Pki>) -> Vec<String> {
    let mut flags = me.flags("tls-");
    if let Some(ca) = require {
        flags.extend([
            "--tls-client-ca".to_owned(),
            ca.ca_file.display().to_string(),
        ]);
    }
    flags
}

/// A test leaf for `shard` of `shard_count` serving with `flags`, waited
/// for over TLS as `tls`.
async fn tls_leaf(
    shard: u32,
    shard_count: u32,
    flags: Vec<String>,
    tls: ClientTlsConfig,
) -> Server {
    let mut args = vec![
        "--shard".to_owned(),
        shard.to_string(),
        "--shard-count".to_owned(),
        shard_count.to_string(),
    ];
    args.extend(flags);
    let name = format!("tls test-leaf {shard}");
    Server::start_tls(&name, &binary("test-leaf"), &args, free_port(), tls).await
}

/// `--upstream-tls-ca` trusting `pki`, and the root's identity when given.
fn upstream_flags(pki: &Pki, identity: Option<&CertFiles>) -> Vec<String> {
    let mut flags = vec![
        "--upstream-tls-ca".to_owned(),
        pki.ca_file.display().to_string(),
    ];
    if let Some(me) = identity {
        flags.extend(me.flags("upstream-tls-"));
    }
    flags
}

fn shard_addrs(leaves: &[Server]) -> Vec<String> {
    leaves.iter().map(|l| l.addr().to_string()).collect()
}

/// A plaintext root over `leaves` with the built-in merge and `flags`.
async fn concat_root(leaves: &[Server], flags: Vec<String>) -> Root {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Root::start(&shard_addrs(leaves), "builtin:concat", &flags).await
}

/// The report of `shard`, which must be the one shard missing from an
/// answer of `root`.
async fn only_missing_shard(root: &Root, shard: u32) -> MissingShard {
    let response = root
        .query(Query::script(&Script::new()).deadline(DEADLINE))
        .await
        .expect("a partial answer");
    let coverage = coverage(&response);
    assert_eq!(coverage.missing.len(), 1, "{coverage:?}");
    missing(coverage, shard).clone()
}

/// Root, leaves and merge all serving mTLS with certificates of `pki`.
struct MtlsTree {
    _leaves: Vec<Server>,
    _merge: Server,
    root: Root,
}

async fn mtls_tree(pki: &Pki) -> MtlsTree {
    let (leaf_cert, merge_cert, root_cert, test) = (
        pki.issue("leaf"),
        pki.issue("merge"),
        pki.issue("root"),
        pki.issue("test-client"),
    );
    let leaves = futures::future::join_all((0..2).map(|s| {
        tls_leaf(
            s,
            2,
            serve_flags(&leaf_cert, Some(pki)),
            test_client(pki, &test),
        )
    }))
    .await;
    let merge = Server::start_tls(
        "tls test-merge",
        &binary("test-merge"),
        &serve_flags(&merge_cert, Some(pki)),
        free_port(),
        test_client(pki, &test),
    )
    .await;
    let mut flags = upstream_flags(pki, Some(&root_cert));
    flags.extend(serve_flags(&root_cert, Some(pki)));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let root = Root::start_listening(&shard_addrs(&leaves), &merge.uri(), &flags).await;
    let server = root.server.over_tls(test_client(pki, &test)).await;
    MtlsTree {
        _leaves: leaves,
        _merge: merge,
        root: Root { server },
    }
}

async fn scatter_query(args: &[&str]) -> Finished {
    let mut all = vec!["query"];
    all.extend(args);
    all.push("hello");
    run_to_end(&binary("scatter"), &all, EXIT_TIMEOUT).await
}

/// `scatter query` to the root at `addr` over TLS, trusting `trusting`'s
/// CA and presenting `who`.
async fn query_as(addr: &str, trusting: &Pki, who: &CertFiles) -> Finished {
    let mut args = vec![
        "--addr".to_owned(),
        addr.to_owned(),
        "--tls-ca".to_owned(),
        trusting.ca_file.display().to_string(),
    ];
    args.extend(who.flags("tls-"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    scatter_query(&args).await
}

#[tokio::test]
async fn full_mtls_tree_answers_with_every_shard() {
    let pki = Pki::new("full");
    let tree = mtls_tree(&pki).await;
    let response = tree
        .root
        .query(Query::script(&Script::new()).deadline(DEADLINE))
        .await
        .expect("an answer over mTLS");
    assert_full_coverage(&response, 2);

    let addr = tree.root.server.addr().to_string();
    let out = query_as(&addr, &pki, &pki.issue("cli")).await;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("coverage: 2/2 answered"), "{out:?}");
}

#[tokio::test]
async fn mtls_root_refuses_plaintext_clients_and_certificates_it_did_not_sign() {
    let pki = Pki::new("client-side");
    let tree = mtls_tree(&pki).await;
    let addr = tree.root.server.addr().to_string();
    let ca = pki.ca_file.display().to_string();

    let plaintext = scatter_query(&["--addr", &addr]).await;
    assert!(
        !plaintext.status.success(),
        "a plaintext client was answered: {plaintext:?}"
    );
    assert!(
        plaintext.stderr.contains("--tls-ca"),
        "no hint at TLS: {plaintext:?}"
    );

    let anonymous = scatter_query(&["--addr", &addr, "--tls-ca", &ca]).await;
    assert!(
        !anonymous.status.success(),
        "a client without a certificate was answered: {anonymous:?}"
    );
    assert!(
        anonymous.stderr.contains("client certificates"),
        "{anonymous:?}"
    );

    let rogue_ca = Pki::new("rogue-client");
    let out = query_as(&addr, &pki, &rogue_ca.issue("rogue")).await;
    assert!(
        !out.status.success(),
        "a client the root does not trust was answered: {out:?}"
    );
    assert!(out.stderr.contains("--tls-cert"), "{out:?}");
}

#[tokio::test]
async fn leaf_requiring_client_certificates_refuses_a_root_without_a_trusted_one() {
    let pki = Pki::new("leaf-side");
    let test = pki.issue("test-client");
    let leaf_cert = pki.issue("leaf");
    // Shard 0 requires callers' certificates; shard 1 only serves TLS.
    let strict = tls_leaf(
        0,
        2,
        serve_flags(&leaf_cert, Some(&pki)),
        test_client(&pki, &test),
    )
    .await;
    let lenient = tls_leaf(
        1,
        2,
        serve_flags(&leaf_cert, None),
        test_client(&pki, &test),
    )
    .await;
    let leaves = [strict, lenient];
    let rogue_ca = Pki::new("rogue-root");
    let rogue = rogue_ca.issue("rogue-root");

    for identity in [None, Some(&rogue)] {
        let root = concat_root(&leaves, upstream_flags(&pki, identity)).await;
        let refused = only_missing_shard(&root, 0).await;
        assert!(
            refused.message.to_lowercase().contains("certificate"),
            "shard 0 is not said to fail on a certificate: {refused:?}"
        );
        let details = root.status().await;
        let last_error = &details["shards"][0]["replicas"][0]["last_error"]["message"];
        assert!(
            last_error
                .as_str()
                .is_some_and(|m| m.to_lowercase().contains("certificate")),
            "{details}"
        );
    }
}

#[tokio::test]
async fn root_refuses_a_leaf_whose_certificate_it_does_not_trust() {
    let pki = Pki::new("trusted");
    let rogue_ca = Pki::new("rogue-leaf");
    let honest = tls_leaf(
        0,
        2,
        serve_flags(&pki.issue("leaf"), None),
        test_client(&pki, &pki.issue("t")),
    )
    .await;
    let impostor = tls_leaf(
        1,
        2,
        serve_flags(&rogue_ca.issue("impostor"), None),
        test_client(&rogue_ca, &rogue_ca.issue("t")),
    )
    .await;
    let leaves = [honest, impostor];
    let root = concat_root(&leaves, upstream_flags(&pki, Some(&pki.issue("root")))).await;
    let refused = only_missing_shard(&root, 1).await;
    assert!(
        refused.message.contains("UnknownIssuer"),
        "shard 1 is not said to have an untrusted certificate: {refused:?}"
    );
}

#[tokio::test]
async fn missing_or_bad_tls_files_stop_processes_at_start_naming_them() {
    let pki = Pki::new("bad-files");
    let good = pki.issue("good");
    let not_pem = pki.dir().join("notes.txt");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let key = good.key.display().to_string();
    let not_pem = not_pem.display().to_string();
    let listen = free_port().to_string();

    let leaf = run_to_end(
        &binary("test-leaf"),
        &[
            "--shard",
            "0",
            "--shard-count",
            "1",
            "--listen",
            &listen,
            "--tls-cert",
            "/nonexistent/leaf.pem",
            "--tls-key",
            &key,
        ],
        EXIT_TIMEOUT,
    )
    .await;
    assert!(!leaf.status.success(), "{leaf:?}");
    assert!(
        leaf.stderr.contains("--tls-cert") && leaf.stderr.contains("/nonexistent/leaf.pem"),
        "{leaf:?}"
    );

    let root = |extra: &'static [&'static str], file: String| async move {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--shard", "127.0.0.1:1"];
        args.extend(extra);
        args.push(&file);
        run_to_end(&binary("scatter"), &args, EXIT_TIMEOUT).await
    };
    let out = root(&["--upstream-tls-ca"], not_pem.clone()).await;
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("--upstream-tls-ca") && out.stderr.contains(&not_pem),
        "{out:?}"
    );
    assert!(out.stderr.contains("no PEM CERTIFICATE"), "{out:?}");

    let out = root(&["--tls-cert", "/dev/null", "--tls-key"], key.clone()).await;
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("--tls-cert") && out.stderr.contains("/dev/null"),
        "{out:?}"
    );

    let out = root(&["--tls-key"], key.clone()).await;
    assert!(out.stderr.contains("go together"), "{out:?}");

    let out = scatter_query(&["--addr", &listen, "--tls-ca", "/nonexistent/ca.pem"]).await;
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("--tls-ca") && out.stderr.contains("/nonexistent/ca.pem"),
        "{out:?}"
    );
}

/// `GET path` on `addr` over HTTPS speaking only HTTP/1.1 — as Kubernetes
/// probes and Prometheus scrapes do — trusting `pki`, presenting `who`
/// when given: the status code and body, or why there is none.
async fn https_get(
    addr: SocketAddr,
    pki: &Pki,
    who: Option<&CertFiles>,
    path: &str,
) -> Result<(u16, String), String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&pki.ca_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match who {
        None => builder.with_no_client_auth(),
        Some(me) => {
            let chain = CertificateDer::pem_file_iter(&me.cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(&me.key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((code, body.to_owned()))
}

#[tokio::test]
async fn admin_endpoints_answer_http1_callers_over_tls_as_probes_and_scrapers_are() {
    let pki = Pki::new("http1");
    let (leaf_cert, test) = (pki.issue("leaf"), pki.issue("test-client"));
    let leaf = tls_leaf(
        0,
        1,
        serve_flags(&leaf_cert, None),
        test_client(&pki, &test),
    )
    .await;
    let ready = https_get(leaf.addr(), &pki, None, "/readyz").await;
    assert_eq!(ready, Ok((200, "ready\n".to_owned())));
    let (code, metrics) = https_get(leaf.addr(), &pki, None, "/metrics")
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("scatter_leaf_in_flight"), "{metrics}");

    // Under mutual TLS a caller with a certificate of the CA gets in over
    // HTTP/1.1 too; one without is refused.
    let strict = tls_leaf(
        0,
        1,
        serve_flags(&leaf_cert, Some(&pki)),
        test_client(&pki, &test),
    )
    .await;
    let ready = https_get(strict.addr(), &pki, Some(&test), "/readyz").await;
    assert_eq!(ready.map(|(code, _)| code), Ok(200));
    let refused = https_get(strict.addr(), &pki, None, "/readyz").await;
    assert!(refused.is_err(), "{refused:?}");
}
