//! The one error type of this crate, and how it reaches a client as a
//! `tonic::Status`.

use std::path::PathBuf;

use tonic::Status;

/// Why a corpus could not be read, or a payload could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The corpus directory does not exist.
    #[error("corpus directory {} does not exist", path.display())]
    MissingDir {
        /// The directory asked for.
        path: PathBuf,
    },
    /// The corpus path exists but is not a directory.
    #[error("corpus path {} is not a directory", path.display())]
    NotADirectory {
        /// The path asked for.
        path: PathBuf,
    },
    /// The corpus directory could not be listed.
    #[error("cannot list corpus directory {}: {source}", path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file of the corpus directory could not be read.
    #[error("cannot read corpus file {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The corpus directory holds no UTF-8 text file.
    #[error("corpus directory {} holds no UTF-8 text file to index", path.display())]
    NoDocuments {
        /// The directory.
        path: PathBuf,
    },
    /// A payload's content type is not one this search reads.
    #[error("unsupported content type {got:?}; send {expected}")]
    UnsupportedContentType {
        /// The content type received.
        got: String,
        /// The content types accepted, in words.
        expected: &'static str,
    },
    /// A `text/plain` payload is not UTF-8.
    #[error("{what} is not UTF-8 text: {source}")]
    NotUtf8 {
        /// Which payload: `query payload` or `result payload`.
        what: &'static str,
        /// Where the bytes went wrong.
        source: std::str::Utf8Error,
    },
    /// A JSON payload does not parse.
    #[error("{what} is not valid JSON: {source}")]
    InvalidJson {
        /// Which payload: `query payload` or `result payload`.
        what: &'static str,
        /// The parser's complaint, with line and column.
        source: serde_json::Error,
    },
    /// A JSON payload parses but has the wrong fields or types.
    #[error("{what} is JSON but not of the form {expected}: {source}")]
    UnexpectedJson {
        /// Which payload: `query payload` or `result payload`.
        what: &'static str,
        /// The form expected, as an example.
        expected: &'static str,
        /// The field that did not fit.
        source: serde_json::Error,
    },
    /// The query has no word to search for.
    #[error("empty query: send at least one word (letters or digits) to search for")]
    EmptyQuery,
    /// `k` is outside `1..=MAX_K`.
    #[error("k = {k} is out of range; ask for 1 to {max} hits")]
    KOutOfRange {
        /// The `k` asked for.
        k: usize,
        /// The largest `k` allowed.
        max: usize,
    },
    /// `delay_ms` is above `MAX_DELAY_MS`.
    #[error("delay_ms = {delay_ms} is out of range; ask for at most {max} ms")]
    DelayOutOfRange {
        /// The delay asked for.
        delay_ms: u64,
        /// The longest delay allowed.
        max: u64,
    },
    /// The merge began without the client's request.
    #[error("the merge's begin message carries no request payload")]
    NoRequest,
    /// A shard's partial could not be read by the merge.
    #[error("shard {shard} sent a partial the merge cannot read: {reason}")]
    BadPartial {
        /// The shard whose partial it was.
        shard: u32,
        /// Why it could not be read.
        reason: Box<SearchError>,
    },
}

impl From<SearchError> for Status {
    /// Payload errors are the caller's to fix (`INVALID_ARGUMENT`, which the
    /// root does not retry); corpus errors never reach an RPC in practice
    /// and map to `INTERNAL`.
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::MissingDir { .. }
            | SearchError::NotADirectory { .. }
            | SearchError::ReadDir { .. }
            | SearchError::ReadFile { .. }
            | SearchError::NoDocuments { .. } => Status::internal(error.to_string()),
            _ => Status::invalid_argument(error.to_string()),
        }
    }
}
