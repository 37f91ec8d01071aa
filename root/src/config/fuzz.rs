//! Property tests of the TOML configuration: any text is a configuration or
//! an error, never a panic; any value for a known key is accepted or refused
//! with a message that names that key; an accepted configuration starts a
//! fan-out that answers; and a written configuration reads back the same.

use std::time::Duration;

use proptest::prelude::*;
use toml::{Table, Value};

use super::RootConfig;
use crate::Fanout;

/// Every key the file knows, by section (`""`: the top level).
const KEYS: &[(&str, &str)] = &[
    ("", "listen"),
    ("", "merge"),
    ("", "shards"),
    ("deadline", "default"),
    ("deadline", "max"),
    ("deadline", "merge_reserve"),
    ("deadline", "merge_reserve_floor"),
    ("deadline", "merge_reserve_percentile"),
    ("limits", "max_request_bytes"),
    ("limits", "max_concurrent_requests"),
    ("limits", "max_response_bytes"),
    ("limits", "max_partial_bytes"),
    ("limits", "max_result_bytes"),
    ("limits", "max_shards"),
    ("limits", "max_metadata_bytes"),
    ("admission", "adaptive"),
    ("admission", "initial_limit"),
    ("admission", "min_limit"),
    ("admission", "tolerance"),
    ("admission", "window"),
    ("admission", "deadline_aware"),
    ("hedge", "enabled"),
    ("hedge", "percentile"),
    ("hedge", "fixed_delay"),
    ("hedge", "min_delay"),
    ("hedge", "max_delay"),
    ("hedge", "budget_ratio"),
    ("hedge", "budget_burst"),
    ("hedge", "max_attempts"),
    ("hedge", "min_remaining"),
    ("probation", "enabled"),
    ("probation", "latency_factor"),
    ("probation", "error_rate"),
    ("probation", "min_duration"),
    ("probation", "probe_interval"),
    ("connect", "timeout"),
    ("connect", "keepalive"),
    ("connect", "gather_writes"),
    ("logs", "slow_request"),
    ("readiness", "min_coverage"),
    ("readiness", "interval"),
    ("readiness", "timeout"),
    ("lifecycle", "grace"),
    ("lifecycle", "drain_delay"),
    ("traces", "otlp_endpoint"),
    ("tls", "cert"),
    ("tls", "key"),
    ("tls", "client_ca"),
];

/// Values of every TOML type, biased towards the edges a config meets:
/// durations with odd units and signs, NaN and infinities, huge integers.
fn value() -> impl Strategy<Value = Value> {
    let float = prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        -1.0..2.0f64,
        0.0..100.0f64,
    ];
    let text = prop_oneof![
        "-?[0-9]{0,5}(\\.[0-9]{0,3})?(us|ms|s|m|h|ns|)",
        "127\\.0\\.0\\.1:[0-9]{1,6}",
        "\\PC{0,12}",
    ];
    let scalar = prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        float.prop_map(Value::Float),
        any::<bool>().prop_map(Value::Boolean),
        text.prop_map(Value::String),
    ];
    prop_oneof![
        3 => scalar.clone(),
        1 => proptest::collection::vec(scalar.clone(), 0..3).prop_map(Value::Array),
        1 => proptest::collection::vec(
            proptest::collection::vec(scalar, 0..3).prop_map(Value::Array),
            0..3
        )
        .prop_map(Value::Array),
    ]
}

/// A valid file (one shard, the built-in merge) with `key` set to `value`.
fn document_with(section: &str, key: &str, value: Value) -> String {
    let mut table = Table::new();
    table.insert(
        "shards".into(),
        Value::Array(vec![Value::Array(vec!["127.0.0.1:1".into()])]),
    );
    if section.is_empty() {
        table.insert(key.into(), value);
    } else {
        let mut inner = Table::new();
        inner.insert(key.into(), value);
        table.insert(section.into(), Value::Table(inner));
    }
    toml::to_string(&table).expect("a table renders")
}

/// Reads and checks `text` as [`RootConfig::from_toml_file`] and
/// [`Fanout::connect`] do.
fn read(text: &str) -> Result<RootConfig, String> {
    let config: RootConfig = toml::from_str(text).map_err(|e| e.to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_is_a_config_or_an_error(text in "\\PC{0,160}") {
        let _ = read(&text);
    }

    #[test]
    fn toml_shaped_text_is_a_config_or_an_error(
        text in "(\\[[a-z]{1,9}\\]\n|[a-z_]{1,12} = (\"[0-9a-z.:]{0,8}\"|[0-9.e+-]{1,6}|true|\\[\\])\n){0,6}",
    ) {
        let _ = read(&text);
    }

    #[test]
    fn any_value_for_a_known_key_is_accepted_or_refused_naming_the_key(
        (section, key) in proptest::sample::select(KEYS),
        value in value(),
    ) {
        let text = document_with(section, key, value);
        if let Err(message) = read(&text) {
            // "no shards configured", "shard 0 has no replica address".
            let needle = if key == "shards" { "shard" } else { key };
            prop_assert!(message.contains(needle), "{key}: {message}\nin\n{text}");
        }
    }

    #[test]
    fn written_durations_and_numbers_read_back(
        default_ms in 1u64..10_000,
        extra_ms in 0u64..10_000,
        max_request_bytes in 1usize..(1 << 30),
        tolerance in 1.0..100.0f64,
    ) {
        let text = format!(
            "shards = [[\"127.0.0.1:1\"]]\n\
             [deadline]\ndefault = \"{default_ms}ms\"\nmax = \"{}ms\"\n\
             [limits]\nmax_request_bytes = {max_request_bytes}\n\
             [admission]\ntolerance = {tolerance:?}\n",
            default_ms + extra_ms
        );
        let config = read(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(config.deadline.default, Duration::from_millis(default_ms));
        prop_assert_eq!(config.deadline.max, Duration::from_millis(default_ms + extra_ms));
        prop_assert_eq!(config.limits.max_request_bytes, max_request_bytes);
        prop_assert_eq!(config.admission.tolerance, tolerance);
    }
}

proptest! {
    // Each case starts a fan-out and sends one query: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn an_accepted_config_starts_a_fanout_that_answers_or_refuses(
        (section, key) in proptest::sample::select(KEYS),
        value in value(),
    ) {
        let Ok(config) = read(&document_with(section, key, value)) else {
            return Ok(());
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let answered = runtime.block_on(async {
            let fanout = Fanout::connect(config).await.ok()?;
            let request = scatter_proto::v1::QueryRequest {
                payload: Some(scatter_proto::v1::Payload::new("text/plain", "q")),
                ..Default::default()
            };
            let query = fanout.query(request, Some(Duration::from_millis(200)));
            Some(tokio::time::timeout(Duration::from_secs(5), query).await)
        });
        if let Some(answered) = answered {
            prop_assert!(answered.is_ok(), "{key}: the query hung");
        }
    }
}
