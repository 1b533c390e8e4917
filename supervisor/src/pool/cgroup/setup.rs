//! Creating the workers' cgroup: the v2 layout (supervisor and workers as
//! siblings under our cgroup) and the v1 fallback, with removal of stale v1
//! directories left by dead supervisors.

use std::fs;
use std::path::Path;

use super::discover::{cgroup_dir, CgroupEntry, CgroupMount};
use super::*;

pub(super) fn setup_v2(
    entries: &[CgroupEntry],
    mounts: &[CgroupMount],
    limit: u64,
) -> Result<Active, CgroupError> {
    let unsupported = |why: String| CgroupError::Unsupported(why);
    let ours = entries
        .iter()
        .find(|e| e.id == 0 && e.controllers.is_empty())
        .ok_or_else(|| unsupported("no 0:: line in /proc/self/cgroup".into()))?;
    let mut base = mounts
        .iter()
        .filter(|m| m.fs_type == "cgroup2")
        .find_map(|m| cgroup_dir(m, &ours.path))
        .ok_or_else(|| unsupported(format!("cgroup {} is not under a cgroup2 mount", ours.path)))?;
    // Already moved by an earlier setup in this cgroup: reuse its parent.
    if base.ends_with("supervisor") && base.parent().is_some_and(|p| p.join("workers").is_dir()) {
        base.pop();
    }
    let controllers = read(&base.join("cgroup.controllers"))?;
    if !controllers.split_whitespace().any(|c| c == "memory") {
        return Err(unsupported(format!(
            "memory controller not available in {} (cgroup.controllers: {:?})",
            base.display(),
            controllers.trim()
        )));
    }
    let subtree = base.join("cgroup.subtree_control");
    if !read(&subtree)?.split_whitespace().any(|c| c == "memory") {
        // No internal processes: the supervisor must leave `base` first.
        let own = base.join("supervisor");
        create_dir(&own)?;
        write(&own.join("cgroup.procs"), "0")?;
        if let Err(e) = write(&subtree, "+memory") {
            let _ = write(&base.join("cgroup.procs"), "0");
            let _ = fs::remove_dir(&own);
            return Err(e);
        }
    }
    let dir = base.join("workers");
    create_dir(&dir)?;
    let set = || -> Result<(), CgroupError> {
        write(&dir.join("memory.max"), &limit.to_string())?;
        if dir.join("memory.swap.max").exists() {
            write(&dir.join("memory.swap.max"), "0")?;
        }
        if dir.join("memory.oom.group").exists() {
            write(&dir.join("memory.oom.group"), "0")?;
        }
        Ok(())
    };
    set().inspect_err(|_| {
        let _ = fs::remove_dir(&dir);
    })?;
    Ok(Active {
        version: CgroupVersion::V2,
        dir,
    })
}

pub(super) fn setup_v1(
    entries: &[CgroupEntry],
    mounts: &[CgroupMount],
    limit: u64,
) -> Result<Active, CgroupError> {
    let unsupported = |why: String| CgroupError::Unsupported(why);
    let ours = entries
        .iter()
        .find(|e| e.controllers.iter().any(|c| c == "memory"))
        .ok_or_else(|| unsupported("no memory controller in /proc/self/cgroup".into()))?;
    let memcg = mounts
        .iter()
        .filter(|m| m.fs_type == "cgroup" && m.options.iter().any(|o| o == "memory"))
        .find_map(|m| cgroup_dir(m, &ours.path))
        .ok_or_else(|| unsupported(format!("memory cgroup {} is not mounted", ours.path)))?;
    remove_stale_v1(&memcg);
    let dir = memcg.join(format!("{V1_PREFIX}{}", std::process::id()));
    create_dir(&dir)?;
    let set = || -> Result<(), CgroupError> {
        write(&dir.join("memory.limit_in_bytes"), &limit.to_string())?;
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            write(&memsw, &limit.to_string())?;
        }
        Ok(())
    };
    set().inspect_err(|_| {
        let _ = fs::remove_dir(&dir);
    })?;
    Ok(Active {
        version: CgroupVersion::V1,
        dir,
    })
}

/// Removes `mcp-v8-workers-<pid>` directories whose supervisor is gone and
/// that hold no process (best effort).
pub(super) fn remove_stale_v1(memcg: &Path) {
    let Ok(dir) = fs::read_dir(memcg) else { return };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(stale_v1_pid) else {
            continue;
        };
        let empty = fs::read_to_string(entry.path().join("cgroup.procs"))
            .is_ok_and(|procs| procs.trim().is_empty());
        if empty && !process_alive(pid) && fs::remove_dir(entry.path()).is_ok() {
            tracing::info!(path = %entry.path().display(), "removed a stale workers' cgroup");
        }
    }
}

/// The supervisor pid in a v1 cgroup directory name of ours.
pub(super) fn stale_v1_pid(name: &str) -> Option<i32> {
    name.strip_prefix(V1_PREFIX)?.parse().ok()
}

pub(super) fn process_alive(pid: i32) -> bool {
    pid == std::process::id() as i32
        || !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        )
}
