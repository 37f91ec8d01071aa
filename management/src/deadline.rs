//! Reading the caller's deadline from a gRPC request.

use std::time::Duration;

use tonic::metadata::MetadataMap;

/// The caller's time budget from the `grpc-timeout` header
/// (`<digits><unit>`, unit one of `H M S m u n`, as the gRPC HTTP/2
/// protocol defines it), or `None` when absent or malformed.
pub fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units() {
        let mut md = MetadataMap::new();
        for (text, expected) in [
            ("250m", Duration::from_millis(250)),
            ("3S", Duration::from_secs(3)),
            ("1H", Duration::from_secs(3600)),
            ("90u", Duration::from_micros(90)),
        ] {
            md.insert("grpc-timeout", text.parse().unwrap());
            assert_eq!(grpc_timeout(&md), Some(expected), "{text}");
        }
        md.insert("grpc-timeout", "12x".parse().unwrap());
        assert_eq!(grpc_timeout(&md), None);
    }
}
