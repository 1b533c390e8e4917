//! Build script of the `mcp-v8` binary: links it with packed relative
//! relocations (`-z pack-relative-relocs`, ELF `DT_RELR`) where the C
//! library that will load it understands them (glibc 2.36 or newer).
//!
//! The binary is position-independent and links V8, so it carries about
//! 90,000 relative relocations; as classic `RELA` entries they are 2.2 MB
//! that every process (the supervisor and each worker) reads at start-up
//! and keeps resident, as `RELR` about 22 KB (docs/performance.md). Only
//! for native builds (host = target), where this machine's glibc is the
//! one that runs the binary; `MCP_V8_PACK_RELOCS=0` turns it off.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MCP_V8_PACK_RELOCS");
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target != host || !target.ends_with("-linux-gnu") {
        return;
    }
    if std::env::var("MCP_V8_PACK_RELOCS").as_deref() == Ok("0") {
        return;
    }
    if glibc_version().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg=-Wl,-z,pack-relative-relocs");
    }
}

/// This machine's glibc version, from `getconf GNU_LIBC_VERSION`
/// ("glibc 2.36").
fn glibc_version() -> Option<(u32, u32)> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}
