//! Joins the dashboard (src/dashboard/) into the one self-contained page the
//! Worker serves, at compile time: `page.html` names, in order, the files
//! its inline style and script are made of (`{{INCLUDE name}}`), each under
//! the response's nonce.

use std::{env, fs, path::Path};

const INCLUDE: &str = "{{INCLUDE ";

fn main() {
    let dir = Path::new("src/dashboard");
    let read = |name: &str| {
        let path = dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let mut page = read("page.html");
    while let Some(start) = page.find(INCLUDE) {
        let end = start + page[start..].find("}}").expect("an include ends with }}");
        let name = page[start + INCLUDE.len()..end].trim().to_string();
        page.replace_range(start..end + 2, read(&name).trim_end());
    }
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("dashboard.html");
    fs::write(&out, page).expect("OUT_DIR is writable");
}
