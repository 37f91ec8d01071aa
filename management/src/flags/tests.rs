use super::*;

const SHARD: Flag = Flag {
    name: "shard",
    env: "SCATTER_TEST_UNSET_SHARD",
    value: Some("N"),
    help: "the shard",
};
const LISTEN: Flag = Flag {
    name: "listen",
    env: "SCATTER_TEST_UNSET_LISTEN",
    value: Some("ADDR"),
    help: "where to listen",
};
const VERBOSE: Flag = Flag {
    name: "verbose",
    env: "SCATTER_TEST_UNSET_VERBOSE",
    value: None,
    help: "say more",
};
const KNOWN: &[Flag] = &[SHARD, LISTEN, VERBOSE];

fn flags(args: &[&str]) -> Result<Flags, Error> {
    Flags::from_args(&[KNOWN], args.iter().map(|s| (*s).to_owned()))
}

fn refusal(args: &[&str]) -> String {
    flags(args).expect_err("refused").to_string()
}

#[test]
fn both_flag_forms_read_and_the_last_repeat_wins() {
    let f = flags(&["--shard=2", "--listen", "127.0.0.1:1", "--shard", "3"]).unwrap();
    assert_eq!(f.get("shard").as_deref(), Some("3"));
    assert_eq!(f.get("listen").as_deref(), Some("127.0.0.1:1"));
    assert!(!f.is_set("verbose"));
    assert!(flags(&["--verbose"]).unwrap().is_set("verbose"));
}

#[test]
fn absent_flag_and_unset_variable_read_as_none() {
    assert_eq!(flags(&[]).unwrap().get("shard"), None);
}

#[test]
fn misspelt_flag_is_refused_naming_it_and_the_known_flags() {
    let err = refusal(&["--lisen", "127.0.0.1:0"]);
    assert!(err.contains("'--lisen'"), "{err}");
    assert!(
        err.contains("--listen") && err.contains("--max-in-flight"),
        "{err}"
    );
}

#[test]
fn stray_argument_and_missing_value_are_refused() {
    assert!(refusal(&["serve"]).contains("'serve'"));
    let err = refusal(&["--shard"]);
    assert!(err.contains("--shard"), "{err}");
}

#[test]
fn help_lists_every_flag_with_its_variable() {
    for help in ["--help", "-h"] {
        let Err(Error::Usage(text)) = flags(&[help]) else {
            panic!("{help} is not a usage answer");
        };
        for expected in [
            "--listen <ADDR>",
            "SCATTER_TEST_UNSET_LISTEN",
            "--verbose",
            "--grace-ms",
        ] {
            assert!(text.contains(expected), "{help} lacks {expected}: {text}");
        }
    }
}

#[test]
#[should_panic(expected = "--absent is read but not among the flags declared")]
fn reading_an_undeclared_flag_is_a_bug() {
    let _ = flags(&[]).unwrap().get("absent");
}

#[test]
fn bad_value_names_the_flag() {
    let err = flags(&["--shard", "two"])
        .unwrap()
        .parse::<u32>("shard", 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--shard") && err.contains("two"), "{err}");
}

#[test]
fn max_in_flight_is_off_by_default_and_when_zero() {
    let unset = flags(&[]).unwrap().serve_options().expect("defaults parse");
    assert_eq!(unset.max_in_flight, None);
    let zero = flags(&["--max-in-flight", "0"])
        .unwrap()
        .serve_options()
        .unwrap();
    assert_eq!(zero.max_in_flight, None);
}

#[test]
fn max_in_flight_reads_a_cap() {
    let options = flags(&["--max-in-flight=8"])
        .unwrap()
        .serve_options()
        .unwrap();
    assert_eq!(options.max_in_flight, NonZeroUsize::new(8));
}

#[test]
fn bad_max_in_flight_names_the_flag_and_variable() {
    for bad in ["lots", "-1"] {
        let err = flags(&["--max-in-flight", bad])
            .unwrap()
            .serve_options()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--max-in-flight / SCATTER_MAX_IN_FLIGHT") && err.contains(bad),
            "{err}"
        );
    }
}

fn config_file(text: &str) -> tempfile_path::TempFile {
    tempfile_path::TempFile::with(text)
}

/// A file under the target's temporary directory, removed when dropped.
mod tempfile_path {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    pub struct TempFile(pub PathBuf);

    impl TempFile {
        pub fn with(text: &str) -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "scatter-flags-{}-{}.toml",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, text).expect("temp dir is writable");
            Self(path)
        }

        pub fn arg(&self) -> String {
            self.0.display().to_string()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn a_config_file_gives_values_that_flags_override_and_says_where_each_came_from() {
    let file = config_file("shard = 4\nlisten = \"127.0.0.1:9\"\nverbose = true\ngrace_ms = 250\n");
    let path = file.arg();
    let f = flags(&["--config", &path, "--listen", "127.0.0.1:1"]).unwrap();
    assert_eq!(f.get("shard").as_deref(), Some("4"));
    assert_eq!(f.get("listen").as_deref(), Some("127.0.0.1:1"));
    assert!(f.is_set("verbose"));
    assert_eq!(f.serve_options().unwrap().grace.as_millis(), 250);
    assert_eq!(f.source("listen"), "flag");
    assert_eq!(f.source("shard"), format!("file ({path})"));
    assert_eq!(f.source("max-in-flight"), "default");
    let printed = f.print_config();
    assert!(
        printed.contains("listen = \"127.0.0.1:1\"  # flag"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("shard = \"4\"  # file ({path})")),
        "{printed}"
    );
    assert!(printed.contains("verbose = true"), "{printed}");
    assert!(
        printed.contains("# max-in-flight = (default: 0, no cap)"),
        "{printed}"
    );
}

#[test]
fn a_bad_config_file_is_refused_naming_the_file_and_the_key() {
    let file = config_file("shard = 1\nlisen = \"127.0.0.1:9\"\n");
    let error = refusal(&["--config", &file.arg()]);
    assert!(error.contains(&file.arg()), "{error}");
    assert!(error.contains("unknown key `lisen`"), "{error}");
    let error = refusal(&["--config", "/nonexistent/leaf.toml"]);
    assert!(
        error.contains("/nonexistent/leaf.toml") && error.contains("cannot read"),
        "{error}"
    );
}

#[test]
fn tls_halves_and_a_client_ca_alone_are_refused() {
    let err = flags(&["--tls-cert", "/tmp/cert.pem"])
        .unwrap()
        .serve_options()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--tls-cert and --tls-key go together"),
        "{err}"
    );
    let err = flags(&["--tls-client-ca", "/tmp/ca.pem"])
        .unwrap()
        .serve_options()
        .unwrap_err()
        .to_string();
    assert!(err.contains("--tls-client-ca needs --tls-cert"), "{err}");
    let plain = flags(&[]).unwrap().serve_options().unwrap();
    assert!(plain.tls.is_none());
}
