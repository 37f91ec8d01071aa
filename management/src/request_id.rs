//! The request id that follows one query through the tree: taken from the
//! client's `x-request-id` metadata or made by the root, and sent as the
//! same metadata on every leaf call and on the merge call, so one id finds
//! a request's lines in the logs of every process.

use tonic::metadata::MetadataMap;

/// The metadata key that carries the request id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest request id accepted, in bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// The request id a caller sent, checked: `Ok(None)` when there is none,
/// an error saying what is wrong when it is too long, empty, or not
/// visible ASCII (it lands in logs and headers as it is).
pub fn request_id(metadata: &MetadataMap) -> Result<Option<String>, String> {
    let Some(value) = metadata.get(REQUEST_ID_HEADER) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    check(bytes).map(|()| Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// The request id in `metadata` as sent, unchecked: for leaves and merges,
/// which log whatever the root sent.
pub fn sent_request_id(metadata: &MetadataMap) -> Option<String> {
    metadata
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn check(id: &[u8]) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{REQUEST_ID_HEADER} is empty"));
    }
    if id.len() > MAX_REQUEST_ID_BYTES {
        return Err(format!(
            "{REQUEST_ID_HEADER} is {} bytes long; at most {MAX_REQUEST_ID_BYTES} are accepted",
            id.len()
        ));
    }
    if let Some(at) = id.iter().position(|b| !b.is_ascii_graphic()) {
        return Err(format!(
            "{REQUEST_ID_HEADER} may hold only visible ASCII (no spaces or control \
             characters); byte {at} is not"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(id: &str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert(REQUEST_ID_HEADER, id.parse().expect("a valid header value"));
        metadata
    }

    #[test]
    fn a_visible_ascii_id_is_taken_as_sent() {
        assert_eq!(
            request_id(&with("abc-123")).unwrap(),
            Some("abc-123".to_owned())
        );
        assert_eq!(request_id(&MetadataMap::new()).unwrap(), None);
    }

    #[test]
    fn an_id_too_long_or_with_spaces_is_refused_saying_why() {
        let long = "a".repeat(MAX_REQUEST_ID_BYTES + 1);
        let error = request_id(&with(&long)).unwrap_err();
        assert!(error.contains("at most 128"), "{error}");
        let error = request_id(&with("two words")).unwrap_err();
        assert!(error.contains("visible ASCII"), "{error}");
        assert!(request_id(&with(&"a".repeat(MAX_REQUEST_ID_BYTES))).is_ok());
    }

    #[test]
    fn the_id_sent_is_read_back_as_it_is() {
        assert_eq!(sent_request_id(&MetadataMap::new()), None);
        assert_eq!(sent_request_id(&with("abc")).as_deref(), Some("abc"));
    }
}
