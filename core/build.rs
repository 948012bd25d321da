//! `refinery::embed_migrations!` reads `migrations/` at compile time; without
//! this, cargo does not know a new or edited migration needs a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
