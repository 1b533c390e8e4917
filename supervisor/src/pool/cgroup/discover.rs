//! Finding our cgroup: parsing `/proc/self/cgroup` and
//! `/proc/self/mountinfo`, and mapping a cgroup path to its directory.

use std::path::PathBuf;

/// One line of `/proc/self/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct CgroupEntry {
    pub(super) id: u32,
    pub(super) controllers: Vec<String>,
    pub(super) path: String,
}

pub(super) fn parse_proc_cgroup(text: &str) -> Vec<CgroupEntry> {
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
pub(super) struct CgroupMount {
    /// Directory of the hierarchy shown at the mount point.
    pub(super) root: String,
    pub(super) mount_point: PathBuf,
    /// `cgroup2` or `cgroup`.
    pub(super) fs_type: String,
    /// Super options (a v1 mount lists its controllers here).
    pub(super) options: Vec<String>,
}

pub(super) fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
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
pub(super) fn unescape(field: &str) -> String {
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
pub(super) fn cgroup_dir(mount: &CgroupMount, path: &str) -> Option<PathBuf> {
    let root = mount.root.trim_end_matches('/');
    let rest = path.strip_prefix(root)?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    Some(mount.mount_point.join(rest.trim_start_matches('/')))
}
