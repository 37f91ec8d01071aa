//! Property tests of the admin readers: any bytes from a server are read
//! without a panic, chunked bodies join back to what was sent whatever the
//! chunk sizes (even ones that split a character), and every series of a
//! rendered registry reads back with its value.

use proptest::prelude::*;
use scatter_management::metrics::Registry;

use super::{parse_response, series_value, unchunk};

/// `body` sent in chunks of `sizes` bytes (cycled), then the last chunk.
fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A label value as the text format writes it (Prometheus escaping).
fn escaped(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_response_bytes_are_read_without_panic(
        response in proptest::collection::vec(any::<u8>(), 0..512),
        series in ".{0,16}",
    ) {
        if let Some((_, _, body)) = parse_response(&response) {
            let _ = unchunk(body);
        }
        let _ = unchunk(&response);
        let _ = series_value(&String::from_utf8_lossy(&response), &series);
    }

    #[test]
    fn chunked_bodies_join_back_whatever_the_chunk_sizes(
        body in "\\PC{0,64}",
        sizes in proptest::collection::vec(1usize..9, 1..6),
    ) {
        let mut response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        response.extend(chunked(body.as_bytes(), &sizes));
        let (code, is_chunked, raw) = parse_response(&response).expect("an HTTP response");
        prop_assert_eq!(code, 200);
        prop_assert!(is_chunked);
        prop_assert_eq!(unchunk(raw), body.as_bytes());
    }

    #[test]
    fn every_series_of_a_rendered_registry_reads_back(
        counters in proptest::collection::btree_map("[a-z_][a-z0-9_]{0,8}", any::<u64>(), 0..6),
        gauges in proptest::collection::btree_map("[^\n]{0,12}", any::<i64>(), 0..6),
    ) {
        let registry = Registry::default();
        for (name, value) in &counters {
            // Named as exposed, `_total` included, whichever registry renders it.
            registry.counter(&format!("c_{name}_total"), "help", &[]).add(*value);
        }
        for (label, value) in &gauges {
            registry.gauge("g", "help", &[("k", label)]).set(*value);
        }
        let text = registry.render();
        for (name, value) in &counters {
            let read = series_value(&text, &format!("c_{name}_total"));
            prop_assert_eq!(read, Some(*value as f64), "c_{}_total in\n{}", name, text);
        }
        for (label, value) in &gauges {
            let series = format!("g{{k=\"{}\"}}", escaped(label));
            let read = series_value(&text, &series);
            prop_assert_eq!(read, Some(*value as f64), "{} in\n{}", series, text);
        }
    }
}
