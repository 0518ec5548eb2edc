//! Writing report files safely: each file is written to a hidden temp file
//! beside it, synced, then renamed over it, and the directory synced, so a
//! reader never sees half a report and a crash after the write keeps it;
//! and before a run, a probe checks that the file can be written at all, so
//! a bad path fails at once rather than after an hour of load.
//!
//! The temp file is created exclusively (`O_CREAT | O_EXCL`, which never
//! follows a symlink) under a name no other writer uses, so a link planted
//! where the temp file will be cannot redirect the write elsewhere.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The next temp file's number in this process.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically (exclusive temp file, sync, rename,
/// directory sync).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Writes `path` atomically with what `write` puts in the (exclusive,
/// hidden) temp file: for files too big to build in memory first.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let temp = temp_path(path)?;
    let written = create_exclusive(&temp)
        .and_then(|mut file| {
            write(&mut file)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        // Best effort: the temp file is useless, and the write error is what matters.
        let _ = fs::remove_file(&temp);
        return written;
    }
    sync_parent(path)
}

/// Creates a new file, failing when anything (a file or a symlink) is there.
pub fn create_exclusive(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Syncs the directory holding `path`, so its rename survives a crash.
fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// Checks that a file can later be written at `path`: it is not a
/// directory, and a file can be created (and is removed again) beside it.
pub fn check_writable(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is a directory", path.display()),
        ));
    }
    let probe = temp_path(path)?;
    create_exclusive(&probe)?;
    fs::remove_file(&probe)
}

/// A hidden temp file beside `path`, so the rename stays on one file
/// system, named for this process and write so no two writers share one.
pub fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{}' names no file", path.display()),
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(path.with_file_name(temp_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write replaces the file whole and leaves no temp file; bad paths are refused.
    #[test]
    fn writes_atomically_and_probes() {
        let dir = std::env::temp_dir().join(format!("stampede-output-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp file left behind"
        );
        check_writable(&path).unwrap();
        assert!(check_writable(&dir).is_err());
        assert!(check_writable(&dir.join("missing").join("r.json")).is_err());
        assert!(write_atomic(&dir.join("missing").join("r.json"), b"x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A symlink planted where a temp file would go is never followed: the
    /// write goes to the report, and the link's target is untouched.
    #[test]
    fn planted_links_are_not_followed() {
        let dir = std::env::temp_dir().join(format!("stampede-links-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, "keep").unwrap();
        let path = dir.join("r.json");
        // Every name the next writes could use, as links to the victim.
        let next = NEXT.load(Ordering::Relaxed);
        for n in next..next + 50 {
            let name = format!(".r.json.{}-{n}.tmp", std::process::id());
            std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
        }
        let written = write_atomic(&path, b"report");
        assert!(
            written.is_err(),
            "an existing name is refused, not followed"
        );
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        fs::remove_dir_all(&dir).unwrap();
    }
}
