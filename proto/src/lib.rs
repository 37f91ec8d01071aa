//! The Scatter contract (`scatter.v1`): protobuf messages and the tonic
//! clients and servers of the `Root`, `Leaf` and `Merge` services.
//!
//! The `.proto` files under `proto/` are the documentation a leaf or merge
//! author in any language reads; this crate only compiles them for Rust.

// Generated code carries the .proto comments as docs, formatted for protobuf
// readers rather than rustdoc, and not on every item.
#![allow(
    missing_docs,
    clippy::doc_lazy_continuation,
    clippy::doc_overindented_list_items
)]

pub mod raw;

/// `scatter.v1`: the versioned contract.
pub mod v1 {
    tonic::include_proto!("scatter.v1");

    /// The encoded `FileDescriptorSet` of `scatter.v1`, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("scatter_descriptor");
}

impl v1::Payload {
    /// A payload of `content_type` holding `body`.
    pub fn new(content_type: impl Into<String>, body: impl Into<prost::bytes::Bytes>) -> Self {
        Self {
            content_type: content_type.into(),
            body: body.into(),
        }
    }
}
