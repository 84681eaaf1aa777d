// The migrations are embedded in the binary at compile time: build again when one is added or
// changed, not only when the Rust sources are.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations/import");
}
