//! Writing report files safely: each file is written to a hidden temp file
//! beside it, synced, then renamed over it, so a reader never sees half a
//! report; and before a run, a probe checks that the file can be written at
//! all, so a bad path fails at once rather than after an hour of load.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temp file, sync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_path(path)?;
    let written = File::create(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        // Best effort: the temp file is useless, and the write error is what matters.
        let _ = fs::remove_file(&temp);
    }
    written
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
    File::create(&probe)?;
    fs::remove_file(&probe)
}

/// A hidden temp file beside `path`, so the rename stays on one file system.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{}' names no file", path.display()),
        )
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(".tmp");
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
}
