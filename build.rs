//! Joins the dashboard's markup, style and script (src/dashboard/) into the
//! one self-contained page the Worker serves, at compile time: the page
//! carries its style and script inline, each under the response's nonce.

use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new("src/dashboard");
    let read = |name: &str| {
        let path = dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let page = read("page.html")
        .replacen("{{STYLE}}", read("style.css").trim_end(), 1)
        .replacen("{{SCRIPT}}", read("script.js").trim_end(), 1);
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("dashboard.html");
    fs::write(&out, page).expect("OUT_DIR is writable");
}
