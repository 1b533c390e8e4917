//! Unit tests of cgroup discovery and set-up against text and fake trees.

use super::discover::*;
use super::setup::*;
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
