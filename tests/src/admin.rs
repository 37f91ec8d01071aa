//! The admin HTTP endpoints every Scatter process serves on its gRPC port
//! (`/healthz`, `/readyz`, `/metrics`, `/status`), read with a minimal
//! HTTP/1.1 GET, and Prometheus text parsed just enough to read one series.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// `GET path` on `addr`: the status code and the body.
pub async fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let (code, _, body) = get_with(addr, path, &[]).await?;
    Ok((code, body))
}

/// `GET path` on `addr` with extra request `headers` (e.g. `Accept`): the
/// status code, the response's head (status line and headers) and the body.
pub async fn get_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let (code, chunked, body) = parse_response(&response).ok_or_else(|| {
        let text = String::from_utf8_lossy(&response);
        io::Error::new(io::ErrorKind::InvalidData, format!("not HTTP: {text:?}"))
    })?;
    // The body ends the response; the head is what comes before its blank line.
    let head = String::from_utf8_lossy(&response[..response.len() - body.len() - 4]).into_owned();
    // Chunk sizes count bytes, which may split a character: join the
    // chunks first, decode the text after.
    let body = if chunked {
        unchunk(body)
    } else {
        body.to_vec()
    };
    Ok((code, head, String::from_utf8_lossy(&body).into_owned()))
}

/// The status code of an HTTP/1.1 response, whether its body is chunked,
/// and the body's bytes; `None` when it is not an HTTP response.
fn parse_response(response: &[u8]) -> Option<(u16, bool, &[u8])> {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&response[..end]);
    let code = head.split(' ').nth(1)?.parse().ok()?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Some((code, chunked, &response[end + 4..]))
}

/// The body of a `Transfer-Encoding: chunked` response; stops at the last
/// chunk or at the first malformed one.
fn unchunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..line_end])
            .ok()
            .and_then(|size| usize::from_str_radix(size.trim(), 16).ok());
        let rest = &body[line_end + 2..];
        let Some(chunk) = size
            .filter(|&size| size > 0)
            .and_then(|size| rest.get(..size))
        else {
            break;
        };
        out.extend_from_slice(chunk);
        body = rest[chunk.len()..]
            .strip_prefix(b"\r\n")
            .unwrap_or(&rest[chunk.len()..]);
    }
    out
}

/// The value of one series in Prometheus text, e.g.
/// `scatter_leaf_calls_total{outcome="cancelled"}`; `None` when absent.
pub fn series_value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_series_and_not_its_prefix_siblings() {
        let text = "# TYPE calls counter\ncalls_total{outcome=\"ok\"} 3\ncalls_total 9\n";
        assert_eq!(series_value(text, "calls_total{outcome=\"ok\"}"), Some(3.0));
        assert_eq!(series_value(text, "calls_total"), Some(9.0));
        assert_eq!(series_value(text, "calls"), None);
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(unchunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
    }
}

#[cfg(test)]
mod fuzz;
