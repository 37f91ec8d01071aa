//! What the leaf and merge batteries share: the health check, garbage on
//! the wire, how late past a deadline a call may end, and bytes nobody can
//! read.

use std::time::Duration;

use bytes::Bytes;
use tonic::Code;

use super::report::Outcome;
use super::wire;

/// How late past its deadline a call may still end.
pub const DEADLINE_SLACK: Duration = Duration::from_secs(1);

/// Bytes no text, JSON or protobuf reader accepts.
pub const UNREADABLE: &[u8] = b"\xff\xfe\x00\xc3\x28{\"\xa0\xa1not readable\xf0\x28\x8c\x28";

/// gRPC health: `Check("")` must answer SERVING, and `Check(service)`
/// SERVING too, or NOT_FOUND where the process names no services.
pub async fn health(uri: &str, service: &str) -> Outcome {
    let expected = "grpc.health.v1 Check(\"\") answers SERVING";
    match wire::health(uri, "").await {
        Ok(status) if status == wire::SERVING => {}
        Ok(status) => return Outcome::fail(expected, wire::status_name(status)),
        Err(status) => return Outcome::fail(expected, wire::describe(&status)),
    }
    let expected = format!("Check(\"{service}\") SERVING, or NOT_FOUND, like Check(\"\")");
    match wire::health(uri, service).await {
        Ok(status) if status == wire::SERVING => {
            Outcome::pass(format!("SERVING (\"\" and {service})"))
        }
        Err(status) if status.code() == Code::NotFound => Outcome::pass("SERVING"),
        Ok(status) => Outcome::fail(expected, wire::status_name(status)),
        Err(status) => Outcome::fail(expected, wire::describe(&status)),
    }
}

/// Sends bytes that are not HTTP/2, broken HTTP/2 frames, and a gRPC
/// message to `method` that is not protobuf; then health must still say
/// SERVING.
pub async fn survives_garbage(uri: &str, method: &'static str) -> Outcome {
    let expected = "health still SERVING after garbage on the wire";
    let mut noise: Vec<u8> = b"\x16\x03\x01 not HTTP/2 at all \r\n\r\n".to_vec();
    noise.extend((0..2048u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    if let Err(why) = wire::raw_tcp(uri, &noise).await {
        return Outcome::fail(expected, why);
    }
    let mut frames = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frames.extend_from_slice(b"\x00\x00\x08\x07\x00\xff\xff\xff\xff\xde\xad\xbe\xef\x00\x00");
    frames.extend_from_slice(&[0xff; 64]);
    if let Err(why) = wire::raw_tcp(uri, &frames).await {
        return Outcome::fail(expected, why);
    }
    // Field 1, length-delimited, claiming far more bytes than follow.
    let body = Bytes::from_static(b"\x0a\xff\xff\xff\xff\x0f\x01\x02");
    let undecodable = match wire::raw_unary(wire::channel(uri), method, body).await {
        Ok(()) => "OK".to_owned(),
        Err(status) => wire::describe(&status),
    };
    match wire::health(uri, "").await {
        Ok(status) if status == wire::SERVING => Outcome::pass(format!(
            "SERVING after non-HTTP/2 bytes, broken frames and a message that is not \
             protobuf (answered {undecodable})"
        )),
        Ok(status) => Outcome::fail(expected, wire::status_name(status)),
        Err(status) => Outcome::fail(expected, wire::describe(&status)),
    }
}
