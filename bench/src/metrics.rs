//! Reading a Scatter process's Prometheus `/metrics` (served over HTTP/1.1
//! on the same port as its gRPC), and subtracting two readings to get what
//! one measured phase did: the root's per-replica attempt counters, the
//! leaves' call counts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// One reading: every sample by its full series name (`name{labels}`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    samples: BTreeMap<String, f64>,
}

impl Reading {
    /// Fetches and parses `http://addr/metrics`.
    pub async fn scrape(addr: SocketAddr) -> anyhow::Result<Self> {
        let text = tokio::time::timeout(Duration::from_secs(5), get(addr, "/metrics"))
            .await
            .with_context(|| format!("GET http://{addr}/metrics timed out"))??;
        Ok(Self::parse(&text))
    }

    /// Parses the Prometheus text format (comments skipped).
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                Some((series.trim().to_owned(), value.trim().parse().ok()?))
            })
            .collect();
        Self { samples }
    }

    /// `self − before`, series by series (series new since `before` count whole).
    pub fn since(&self, before: &Self) -> Self {
        let samples = self
            .samples
            .iter()
            .map(|(k, v)| (k.clone(), v - before.samples.get(k).copied().unwrap_or(0.0)))
            .collect();
        Self { samples }
    }

    /// Like [`Self::since`] for one process that may have restarted in
    /// between: a counter that went down counts from zero (its process
    /// started again; what the dead one did after `before` is lost).
    pub fn since_restart(&self, before: &Self) -> Self {
        let samples = self
            .samples
            .iter()
            .map(|(k, v)| {
                let was = before.samples.get(k).copied().unwrap_or(0.0);
                (k.clone(), if *v < was { *v } else { v - was })
            })
            .collect();
        Self { samples }
    }

    /// Adds another reading's samples into this one.
    pub fn add(&mut self, other: &Self) {
        for (k, v) in &other.samples {
            *self.samples.entry(k.clone()).or_default() += v;
        }
    }

    /// The sum of every series of metric `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.series(name).map(|(_, v)| v).sum()
    }

    /// Every series of metric `name` with its labels, e.g.
    /// `(r#"shard="0",replica="http://..""#, 12.0)`.
    pub fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        self.samples.iter().filter_map(move |(k, v)| {
            let rest = k.strip_prefix(name)?;
            if rest.is_empty() {
                return Some(("", *v));
            }
            let labels = rest.strip_prefix('{')?.strip_suffix('}')?;
            Some((labels, *v))
        })
    }
}

/// The value of label `key` in a rendered label set, unescaped. Pairs are
/// read in order, so a key that only appears inside another label's value
/// (or as the tail of a longer key) is not taken for `key`.
pub fn label(labels: &str, key: &str) -> Option<String> {
    let mut rest = labels;
    while !rest.is_empty() {
        let (name, tail) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = tail.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        if name == key {
            return Some(value);
        }
        rest = tail[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&tail[end + 1..]);
    }
    None
}

/// A minimal HTTP/1.1 GET (the bench talks only to its own loopback
/// processes; this avoids an HTTP client dependency).
async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("malformed HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "GET {path} on {addr}: {}",
        head.lines().next().unwrap_or_default()
    );
    let body = &raw[end + 4..];
    // Chunk sizes count bytes, which may split a character: join first,
    // decode after.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk header")?;
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end])?.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        let rest = &body[line_end + 2..];
        out.extend_from_slice(rest.get(..size).context("short chunk")?);
        body = rest.get(size + 2..).context("short chunk trailer")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# HELP scatter_root_hedges_total Hedged attempts sent per replica.
# TYPE scatter_root_hedges_total counter
scatter_root_hedges_total{shard="0",replica="http://127.0.0.1:1"} 2
scatter_root_hedges_total{shard="1",replica="http://127.0.0.1:2"} 0
scatter_leaf_calls_total{outcome="ok"} 10
"#;
    const AFTER: &str = r#"scatter_root_hedges_total{shard="0",replica="http://127.0.0.1:1"} 5
scatter_root_hedges_total{shard="1",replica="http://127.0.0.1:2"} 1
scatter_leaf_calls_total{outcome="ok"} 30
scatter_leaf_calls_total{outcome="cancelled"} 4
"#;

    #[test]
    fn difference_of_two_readings_by_series_and_label() {
        let d = Reading::parse(AFTER).since(&Reading::parse(BEFORE));
        assert_eq!(d.sum("scatter_root_hedges_total"), 4.0);
        assert_eq!(d.sum("scatter_leaf_calls_total"), 24.0);
        let by_replica: Vec<_> = d
            .series("scatter_root_hedges_total")
            .map(|(l, v)| (label(l, "replica").unwrap(), v))
            .collect();
        assert_eq!(
            by_replica,
            vec![
                ("http://127.0.0.1:1".to_owned(), 3.0),
                ("http://127.0.0.1:2".to_owned(), 1.0)
            ]
        );
        assert_eq!(d.sum("scatter_root_hedges"), 0.0, "a prefix is not a name");
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
    }
}

#[cfg(test)]
mod fuzz;
