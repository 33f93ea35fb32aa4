//! Bundles the dashboard and demo shop (`web/`, npm packages from `web/setup.sh`) with esbuild
//! and generates the table of files the binary serves: every file of `web/dist`, embedded.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let web = manifest.join("../../web");
    for watched in ["src", "build.mjs", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", web.join(watched).display());
    }
    if !web.join("node_modules/echarts").is_dir() {
        run(Command::new("bash").arg(web.join("setup.sh")), "installing the dashboard's npm packages (web/setup.sh)");
    }
    run(Command::new("node").arg(web.join("build.mjs")), "bundling the dashboard (node web/build.mjs)");
    let dist = web.join("dist").canonicalize().expect("web/dist exists after the build");
    let mut files = Vec::new();
    collect(&dist, &mut files);
    files.sort();
    let mut table = String::from(
        "/// Every file of the built dashboard: (URL path, bytes).\npub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for file in &files {
        let url = format!("/{}", file.strip_prefix(&dist).expect("inside dist").display());
        writeln!(table, "    ({url:?}, include_bytes!({:?})),", file.display().to_string()).expect("string");
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("web_assets.rs");
    std::fs::write(out, table).expect("writing web_assets.rs");
}

fn run(command: &mut Command, what: &str) {
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("{what} failed ({status}); run `bash scripts/setup.sh` first"),
        Err(error) => {
            panic!("{what}: {error}; the dashboard needs Node.js (npm), which `bash scripts/setup.sh` installs")
        }
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading web/dist").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
