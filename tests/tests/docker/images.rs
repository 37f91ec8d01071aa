//! The images as a platform team receives them: small (stripped static
//! binaries), running as a non-root user, and labelled with what they are
//! and which source they were built from.

use serde_json::Value;

use crate::engine::{self, LEAF_IMAGE, MERGE_IMAGE, ROOT_IMAGE, docker};

/// Each image and the most bytes it may take.
const BUDGETS: [(&str, u64); 3] = [
    (ROOT_IMAGE, 15_000_000),
    (LEAF_IMAGE, 8_000_000),
    (MERGE_IMAGE, 8_000_000),
];

/// The OCI labels every image carries.
const LABELS: [&str; 7] = [
    "title",
    "description",
    "version",
    "licenses",
    "source",
    "revision",
    "created",
];

#[test]
fn every_image_is_small_runs_as_a_non_root_user_and_says_what_it_is() {
    if !engine::available() {
        return;
    }
    for (image, budget) in BUDGETS {
        let inspected: Value = serde_json::from_str(&docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .}}",
            image,
        ]))
        .expect("docker image inspect prints JSON");
        let size = inspected["Size"].as_u64().expect("an image size");
        assert!(size <= budget, "{image} is {size} bytes, over its {budget}");
        let user = inspected["Config"]["User"].as_str().unwrap_or_default();
        assert_eq!(user, "65532:65532", "{image} runs as {user:?}");
        let labels = &inspected["Config"]["Labels"];
        for label in LABELS {
            let key = format!("org.opencontainers.image.{label}");
            let value = labels[&key].as_str().unwrap_or_default();
            assert!(!value.is_empty(), "{image} has no {key}");
        }
        assert_eq!(
            labels["org.opencontainers.image.version"],
            env!("CARGO_PKG_VERSION"),
            "{image}"
        );
        assert_eq!(
            labels["org.opencontainers.image.title"],
            image.trim_end_matches(":dev"),
            "{image}"
        );
    }
}
