//! Writing heap files durably: a new file holding the header and payload,
//! through `O_DIRECT` where the filesystem allows it (heap files bypass
//! the page cache), then fsync of the file and of its directory.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{io_err, HeapError};

/// Alignment of `O_DIRECT` buffers, lengths and offsets (covers 512-byte
/// and 4 KiB logical blocks).
const DIRECT_ALIGN: usize = 4096;

/// Creates `path` holding `header` then `payload`, durably: directly
/// (`O_DIRECT`) when the filesystem supports it, else buffered.
pub(super) fn write_synced(path: &Path, header: &[u8], payload: &[u8]) -> Result<(), HeapError> {
    let direct = File::options()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(path);
    let mut file = match direct {
        Ok(mut file) => {
            match write_direct(&mut file, header, payload) {
                Ok(()) => return file.sync_all().map_err(io_err("fsync", path)),
                // EINVAL: the filesystem refuses these alignments; retry
                // buffered on a fresh file.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    drop(file);
                    fs::remove_file(path).map_err(io_err("remove", path))?;
                }
                Err(e) => return Err(io_err("write", path)(e)),
            }
            File::options().write(true).create_new(true).open(path)
        }
        // EINVAL: no O_DIRECT on this filesystem (e.g. older tmpfs).
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            File::options().write(true).create_new(true).open(path)
        }
        Err(e) => Err(e),
    }
    .map_err(io_err("create", path))?;
    file.write_all(header).map_err(io_err("write", path))?;
    file.write_all(payload).map_err(io_err("write", path))?;
    file.sync_all().map_err(io_err("fsync", path))
}

/// Writes `header` + `payload` to an `O_DIRECT` file: one aligned buffer
/// padded to the alignment, then the file is cut to the exact length.
pub(super) fn write_direct(file: &mut File, header: &[u8], payload: &[u8]) -> io::Result<()> {
    let len = header.len() + payload.len();
    let padded = len.div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN;
    let mut buf = vec![0u8; padded + DIRECT_ALIGN];
    let start = buf.as_ptr().align_offset(DIRECT_ALIGN);
    let aligned = &mut buf[start..start + padded];
    aligned[..header.len()].copy_from_slice(header);
    aligned[header.len()..len].copy_from_slice(payload);
    file.write_all(aligned)?;
    file.set_len(len as u64)
}

/// Makes the entries of `dir` durable (a rename or create in it).
pub(super) fn sync_dir(dir: &Path) -> Result<(), HeapError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}
