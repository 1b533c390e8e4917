//! The memory cap on all worker processes together (`--workers-memory-max`).
//!
//! Owns the one cgroup every worker is moved into right after it is spawned
//! (before its handshake, so before any untrusted code runs), its limit,
//! its status for `/api/status`, and its removal at shutdown. The
//! supervisor itself stays outside the cap. See docs/sandbox.md, "Memory
//! cap (cgroup)".
//!
//! - cgroup v2 (our cgroup from the `0::` line of `/proc/self/cgroup`, with
//!   `memory` in its `cgroup.controllers`): the supervisor moves itself to
//!   `<ours>/supervisor` (no-internal-processes rule), enables `+memory` in
//!   `<ours>/cgroup.subtree_control` and creates `<ours>/workers` with
//!   `memory.max`, `memory.swap.max` 0 and `memory.oom.group` 0 (the OOM
//!   killer takes one worker, not all).
//! - cgroup v1 (a mounted `memory` hierarchy whose directory for our cgroup
//!   is writable): `<memcg>/mcp-v8-workers-<pid>` with
//!   `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes` if present).
//!   Leftovers of dead supervisors with no processes are removed at start.
//! - Otherwise the cap is unavailable and [`CgroupStatus::reason`] says why.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

/// Prefix of the per-supervisor v1 cgroup directories.
const V1_PREFIX: &str = "mcp-v8-workers-";

/// A cgroup operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Unsupported(String),
}

/// Which cgroup hierarchy holds the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CgroupVersion {
    #[serde(rename = "v1")]
    V1,
    #[serde(rename = "v2")]
    V2,
}

/// The `sandbox.memory_cap` object of `/api/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupStatus {
    pub available: bool,
    pub version: Option<CgroupVersion>,
    /// Directory of the workers' cgroup.
    pub path: Option<String>,
    /// The limit as the kernel reports it.
    pub memory_max_bytes: Option<u64>,
    /// Memory charged to the workers now.
    pub memory_current_bytes: Option<u64>,
    /// Why the cap is unavailable (`disabled` when `--workers-memory-max 0`).
    pub reason: Option<String>,
}

/// The workers' cgroup, or the reason there is none.
#[derive(Debug)]
pub struct WorkerCgroup(Result<Active, String>);

#[derive(Debug)]
struct Active {
    version: CgroupVersion,
    dir: PathBuf,
}

impl Active {
    fn file(&self, v2: &str, v1: &str) -> PathBuf {
        self.dir.join(if self.version == CgroupVersion::V2 {
            v2
        } else {
            v1
        })
    }
}

impl WorkerCgroup {
    /// Creates the workers' cgroup with this limit (0: disabled). Never
    /// fails: on error the returned value holds the reason.
    pub fn setup(limit_bytes: u64) -> WorkerCgroup {
        if limit_bytes == 0 {
            return WorkerCgroup(Err("disabled".to_string()));
        }
        let proc_cgroup = match fs::read_to_string("/proc/self/cgroup") {
            Ok(text) => text,
            Err(e) => return WorkerCgroup(Err(format!("cannot read /proc/self/cgroup: {e}"))),
        };
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let entries = parse_proc_cgroup(&proc_cgroup);
        let mounts = parse_mountinfo(&mountinfo);
        let v2 = setup_v2(&entries, &mounts, limit_bytes);
        let v1 = match &v2 {
            Ok(_) => None,
            Err(_) => Some(setup_v1(&entries, &mounts, limit_bytes)),
        };
        WorkerCgroup(match (v2, v1) {
            (Ok(active), _) | (_, Some(Ok(active))) => Ok(active),
            (Err(e2), Some(Err(e1))) => Err(format!("cgroup v2: {e2}; cgroup v1: {e1}")),
            (Err(e2), None) => Err(e2.to_string()),
        })
    }

    /// Moves a worker (all its threads) into the cgroup; no-op when the cap
    /// is unavailable.
    pub fn add(&self, pid: u32) -> Result<(), CgroupError> {
        match &self.0 {
            Ok(active) => write(&active.dir.join("cgroup.procs"), &pid.to_string()),
            Err(_) => Ok(()),
        }
    }

    /// What `/api/status` shows.
    pub fn status(&self) -> CgroupStatus {
        match &self.0 {
            Ok(active) => CgroupStatus {
                available: true,
                version: Some(active.version),
                path: Some(active.dir.display().to_string()),
                memory_max_bytes: read_bytes(&active.file("memory.max", "memory.limit_in_bytes")),
                memory_current_bytes: read_bytes(
                    &active.file("memory.current", "memory.usage_in_bytes"),
                ),
                reason: None,
            },
            Err(reason) => CgroupStatus {
                available: false,
                version: None,
                path: None,
                memory_max_bytes: None,
                memory_current_bytes: None,
                reason: Some(reason.clone()),
            },
        }
    }

    /// Workers the kernel OOM-killed for the cap so far (`oom_kill` of
    /// `memory.events` or v1 `memory.oom_control`); `None` when unknown.
    /// Lets a caller tell a cap kill from another SIGKILL.
    pub fn oom_kills(&self) -> Option<u64> {
        let active = self.0.as_ref().ok()?;
        let text = fs::read_to_string(active.file("memory.events", "memory.oom_control")).ok()?;
        keyed_value(&text, "oom_kill")
    }

    /// Removes the cgroup once the workers are gone (best effort: retries
    /// briefly while the kernel finishes reaping them).
    pub fn cleanup(&self) {
        let Ok(active) = &self.0 else { return };
        for _ in 0..20 {
            match fs::remove_dir(&active.dir) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(Duration::from_millis(25)),
            }
        }
        if let Err(e) = fs::remove_dir(&active.dir) {
            tracing::warn!(path = %active.dir.display(), "cannot remove the workers' cgroup: {e}");
        }
    }
}

/// One line of `/proc/self/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Debug, PartialEq, Eq)]
struct CgroupEntry {
    id: u32,
    controllers: Vec<String>,
    path: String,
}

fn parse_proc_cgroup(text: &str) -> Vec<CgroupEntry> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let id = parts.next()?.parse().ok()?;
            let controllers = parts.next()?;
            let path = parts.next()?.to_string();
            let controllers = controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some(CgroupEntry {
                id,
                controllers,
                path,
            })
        })
        .collect()
}

/// A cgroup file system mount from `/proc/self/mountinfo`.
#[derive(Debug, PartialEq, Eq)]
struct CgroupMount {
    /// Directory of the hierarchy shown at the mount point.
    root: String,
    mount_point: PathBuf,
    /// `cgroup2` or `cgroup`.
    fs_type: String,
    /// Super options (a v1 mount lists its controllers here).
    options: Vec<String>,
}

fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let fs_type = right.next()?;
            if fs_type != "cgroup" && fs_type != "cgroup2" {
                return None;
            }
            let _source = right.next();
            let options = right
                .next()
                .unwrap_or("")
                .split(',')
                .map(str::to_string)
                .collect();
            Some(CgroupMount {
                root: unescape(fields.get(3)?),
                mount_point: PathBuf::from(unescape(fields.get(4)?)),
                fs_type: fs_type.to_string(),
                options,
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space and so on).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directory of cgroup `path` under a mount of its hierarchy, if the
/// mount shows it.
fn cgroup_dir(mount: &CgroupMount, path: &str) -> Option<PathBuf> {
    let root = mount.root.trim_end_matches('/');
    let rest = path.strip_prefix(root)?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    Some(mount.mount_point.join(rest.trim_start_matches('/')))
}

fn setup_v2(
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

fn setup_v1(
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
fn remove_stale_v1(memcg: &Path) {
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
fn stale_v1_pid(name: &str) -> Option<i32> {
    name.strip_prefix(V1_PREFIX)?.parse().ok()
}

fn process_alive(pid: i32) -> bool {
    pid == std::process::id() as i32
        || !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        )
}

/// A byte count from a cgroup file; `None` for `max` (v2) or the v1
/// "unlimited" value, and when unreadable.
fn read_bytes(path: &Path) -> Option<u64> {
    parse_bytes(&fs::read_to_string(path).ok()?)
}

fn parse_bytes(text: &str) -> Option<u64> {
    text.trim().parse().ok().filter(|&n| n < (1u64 << 62))
}

/// The value of `key` in a flat-keyed cgroup file (`key value` lines).
fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        line.strip_prefix(key)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.into(),
        source,
    })
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.into(),
        value: value.into(),
        source,
    })
}

/// Creates a cgroup directory; an existing one is reused.
fn create_dir(path: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(CgroupError::Create {
            path: path.into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "9:name=systemd:/\n4:memory:/process_api/abc\n\
                          2:cpu,cpuacct:/\n0::/\n";

    fn mount(root: &str, at: &str, fs_type: &str, options: &[&str]) -> CgroupMount {
        CgroupMount {
            root: root.into(),
            mount_point: at.into(),
            fs_type: fs_type.into(),
            options: options.iter().map(|o| o.to_string()).collect(),
        }
    }

    #[test]
    fn parses_proc_self_cgroup() {
        let entries = parse_proc_cgroup(HYBRID);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].controllers, ["name=systemd"]);
        assert_eq!(entries[1].path, "/process_api/abc");
        assert_eq!(entries[2].controllers, ["cpu", "cpuacct"]);
        assert_eq!(
            entries[3],
            CgroupEntry {
                id: 0,
                controllers: vec![],
                path: "/".into()
            }
        );
        // A path may contain ':'; garbage lines are skipped.
        let odd = parse_proc_cgroup("0::/a:b\nnot a line\n");
        assert_eq!(
            odd,
            [CgroupEntry {
                id: 0,
                controllers: vec![],
                path: "/a:b".into()
            }]
        );
    }

    #[test]
    fn parses_mountinfo_cgroup_lines() {
        let text = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
            41 31 0:38 /ns /sys/fs/cgroup/uni\\040fied rw shared:9 - cgroup2 cgroup2 rw\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(
            mounts,
            [
                mount("/", "/sys/fs/cgroup/memory", "cgroup", &["rw", "memory"]),
                mount("/ns", "/sys/fs/cgroup/uni fied", "cgroup2", &["rw"]),
            ]
        );
    }

    #[test]
    fn resolves_cgroup_paths_under_mount_roots() {
        let m = mount("/", "/sys/fs/cgroup", "cgroup2", &[]);
        assert_eq!(cgroup_dir(&m, "/").unwrap(), Path::new("/sys/fs/cgroup"));
        assert_eq!(
            cgroup_dir(&m, "/system.slice/mcp-v8.service").unwrap(),
            Path::new("/sys/fs/cgroup/system.slice/mcp-v8.service")
        );
        let bound = mount(
            "/docker/abc",
            "/sys/fs/cgroup/memory",
            "cgroup",
            &["memory"],
        );
        assert_eq!(
            cgroup_dir(&bound, "/docker/abc").unwrap(),
            Path::new("/sys/fs/cgroup/memory")
        );
        assert_eq!(
            cgroup_dir(&bound, "/docker/abc/x").unwrap(),
            Path::new("/sys/fs/cgroup/memory/x")
        );
        assert_eq!(cgroup_dir(&bound, "/docker/abcd"), None);
        assert_eq!(cgroup_dir(&bound, "/other"), None);
    }

    #[test]
    fn v2_is_refused_without_a_cgroup2_mount_or_memory_line() {
        let mounts = [mount("/", "/sys/fs/cgroup/memory", "cgroup", &["memory"])];
        let err = setup_v2(&parse_proc_cgroup(HYBRID), &mounts, 1 << 20).unwrap_err();
        assert!(
            err.to_string().contains("not under a cgroup2 mount"),
            "{err}"
        );
        let err = setup_v2(&parse_proc_cgroup("4:memory:/\n"), &mounts, 1).unwrap_err();
        assert!(err.to_string().contains("no 0:: line"), "{err}");
        let err = setup_v1(&parse_proc_cgroup("0::/\n"), &mounts, 1).unwrap_err();
        assert!(err.to_string().contains("no memory controller"), "{err}");
    }

    /// v2 setup against a fake cgroup2 tree (plain files): the supervisor
    /// leaves its cgroup, then the controller is enabled, then the limit set.
    #[test]
    fn v2_setup_moves_itself_enables_memory_and_sets_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("system.slice/mcp-v8.service");
        fs::create_dir_all(&base).unwrap();
        fs::write(base.join("cgroup.controllers"), "cpu io memory pids\n").unwrap();
        fs::write(base.join("cgroup.subtree_control"), "").unwrap();
        let mounts = [mount("/", tmp.path().to_str().unwrap(), "cgroup2", &["rw"])];
        let entries = parse_proc_cgroup("0::/system.slice/mcp-v8.service\n");
        let active = setup_v2(&entries, &mounts, 256 << 20).unwrap();
        assert_eq!(active.dir, base.join("workers"));
        let read = |p: &str| fs::read_to_string(base.join(p)).unwrap();
        assert_eq!(read("supervisor/cgroup.procs"), "0");
        assert_eq!(read("cgroup.subtree_control"), "+memory");
        assert_eq!(read("workers/memory.max"), "268435456");

        fs::write(base.join("cgroup.controllers"), "cpu pids\n").unwrap();
        let err = setup_v2(&entries, &mounts, 1).unwrap_err().to_string();
        assert!(err.contains("memory controller not available"), "{err}");
    }

    #[test]
    fn byte_counts_and_unlimited_values() {
        assert_eq!(parse_bytes("268435456\n"), Some(256 << 20));
        assert_eq!(parse_bytes("max\n"), None);
        assert_eq!(parse_bytes("9223372036854771712\n"), None);
        let events = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(keyed_value(events, "oom_kill"), Some(1));
        assert_eq!(
            keyed_value("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n", "oom_kill"),
            Some(4)
        );
        assert_eq!(keyed_value("under_oom 0\n", "oom_kill"), None);
        assert_eq!(stale_v1_pid("mcp-v8-workers-42"), Some(42));
        assert_eq!(stale_v1_pid("mcp-v8-workers-x"), None);
        assert_eq!(stale_v1_pid("other-42"), None);
    }

    #[test]
    fn disabled_is_unavailable_and_add_is_a_no_op() {
        let cgroup = WorkerCgroup::setup(0);
        assert_eq!(cgroup.status().reason.as_deref(), Some("disabled"));
        assert!(!cgroup.status().available);
        cgroup.add(1).unwrap();
        cgroup.cleanup();
    }
}
