//! What a failed call means: statuses made of hand-built errors, and calls
//! to a peer on loopback that speaks just enough HTTP/2 to take a call's
//! HEADERS and then refuse it, or drop the connection under it.

use std::net::SocketAddr;

use scatter_proto::v1::LeafRequest;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::topology::Connector;

/// An empty SETTINGS frame, and its acknowledgement.
const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];
const SETTINGS_ACK: [u8; 9] = [0, 0, 0, 4, 1, 0, 0, 0, 0];
/// RST_STREAM on the first stream with REFUSED_STREAM (0x7).
const REFUSED_STREAM: [u8; 13] = [0, 0, 4, 3, 0, 0, 0, 0, 1, 0, 0, 0, 7];
/// GOAWAY, last stream 0 (none taken), NO_ERROR: a peer closing.
const GOAWAY: [u8; 17] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// What the peer does once the call's HEADERS have arrived.
enum Then {
    /// Writes these frames and keeps the connection until the client goes.
    Send(&'static [u8]),
    /// Closes the connection.
    Close,
}

/// A peer on loopback taking one connection: the HTTP/2 preface and
/// settings, then `then` once the first call's HEADERS arrive.
async fn peer(then: Then) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut preface = [0; 24];
        socket.read_exact(&mut preface).await.unwrap();
        socket.write_all(&SETTINGS).await.unwrap();
        until_headers(&mut socket).await;
        match then {
            Then::Send(frames) => {
                socket.write_all(frames).await.unwrap();
                let mut rest = Vec::new();
                let _ = socket.read_to_end(&mut rest).await;
            }
            Then::Close => drop(socket),
        }
    });
    addr
}

/// Reads frames, acknowledging the client's SETTINGS, up to the first
/// HEADERS frame.
async fn until_headers(socket: &mut TcpStream) {
    loop {
        let mut header = [0; 9];
        socket.read_exact(&mut header).await.unwrap();
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]);
        let mut payload = vec![0; length as usize];
        socket.read_exact(&mut payload).await.unwrap();
        match (header[3], header[4] & 1) {
            (1, _) => return,
            (4, 0) => socket.write_all(&SETTINGS_ACK).await.unwrap(),
            _ => {}
        }
    }
}

/// A leaf call to `addr`, failed, as the root acts on it.
async fn call(addr: SocketAddr) -> Status {
    let connector = Connector::default();
    let channel = connector
        .endpoint(&format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let failed = connector
        .leaf_client(channel)
        .answer(LeafRequest::default())
        .await
        .expect_err("the peer never answers");
    local_cause(failed)
}

#[tokio::test]
async fn a_call_the_peer_closing_turned_away_unread_is_unavailable_and_not_broken() {
    for (frames, what) in [
        (&GOAWAY[..], "GOAWAY"),
        (&REFUSED_STREAM[..], "REFUSED_STREAM"),
    ] {
        let status = call(peer(Then::Send(frames)).await).await;
        assert_eq!(status.code(), Code::Unavailable, "{what}: {status:?}");
        assert!(
            !is_broken_connection(&status),
            "{what}: the peer did no work, the payload is not to blame: {status:?}"
        );
    }
    let status = call(peer(Then::Send(&GOAWAY)).await).await;
    assert!(
        status
            .message()
            .contains("refused the call before doing any work"),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_connection_that_breaks_after_the_peer_took_the_call_is_broken() {
    let status = call(peer(Then::Close).await).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(is_broken_connection(&status), "{status:?}");
    assert!(
        status
            .message()
            .contains("the connection broke during the call"),
        "{status:?}"
    );
}

#[test]
fn statuses_from_the_peer_are_kept() {
    let status = local_cause(Status::unknown("the leaf's own unknown error"));
    assert_eq!(status.code(), Code::Unknown);
    let status = local_cause(Status::cancelled("the leaf gave up"));
    assert_eq!(status.code(), Code::Cancelled);
    let status = local_cause(Status::internal("the merge's own bug"));
    assert_eq!(status.code(), Code::Internal);
}

#[test]
fn a_broken_connection_is_unavailable() {
    let status = broken_connection();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("connection reset"), "{status:?}");
    assert!(is_broken_connection(&status));
    assert!(!is_broken_connection(&Status::unavailable(
        "the leaf's own"
    )));
}

#[test]
fn a_connection_closed_before_the_call_hints_at_a_refused_certificate() {
    let closed = std::io::Error::other("operation was canceled: connection closed");
    let mut status = Status::cancelled("operation was canceled");
    status.set_source(std::sync::Arc::new(closed));
    let status = local_cause(status);
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("--upstream-tls-cert"),
        "{status:?}"
    );
}
