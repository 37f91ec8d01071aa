//! Compiles `proto/scatter/v1/*.proto` with protox (no system `protoc` needed)
//! and generates prost messages and tonic clients and servers from them.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/scatter/v1/payload.proto",
        "proto/scatter/v1/coverage.proto",
        "proto/scatter/v1/leaf.proto",
        "proto/scatter/v1/merge.proto",
        "proto/scatter/v1/root.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("scatter_descriptor.bin");
    std::fs::write(
        &descriptor_path,
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        // Payload bodies are shared, not copied: one request body fans out to many leaves.
        .bytes(".")
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        .compile_fds(descriptors)?;
    Ok(())
}
