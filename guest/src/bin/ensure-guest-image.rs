//! `ensure-guest-image`: builds the tiny guest image if it is not cached yet and prints the
//! absolute path of `tiny.qcow2` on stdout (progress goes to stderr). `cargo xtask up` runs it
//! to seed the image as `tiny`, so that xtask itself needs no dependency on this crate.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cached = guest_image::cache_root()
        .map(|r| {
            r.join(guest_image::input_hash())
                .join(guest_image::IMAGE_FILE)
                .is_file()
        })
        .unwrap_or(false);
    if !cached {
        eprintln!("building the tiny guest image (about 15 s; cached afterwards)");
    }
    match guest_image::ensure_image() {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ensure-guest-image: {e:#}");
            ExitCode::FAILURE
        }
    }
}
