//! Following one request by its id: the client's `x-request-id` (or the
//! root's own number) comes back in the response's metadata and reaches
//! every leaf's logs; a bad id is refused; the root logs each finished
//! request (as JSON lines when asked) and each slow one.

use std::time::Duration;

use futures::future::join_all;
use scatter_proto::v1::QueryResponse;
use scatter_tests::root::Query;
use scatter_tests::server::{Server, free_port};
use scatter_tests::{ChildProcess, Root, Script, binary, eventually};
use tonic::Code;

const SCATTER_DEBUG: &str = "info,scatter_root=debug,scatter_leaf=debug,scatter_merge=debug";
const DEBUG: &[(&str, &str)] = &[("SCATTER_LOG", SCATTER_DEBUG)];
const WAIT: Duration = Duration::from_secs(10);

/// Test leaves (one per shard) and the test merge with `env`, and a root
/// over them with `env` and `flags`.
struct LoggedTree {
    leaves: Vec<Server>,
    _merge: Server,
    root: Root,
}

impl LoggedTree {
    async fn start(shards: u32, env: &[(&str, &str)], flags: &[&str]) -> Self {
        let leaves = join_all((0..shards).map(|shard| {
            let args = [
                "--shard",
                &shard.to_string(),
                "--shard-count",
                &shards.to_string(),
            ]
            .map(str::to_owned);
            serve(
                format!("test-leaf {shard}"),
                "test-leaf",
                args.to_vec(),
                env,
            )
        }))
        .await;
        let merge = serve("test-merge".to_owned(), "test-merge", Vec::new(), env).await;
        let mut args: Vec<String> = ["serve", "--listen", "127.0.0.1:0", "--merge"]
            .map(str::to_owned)
            .to_vec();
        args.push(merge.uri());
        for leaf in &leaves {
            args.extend(["--shard".to_owned(), leaf.addr().to_string()]);
        }
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        let mut process = ChildProcess::spawn_with_env("root", &binary("scatter"), &args, env);
        let ready = "scatter root ready on http://";
        let line = process.stdout_line(ready, WAIT).await;
        let addr = line
            .rsplit(ready)
            .next()
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let root = Root {
            server: Server::adopt(process, addr).await,
        };
        Self {
            leaves,
            _merge: merge,
            root,
        }
    }
}

async fn serve(name: String, program: &str, mut args: Vec<String>, env: &[(&str, &str)]) -> Server {
    let addr = free_port();
    args.extend(["--listen".to_owned(), addr.to_string()]);
    let process = ChildProcess::spawn_with_env(&name, &binary(program), &args, env);
    Server::adopt(process, addr).await
}

/// Sends `query` with `x-request-id: id` (none when `None`); the answer and
/// the id in the response's metadata.
async fn query_with_id(
    root: &Root,
    query: Query,
    id: Option<&str>,
) -> Result<(QueryResponse, Option<String>), tonic::Status> {
    let mut request = query.request();
    if let Some(id) = id {
        request
            .metadata_mut()
            .insert("x-request-id", id.parse().expect("a header value"));
    }
    let response = root.client().await.query(request).await?;
    let echoed = response
        .metadata()
        .get("x-request-id")
        .map(|v| v.to_str().expect("ASCII").to_owned());
    Ok((response.into_inner(), echoed))
}

#[tokio::test]
async fn the_clients_request_id_comes_back_and_reaches_every_leafs_logs() {
    let tree = LoggedTree::start(2, DEBUG, &[]).await;
    let (_, echoed) = query_with_id(&tree.root, Query::script(&Script::new()), Some("abc-123"))
        .await
        .expect("answered");
    assert_eq!(echoed.as_deref(), Some("abc-123"));

    for leaf in &tree.leaves {
        eventually("the leaf logs the request id", WAIT, async || {
            leaf.process.output().contains("abc-123")
        })
        .await;
    }
    eventually("the root logs the request id", WAIT, async || {
        tree.root.server.process.output().contains("abc-123")
    })
    .await;
}

#[tokio::test]
async fn without_an_id_the_root_returns_its_own_number_in_metadata_and_answer() {
    let tree = LoggedTree::start(1, &[], &[]).await;
    let (answer, echoed) = query_with_id(&tree.root, Query::script(&Script::new()), None)
        .await
        .expect("answered");
    assert_ne!(answer.request_id, 0);
    assert_eq!(echoed, Some(answer.request_id.to_string()));

    // The progressive call carries it too, in its response headers.
    let mut request = Query::script(&Script::new()).request();
    request
        .metadata_mut()
        .insert("x-request-id", "stream-7".parse().expect("a header value"));
    let response = tree
        .root
        .client()
        .await
        .query_stream(request)
        .await
        .expect("stream opened");
    assert_eq!(
        response
            .metadata()
            .get("x-request-id")
            .map(|v| v.to_str().ok()),
        Some(Some("stream-7"))
    );
}

#[tokio::test]
async fn a_request_id_too_long_or_not_visible_ascii_is_invalid_argument() {
    let tree = LoggedTree::start(1, &[], &[]).await;
    let long = "x".repeat(129);
    for bad in [long.as_str(), "has space", "tab\there"] {
        let status = query_with_id(&tree.root, Query::script(&Script::new()), Some(bad))
            .await
            .expect_err("a bad id is refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}: {status:?}");
        assert!(status.message().contains("x-request-id"), "{status:?}");
    }
    let ok = "y".repeat(128);
    query_with_id(&tree.root, Query::script(&Script::new()), Some(&ok))
        .await
        .expect("128 bytes are accepted");
}

#[tokio::test]
async fn a_failed_shard_is_one_json_line_naming_the_request_the_shard_and_its_outcome() {
    let env = [
        ("SCATTER_LOG", SCATTER_DEBUG),
        ("SCATTER_LOG_FORMAT", "json"),
    ];
    let tree = LoggedTree::start(2, &env, &["--log-format", "json"]).await;
    let script = Script::new().fail(1, "internal", "broken index");
    let (answer, _) = query_with_id(&tree.root, Query::script(&script), Some("json-42"))
        .await
        .expect("a partial answer");
    assert_eq!(answer.coverage.expect("coverage").failed, 1);

    let line = async || {
        let output = tree.root.server.process.output();
        output.lines().find_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            let fields = &value["fields"];
            (fields["request_id"] == "json-42" && fields["message"] == "shard not answered")
                .then(|| fields.clone())
        })
    };
    eventually("the root logs the failed shard as JSON", WAIT, async || {
        line().await.is_some()
    })
    .await;
    let fields = line().await.expect("found");
    assert_eq!(fields["shard"], 1, "{fields}");
    assert_eq!(fields["outcome"], "failed", "{fields}");
    assert_eq!(fields["code"], "Internal", "{fields}");
    assert!(
        fields["replica"].as_str().is_some_and(|r| !r.is_empty()),
        "{fields}"
    );

    // The leaves' JSON lines carry the id in their span.
    eventually("a leaf's JSON line names the request", WAIT, async || {
        tree.leaves[1].process.output().lines().any(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .is_ok_and(|v| v["span"]["request_id"] == "json-42")
        })
    })
    .await;
}

#[tokio::test]
async fn a_request_slower_than_the_threshold_is_logged_as_slow() {
    let tree = LoggedTree::start(1, &[], &["--slow-request-ms", "50"]).await;
    query_with_id(&tree.root, Query::script(&Script::new()), Some("quick-1"))
        .await
        .expect("answered");
    let script = Script::new().delay(0, 200);
    query_with_id(&tree.root, Query::script(&script), Some("slow-1"))
        .await
        .expect("answered");
    eventually("the slow request is logged", WAIT, async || {
        tree.root
            .server
            .process
            .output()
            .lines()
            .any(|line| line.contains("slow request") && line.contains("slow-1"))
    })
    .await;
    assert!(
        !tree.root.server.process.output().contains("quick-1"),
        "a quick request is not logged at the default level"
    );
}
