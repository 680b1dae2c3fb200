//! Tells cargo when to embed the dashboard again (`src/embedded.rs`).
//!
//! A release build embeds `dashboard/dist`, so it must be rebuilt when that build
//! changes, and also when it first appears after a build without it (the embed then
//! tracked no file). Debug builds read the files at run time and never need it.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    let dist = std::path::Path::new("../../dashboard/dist");
    if dist.is_dir() {
        println!("cargo:rerun-if-changed=../../dashboard/dist");
    } else if dist.parent().is_some_and(std::path::Path::is_dir) {
        // The dashboard's directory changes when `dist` is created in it.
        println!("cargo:rerun-if-changed=../../dashboard");
    }
    // Neither (the image's build stage copies only the Rust sources): nothing to track.
    // Naming a path that does not exist would rerun this script, and so rebuild this
    // crate and every crate above it, on every build.
}
