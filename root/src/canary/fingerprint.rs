//! A payload's fingerprint: the name under which the root remembers what
//! its canary showed. The client's `Policy.fingerprint` when it set one
//! (the kind of query, e.g. a template, whatever its parameters), else a
//! hash of the payload's content type and body.

use std::fmt;
use std::hash::{Hash as _, Hasher as _};

use scatter_proto::v1::{Payload, Policy};

use crate::error::QueryError;

/// The longest fingerprint a client may send, in bytes: a name, not a payload.
pub const MAX_CLIENT_BYTES: usize = 256;

/// What the root remembers a payload by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// The key of the root's memory.
    pub key: u64,
    /// The client's name, or `None` for a payload fingerprinted by content.
    client: Option<String>,
}

impl Fingerprint {
    /// The fingerprint of `payload` under `policy`; a client's fingerprint
    /// longer than [`MAX_CLIENT_BYTES`] is refused as malformed.
    pub fn of(policy: &Policy, payload: &Payload) -> Result<Self, QueryError> {
        check(policy)?;
        let name = &policy.fingerprint;
        // A fixed-key SipHash: the same payload has the same fingerprint on
        // every root of this build, so logs and statuses can be compared.
        // The tag keeps a client's name from colliding with a content hash.
        let mut hasher = std::hash::DefaultHasher::new();
        if name.is_empty() {
            b'c'.hash(&mut hasher);
            payload.content_type.hash(&mut hasher);
            payload.body.hash(&mut hasher);
            return Ok(Self {
                key: hasher.finish(),
                client: None,
            });
        }
        b'n'.hash(&mut hasher);
        name.hash(&mut hasher);
        Ok(Self {
            key: hasher.finish(),
            client: Some(name.clone()),
        })
    }
}

/// Refuses a client's fingerprint longer than [`MAX_CLIENT_BYTES`].
pub fn check(policy: &Policy) -> Result<(), QueryError> {
    let name = &policy.fingerprint;
    if name.len() > MAX_CLIENT_BYTES {
        return Err(QueryError::InvalidRequest(format!(
            "policy.fingerprint is {} bytes; at most {MAX_CLIENT_BYTES} are accepted \
             (name the payload's kind, not its content)",
            name.len()
        )));
    }
    Ok(())
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.client {
            Some(name) => write!(f, "{name:?}"),
            None => write!(f, "content {:016x}", self.key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(fingerprint: &str) -> Policy {
        Policy {
            fingerprint: fingerprint.into(),
            ..Policy::default()
        }
    }

    #[test]
    fn content_fingerprints_follow_type_and_body_and_a_client_name_wins_over_both() {
        let of =
            |p: &Policy, t: &str, body: &'static str| Fingerprint::of(p, &Payload::new(t, body));
        let none = policy("");
        let a = of(&none, "text/plain", "rust").unwrap();
        assert_eq!(a, of(&none, "text/plain", "rust").unwrap());
        assert_ne!(a, of(&none, "text/plain", "rusty").unwrap());
        assert_ne!(a, of(&none, "text/html", "rust").unwrap());
        assert!(a.to_string().starts_with("content "), "{a}");

        let named = policy("search-by-author");
        let b = of(&named, "text/plain", "rust").unwrap();
        assert_eq!(b, of(&named, "text/plain", "go").unwrap());
        assert_ne!(a.key, b.key);
        assert_eq!(b.to_string(), "\"search-by-author\"");
    }

    #[test]
    fn a_fingerprint_longer_than_a_name_is_refused_as_malformed() {
        let long = policy(&"x".repeat(MAX_CLIENT_BYTES + 1));
        let error = Fingerprint::of(&long, &Payload::new("text/plain", "q")).unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
        assert!(error.to_string().contains("policy.fingerprint"), "{error}");
        let longest = policy(&"x".repeat(MAX_CLIENT_BYTES));
        assert!(Fingerprint::of(&longest, &Payload::new("text/plain", "q")).is_ok());
    }
}
