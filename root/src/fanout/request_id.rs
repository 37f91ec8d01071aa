//! One request's id: the number the root makes for every request (it is
//! `QueryResponse.request_id` and `LeafRequest.request_id`), and the label
//! logs and metadata carry — the client's `x-request-id` when it sent one,
//! else that number as text. The label goes to every leaf call and to the
//! merge as `x-request-id`, so one id finds the request in every process's
//! logs.

use std::fmt;

use scatter_management::REQUEST_ID_HEADER;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};

/// A request's number and label.
#[derive(Clone, Debug)]
pub struct RequestId {
    number: u64,
    label: AsciiMetadataValue,
}

impl RequestId {
    /// The id of request `number`, labelled by `client` (a checked
    /// `x-request-id`) when it is given and is a valid header value, else
    /// by the number.
    pub fn new(number: u64, client: Option<&str>) -> Self {
        let label = client
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| AsciiMetadataValue::from(number));
        Self { number, label }
    }

    /// The root's number for the request.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The label as text.
    pub fn label(&self) -> &str {
        // Built from visible ASCII or digits, so always text.
        self.label.to_str().unwrap_or_default()
    }

    /// Puts the label in `metadata` as `x-request-id`; a cheap clone.
    pub fn tag(&self, metadata: &mut MetadataMap) {
        metadata.insert(REQUEST_ID_HEADER, self.label.clone());
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_id_is_the_label_else_the_number_as_text() {
        let given = RequestId::new(7, Some("abc-123"));
        assert_eq!((given.number(), given.label()), (7, "abc-123"));
        let made = RequestId::new(42, None);
        assert_eq!(made.label(), "42");
        let mut metadata = MetadataMap::new();
        made.tag(&mut metadata);
        assert_eq!(metadata.get(REQUEST_ID_HEADER).unwrap(), "42");
    }
}
