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
    let text = String::from_utf8_lossy(&response);
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("not HTTP: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_owned()
    };
    Ok((code, head.to_owned(), body))
}

/// The body of a `Transfer-Encoding: chunked` response.
fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
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
        assert_eq!(unchunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}
