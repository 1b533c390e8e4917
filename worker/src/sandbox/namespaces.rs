//! The namespace layers `userns`, `netns`, `ipcns`, `utsns`, `mountns`.
//!
//! The user namespace is unshared first and alone: it gives this process a
//! full set of capabilities *inside* the new namespace, which is what lets
//! an unprivileged worker unshare the other four. It also takes away every
//! capability the worker had in the parent namespace (relevant when the
//! supervisor runs as root). No uid/gid map is written: the worker keeps
//! its kernel uid (files it could read before it can still read, at
//! start-up) and sees itself as the overflow uid 65534.
//!
//! The net namespace has only a loopback interface, and it is down: no
//! route anywhere, even if a socket could be created. ipc and uts hide the
//! host's SysV IPC objects and hostname. In the mount namespace, every
//! mount is made private so nothing propagates back to the host.
//!
//! Each namespace is unshared on its own so that one refusal (containers
//! often forbid some) does not cost the others; each gets its own layer.

use mcp_v8_shared::SandboxLayer;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

use super::layer;

/// Unshares every namespace it can; one layer per namespace, in order.
pub(super) fn unshare_all() -> Vec<SandboxLayer> {
    let mut layers = Vec::with_capacity(5);
    let userns = unshare(CloneFlags::CLONE_NEWUSER);
    layers.push(match userns {
        Ok(()) => layer(
            "userns",
            true,
            "new user namespace; no capabilities outside it",
        ),
        Err(e) => layer("userns", false, format!("unshare(CLONE_NEWUSER): {e}")),
    });
    let others = [
        (
            "netns",
            CloneFlags::CLONE_NEWNET,
            "CLONE_NEWNET",
            "loopback only, down",
        ),
        (
            "ipcns",
            CloneFlags::CLONE_NEWIPC,
            "CLONE_NEWIPC",
            "no host SysV IPC / mqueues",
        ),
        (
            "utsns",
            CloneFlags::CLONE_NEWUTS,
            "CLONE_NEWUTS",
            "own hostname",
        ),
    ];
    for (name, flag, flag_name, what) in others {
        layers.push(match unshare(flag) {
            Ok(()) => layer(name, true, what),
            Err(e) => layer(name, false, format!("unshare({flag_name}): {e}")),
        });
    }
    layers.push(unshare_mount_namespace());
    layers
}

fn unshare_mount_namespace() -> SandboxLayer {
    if let Err(e) = unshare(CloneFlags::CLONE_NEWNS) {
        return layer("mountns", false, format!("unshare(CLONE_NEWNS): {e}"));
    }
    // A namespace owned by a new user namespace already receives host
    // mounts as slaves; making everything private also stops our side from
    // ever propagating back, whoever owns the namespace.
    let flags = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    match mount(None::<&str>, "/", None::<&str>, flags, None::<&str>) {
        Ok(()) => layer("mountns", true, "own mount namespace, all mounts private"),
        Err(e) => layer(
            "mountns",
            true,
            format!("own mount namespace; making mounts private failed: {e}"),
        ),
    }
}
