//! The Docker runtime with mTLS: a directory of certificates is mounted
//! read-only into every leaf and merge container, which serve TLS and
//! require the root's certificate; the runtime watches them and the root
//! calls them over TLS, and the tree answers in full.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use scatter_root::config::UpstreamTlsConfig;
use scatter_root::runtime::docker::{DockerOptions, TLS_MOUNT};
use scatter_tests::tls::{CertFiles, Pki};

use crate::engine;
use crate::load::Load;
use crate::tree::ContainerTree;

const DEADLINE: Duration = Duration::from_secs(2);

/// Where `file` of the mounted directory is inside a container.
fn inside(file: &Path) -> String {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a file name");
    format!("{TLS_MOUNT}/{name}")
}

/// The variables that make an SDK process serve mTLS as `me`, requiring
/// callers certified by `pki`.
fn serve_tls(me: &CertFiles, pki: &Pki) -> Vec<(String, String)> {
    vec![
        ("SCATTER_TLS_CERT".to_owned(), inside(&me.cert)),
        ("SCATTER_TLS_KEY".to_owned(), inside(&me.key)),
        ("SCATTER_TLS_CLIENT_CA".to_owned(), inside(&pki.ca_file)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_serve_mtls_with_certificates_mounted_from_a_directory() {
    if !engine::available() {
        return;
    }
    let _turn = engine::turn().await;
    let pki = Pki::new("docker");
    let (leaf, merge, root) = (pki.issue("leaf"), pki.issue("merge"), pki.issue("root"));
    let tune = |options: &mut DockerOptions| {
        options.tls_dir = Some(pki.dir().to_owned());
        options.leaf.env.extend(serve_tls(&leaf, &pki));
        if let Some(spec) = &mut options.merge {
            spec.env.extend(serve_tls(&merge, &pki));
        }
        // The containers are dialled by address; their certificates name
        // `localhost`.
        options.connect.tls = UpstreamTlsConfig {
            ca: Some(pki.ca_file.clone()),
            cert: Some(root.cert.clone()),
            key: Some(root.key.clone()),
            server_name: Some("localhost".to_owned()),
        };
    };
    let tree = Box::pin(ContainerTree::start_with("mtls", 2, 1, tune)).await;
    for shard in 0..2 {
        let uri = tree.leaf_uri(shard, 0).expect("a leaf on the network");
        assert!(tree.in_rotation(shard).contains(&uri), "shard {shard}");
    }

    let load = Load::start(tree.addr, 1, DEADLINE);
    let since = Instant::now();
    load.until(
        "answers over TLS",
        since,
        Duration::from_secs(20),
        |outcomes| outcomes.iter().filter(|o| o.full(2)).count() >= 5,
    )
    .await;
    load.assert_all_answered(since, |coverage| coverage.answered == 2);
    load.stop().await;
    tree.stop().await;
}
