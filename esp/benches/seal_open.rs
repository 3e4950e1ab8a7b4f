//! Placeholder, replaced by the seal/open benchmark.
fn main() {}
