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
