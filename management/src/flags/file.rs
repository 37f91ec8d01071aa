//! `--config FILE`: a TOML file of flag values for an SDK-built process.
//! Its keys are the process's flag names (`grace-ms` or `grace_ms`), its
//! values strings, numbers or booleans; a key the process does not know,
//! or a table or list where a value belongs, is refused naming it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Flag;
use crate::Error;

/// The values a config file gives, by flag name.
#[derive(Clone, Debug, Default)]
pub(super) struct FileValues {
    /// The file they came from.
    pub path: PathBuf,
    /// Flag name → value as text, as if given on the command line.
    pub values: BTreeMap<String, String>,
}

impl FileValues {
    /// Reads `path`, checking every key against `known`.
    pub fn read(path: &Path, known: &[Flag]) -> Result<Self, Error> {
        let bad = |reason: String| Error::Config {
            path: path.display().to_string(),
            reason,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        Self::parse(path, &text, known).map_err(bad)
    }

    fn parse(path: &Path, text: &str, known: &[Flag]) -> Result<Self, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut values = BTreeMap::new();
        for (key, value) in table {
            let name = key.replace('_', "-");
            let Some(flag) = known.iter().find(|f| f.name == name && f.name != "config") else {
                let names: Vec<&str> = known.iter().map(|f| f.name).collect();
                return Err(format!(
                    "unknown key `{key}`; the keys are this process's flags: {}",
                    names.join(", ")
                ));
            };
            let text = match (value, flag.value) {
                (toml::Value::String(s), Some(_)) => s,
                (toml::Value::Integer(n), Some(_)) => n.to_string(),
                (toml::Value::Float(x), Some(_)) => x.to_string(),
                (toml::Value::Boolean(on), None) => on.to_string(),
                (other, Some(_)) => {
                    return Err(format!(
                        "key `{key}` must be a string or a number, not {}",
                        other.type_str()
                    ));
                }
                (other, None) => {
                    return Err(format!(
                        "key `{key}` is a switch: write true or false, not {}",
                        other.type_str()
                    ));
                }
            };
            values.insert(flag.name.to_owned(), text);
        }
        Ok(Self {
            path: path.to_owned(),
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[Flag] = &[
        Flag {
            name: "grace-ms",
            env: "X_GRACE",
            value: Some("MS"),
            help: "",
        },
        Flag {
            name: "verbose",
            env: "X_VERBOSE",
            value: None,
            help: "",
        },
    ];

    fn parse(text: &str) -> Result<FileValues, String> {
        FileValues::parse(Path::new("leaf.toml"), text, KNOWN)
    }

    #[test]
    fn keys_are_flag_names_with_dashes_or_underscores() {
        let file = parse("grace_ms = 250\nverbose = true\n").unwrap();
        assert_eq!(file.values["grace-ms"], "250");
        assert_eq!(file.values["verbose"], "true");
    }

    #[test]
    fn an_unknown_key_or_a_wrong_type_is_named() {
        let error = parse("grace-ms = 1\nlisen = \"x\"\n").unwrap_err();
        assert!(
            error.contains("unknown key `lisen`") && error.contains("grace-ms"),
            "{error}"
        );
        let error = parse("grace-ms = [1]").unwrap_err();
        assert!(
            error.contains("`grace-ms` must be a string or a number"),
            "{error}"
        );
        let error = parse("verbose = \"yes\"").unwrap_err();
        assert!(error.contains("`verbose` is a switch"), "{error}");
        let error = parse("grace-ms = ").unwrap_err();
        assert!(error.contains("line 1"), "{error}");
    }
}
