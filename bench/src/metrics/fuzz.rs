//! Property tests of the `/metrics` reader: any text parses without a panic,
//! a rendered registry reads back series by series with its labels
//! unescaped, and chunked bodies join back whatever the chunk sizes.

use proptest::prelude::*;
use scatter_management::metrics::Registry;

use super::{Reading, dechunk, label};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_parses_without_panic(text in "\\PC{0,256}", name in "\\PC{0,8}", key in "\\PC{0,4}") {
        let reading = Reading::parse(&text);
        let _ = reading.sum(&name);
        for (labels, _) in reading.series(&name) {
            let _ = label(labels, &key);
        }
        let _ = label(&text, &key);
        let _ = dechunk(text.as_bytes());
    }

    #[test]
    fn a_rendered_registry_reads_back_with_its_labels(
        replicas in proptest::collection::btree_map("[^\n]{0,16}", any::<u32>(), 1..6),
    ) {
        let registry = Registry::default();
        for (replica, value) in &replicas {
            let labels = [("shard", "0"), ("replica", replica.as_str())];
            registry.counter("calls_total", "help", &labels).add(u64::from(*value));
        }
        let reading = Reading::parse(&registry.render());
        let total: f64 = replicas.values().map(|v| f64::from(*v)).sum();
        prop_assert_eq!(reading.sum("calls_total"), total);
        let mut read: Vec<(String, f64)> = reading
            .series("calls_total")
            .map(|(labels, v)| (label(labels, "replica").unwrap_or_default(), v))
            .collect();
        read.sort_by(|a, b| a.0.cmp(&b.0));
        let want: Vec<(String, f64)> =
            replicas.iter().map(|(r, v)| (r.clone(), f64::from(*v))).collect();
        prop_assert_eq!(read, want);
    }

    #[test]
    fn chunked_bodies_join_back_whatever_the_chunk_sizes(
        body in "\\PC{0,64}",
        size in 1usize..9,
    ) {
        let mut wire = Vec::new();
        for chunk in body.as_bytes().chunks(size) {
            wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        prop_assert_eq!(dechunk(&wire).unwrap(), body.as_bytes());
    }
}
