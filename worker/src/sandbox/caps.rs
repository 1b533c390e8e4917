//! The `caps` layer: the worker gives up every capability it holds.
//!
//! After the namespaces are in place the worker needs no privilege at all.
//! This matters in two cases: a supervisor running as root without a user
//! namespace (the worker would otherwise hold real root capabilities), and
//! best-effort mode without seccomp (the full capability set a new user
//! namespace grants opens kernel code, e.g. netfilter, to the worker).
//! Order: empty the bounding set and the ambient set while CAP_SETPCAP is
//! still held, then clear effective, permitted and inheritable sets.

use std::io;

use mcp_v8_shared::SandboxLayer;

use super::layer;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit capability sets in two words.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops every capability; the layer is active if the sets ended empty.
pub(super) fn drop_all() -> SandboxLayer {
    let mut notes = Vec::new();
    let dropped = drop_bounding_set();
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    if rc != 0 {
        notes.push(format!("ambient: {}", io::Error::last_os_error()));
    }
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: both pointers refer to live, correctly laid out structs of
    // the version declared in the header; the kernel only reads `data`.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return layer("caps", false, format!("capset: {e}"));
    }
    let detail = if notes.is_empty() {
        format!("all capabilities dropped ({dropped} removed from the bounding set)")
    } else {
        format!(
            "effective/permitted/inheritable empty; {}",
            notes.join("; ")
        )
    };
    layer("caps", true, detail)
}

/// Removes capabilities from the bounding set until the kernel says the
/// number is out of range; returns how many were dropped.
fn drop_bounding_set() -> u32 {
    let mut dropped = 0;
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        if rc == 0 {
            dropped += 1;
        } else if io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            break;
        }
    }
    dropped
}
