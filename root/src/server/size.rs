//! The root's size limits on what crosses its own gRPC boundary: the
//! metadata a client sends, and each answer the root sends back. (The
//! request payload is checked in the handler; partials and results are
//! refused by the decoders of the leaf and merge clients.)

use prost::Message;
use tonic::metadata::MetadataMap;

use crate::error::QueryError;

/// Bytes HTTP/2 adds to each header field when it sizes a header list
/// (RFC 9113, SETTINGS_MAX_HEADER_LIST_SIZE).
const FIELD_OVERHEAD: usize = 32;

/// The size of `metadata` as HTTP/2 counts a header list.
pub fn metadata_bytes(metadata: &MetadataMap) -> usize {
    metadata
        .as_ref()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + FIELD_OVERHEAD)
        .sum()
}

/// Refuses metadata above `limit` bytes.
pub fn check_metadata(metadata: &MetadataMap, limit: usize) -> Result<(), QueryError> {
    let size = metadata_bytes(metadata);
    if size > limit {
        return Err(QueryError::MetadataTooLarge { size, limit });
    }
    Ok(())
}

/// Refuses an answer whose encoding is above `limit` bytes: the client
/// gets a status naming the limit rather than a message its own decoder
/// may refuse with a less helpful one.
pub fn check_answer<M: Message>(answer: M, limit: usize) -> Result<M, QueryError> {
    let size = answer.encoded_len();
    if size > limit {
        return Err(QueryError::ResponseTooLarge { size, limit });
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use scatter_proto::v1::{Payload, QueryResponse};

    use super::*;

    #[test]
    fn metadata_is_sized_as_http2_sizes_a_header_list() {
        let mut metadata = MetadataMap::new();
        metadata.insert("x-request-id", "abc".parse().unwrap());
        assert_eq!(metadata_bytes(&metadata), 12 + 3 + 32);
        let err = check_metadata(&metadata, 46).unwrap_err();
        assert!(err.to_string().contains("--max-metadata-bytes"), "{err}");
        check_metadata(&metadata, 47).unwrap();
    }

    #[test]
    fn an_answer_just_over_the_limit_is_refused_naming_it() {
        let answer = QueryResponse {
            result: Some(Payload::new("text/plain", vec![b'x'; 100])),
            ..QueryResponse::default()
        };
        let size = answer.encoded_len();
        check_answer(answer.clone(), size).unwrap();
        let err = check_answer(answer, size - 1).unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert!(err.to_string().contains("--max-response-bytes"), "{err}");
    }
}
