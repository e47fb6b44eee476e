//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo does not
//! know those files are inputs: without this, adding a migration could leave
//! a build that never runs it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
