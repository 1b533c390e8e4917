//! The `no_new_privs` and `seccomp` layers: compiles [`super::allowlist`]
//! to BPF with `seccompiler` and installs it on every thread (TSYNC).
//!
//! Two kinds of filter are stacked, because a seccompiler filter has one
//! action on match and one on mismatch, and the kernel runs every installed
//! filter and keeps the most severe result:
//!
//! - per distinct errno in the table, a filter that fails exactly those
//!   syscalls with that errno and allows everything else (installed first,
//!   while `seccomp(2)` itself is still allowed);
//! - the allowlist: every table entry allowed (including the errno ones,
//!   which the first filter then turns into errors), anything else kills
//!   the process. With `sandbox_debug` a mismatch is logged by the kernel
//!   (`SECCOMP_RET_LOG`, "audit: type=1326 ... syscall=N") and allowed, to
//!   find syscalls missing from the table. Never use debug in production.

use std::collections::BTreeMap;
use std::io;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::allowlist::{Args, Entry, Verdict, ENTRIES};

/// `prctl(PR_SET_NO_NEW_PRIVS)`: no execve can ever grant privileges again.
pub(super) fn set_no_new_privs() -> Result<(), String> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(format!(
            "PR_SET_NO_NEW_PRIVS: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The ids the argument rules refer to, fixed when the filter is built:
/// the worker never changes pid, and no thread can be created once the
/// filter is in place, so `tids` lists every thread it will ever have.
#[derive(Debug, Clone)]
pub struct ProcessIds {
    /// `getpid()`.
    pub pid: u32,
    /// Every thread id of the process.
    pub tids: Vec<u32>,
}

impl ProcessIds {
    /// This process, its threads read from `/proc/self/task` (falling back
    /// to the calling thread alone).
    pub fn current() -> ProcessIds {
        let pid = std::process::id();
        let listed: Vec<u32> = std::fs::read_dir("/proc/self/task")
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let tids = if listed.is_empty() {
            vec![nix::unistd::gettid().as_raw() as u32]
        } else {
            listed
        };
        ProcessIds { pid, tids }
    }
}

/// Compiles the table into the programs to install, in install order
/// (errno filters first, the allowlist last).
pub fn compile(arch: TargetArch, ids: &ProcessIds, debug: bool) -> Result<Vec<BpfProgram>, String> {
    let mut programs = Vec::new();
    let mut errnos: Vec<i32> = ENTRIES
        .iter()
        .filter_map(|e| match e.verdict {
            Verdict::Errno(errno) => Some(errno),
            Verdict::Allow => None,
        })
        .collect();
    errnos.sort_unstable();
    errnos.dedup();
    for errno in errnos {
        let rules = rules_where(ids, |e| e.verdict == Verdict::Errno(errno))?;
        let errno = u32::try_from(errno).map_err(|_| format!("bad errno {errno}"))?;
        programs.push(to_bpf(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno),
            arch,
        )?);
    }
    let mismatch = if debug {
        SeccompAction::Log
    } else {
        SeccompAction::KillProcess
    };
    let rules = allowlist_rules(ids)?;
    programs.push(to_bpf(rules, mismatch, SeccompAction::Allow, arch)?);
    Ok(programs)
}

/// Compiles and installs the filters on every thread of the process.
/// Returns the layer detail on success, the reason on failure.
pub(super) fn install(debug: bool) -> Result<String, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("no seccomp support for this architecture: {e}"))?;
    let programs = compile(arch, &ProcessIds::current(), debug)?;
    let n_instructions: usize = programs.iter().map(Vec::len).sum();
    for program in &programs {
        seccompiler::apply_filter_all_threads(program)
            .map_err(|e| format!("installing the filter: {e}"))?;
    }
    let mode = if debug {
        "DEBUG: violations are logged, not killed"
    } else {
        "violations kill the process"
    };
    Ok(format!(
        "{} syscalls in the allowlist, {} filters ({n_instructions} BPF instructions), all threads; {mode}",
        n_syscalls(),
        programs.len(),
    ))
}

/// How many distinct syscalls the table names.
fn n_syscalls() -> usize {
    let mut nrs: Vec<i64> = ENTRIES.iter().map(|e| e.nr).collect();
    nrs.sort_unstable();
    nrs.dedup();
    nrs.len()
}

/// The rule map of the allowlist filter: every syscall of the table; a
/// syscall with an `Errno` entry with any arguments (the errno filter
/// decides), otherwise the union of its `Allow` entries' rules.
fn allowlist_rules(ids: &ProcessIds) -> Result<BTreeMap<i64, Vec<SeccompRule>>, String> {
    let mut map: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let unconditional: Vec<i64> = ENTRIES
        .iter()
        .filter(|e| e.verdict != Verdict::Allow || e.args == Args::Any)
        .map(|e| e.nr)
        .collect();
    for entry in ENTRIES {
        if unconditional.contains(&entry.nr) {
            map.insert(entry.nr, Vec::new());
            continue;
        }
        let rules =
            arg_rules(entry.args, ids).map_err(|e| format!("rule for {}: {e}", entry.name))?;
        map.entry(entry.nr).or_default().extend(rules);
    }
    Ok(map)
}

/// The rule map of the entries selected by `keep`, one entry per syscall.
fn rules_where(
    ids: &ProcessIds,
    keep: impl Fn(&Entry) -> bool,
) -> Result<BTreeMap<i64, Vec<SeccompRule>>, String> {
    let mut map = BTreeMap::new();
    for entry in ENTRIES.iter().filter(|e| keep(e)) {
        let rules =
            arg_rules(entry.args, ids).map_err(|e| format!("rule for {}: {e}", entry.name))?;
        if map.insert(entry.nr, rules).is_some() {
            return Err(format!("{} has two entries with one verdict", entry.name));
        }
    }
    Ok(map)
}

/// One [`Args`] as seccompiler rules (alternatives); empty = any arguments.
fn arg_rules(args: Args, ids: &ProcessIds) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    let dword = SeccompCmpArgLen::Dword;
    let one = |arg, op, value| -> Result<SeccompRule, seccompiler::BackendError> {
        SeccompRule::new(vec![SeccompCondition::new(arg, dword.clone(), op, value)?])
    };
    Ok(match args {
        Args::Any => Vec::new(),
        Args::OneOf { arg, values } => values
            .iter()
            .map(|&value| one(arg, SeccompCmpOp::Eq, value))
            .collect::<Result<_, _>>()?,
        Args::Not { arg, value } => vec![one(arg, SeccompCmpOp::Ne, value)?],
        Args::OwnPid { arg } => vec![one(arg, SeccompCmpOp::Eq, u64::from(ids.pid))?],
        Args::OwnThread { arg } => std::iter::once(0)
            .chain(ids.tids.iter().copied())
            .map(|tid| one(arg, SeccompCmpOp::Eq, u64::from(tid)))
            .collect::<Result<_, _>>()?,
    })
}

fn to_bpf(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    on_match: SeccompAction,
    arch: TargetArch,
) -> Result<BpfProgram, String> {
    let filter = SeccompFilter::new(rules, mismatch, on_match, arch)
        .map_err(|e| format!("building the filter: {e}"))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| format!("compiling the filter: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_has_no_duplicate_syscalls() {
        let mut seen = HashSet::new();
        for entry in ENTRIES {
            let verdict = format!("{:?}", entry.verdict);
            assert!(
                seen.insert((entry.nr, verdict)),
                "{} listed twice",
                entry.name
            );
            assert!(!entry.why.is_empty(), "{} has no reason", entry.name);
        }
    }

    #[test]
    fn forbidden_syscalls_are_not_in_the_table() {
        let forbidden = [
            libc::SYS_openat,
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_bind,
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_ptrace,
            libc::SYS_kill,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_mount,
            libc::SYS_seccomp,
            libc::SYS_bpf,
            libc::SYS_ioctl,
            libc::SYS_clone,
            libc::SYS_clone3,
            libc::SYS_setuid,
            libc::SYS_process_vm_writev,
            libc::SYS_ppoll,
            libc::SYS_pselect6,
            libc::SYS_epoll_pwait,
            #[cfg(target_arch = "x86_64")]
            libc::SYS_poll,
            #[cfg(target_arch = "x86_64")]
            libc::SYS_open,
            #[cfg(target_arch = "x86_64")]
            libc::SYS_fork,
            #[cfg(target_arch = "x86_64")]
            libc::SYS_vfork,
        ];
        // `openat` and `ioctl` have entries, but ones that fail with EPERM.
        for nr in forbidden {
            assert!(
                ENTRIES
                    .iter()
                    .all(|e| e.nr != nr || e.verdict != Verdict::Allow),
                "syscall {nr} is allowed"
            );
        }
    }

    #[test]
    fn docs_list_every_syscall() {
        let doc = include_str!("../../../docs/sandbox.md");
        for entry in ENTRIES {
            let row = format!("| `{}` |", entry.name);
            assert!(
                doc.contains(&row),
                "docs/sandbox.md has no row for {}",
                entry.name
            );
        }
    }

    #[test]
    fn compiles_for_every_supported_arch() {
        for arch in [TargetArch::x86_64, TargetArch::aarch64] {
            for debug in [false, true] {
                let ids = ProcessIds {
                    pid: 4242,
                    tids: vec![4242, 4243],
                };
                let programs = compile(arch, &ids, debug).expect("filter compiles");
                // An ENOSYS filter (sched_getaffinity), an EPERM filter
                // (openat, newfstatat, ioctl), then the allowlist.
                assert_eq!(programs.len(), 3);
                assert!(programs.iter().all(|p| !p.is_empty() && p.len() < 4096));
            }
        }
    }
}
