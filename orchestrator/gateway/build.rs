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
    } else {
        // The dashboard's directory changes when `dist` is created in it.
        println!("cargo:rerun-if-changed=../../dashboard");
    }
}
