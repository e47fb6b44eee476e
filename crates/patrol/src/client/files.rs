//! Files only their owner may read: the stored sign-in and secrets written
//! with `patrol token rotate --write-to`. Written atomically (a temporary file
//! beside the target, created with mode 0600, then renamed over it), so a
//! reader never sees half a file and a crash never leaves one.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Creates `dir` (and its parents) and makes it 0700 on Unix.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// A temporary file name beside `path`: `.<name>.<random>.tmp`.
fn temp_path(path: &Path) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("the path has no file name"))?;
    let random: String = patrol_auth::rp::random_value().chars().take(12).collect();
    Ok(path.with_file_name(format!(".{name}.{random}.tmp")))
}

/// Opens a new file with mode 0600 (Unix), failing if it exists.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// A file being written beside its final `path`, mode 0600, moved into
/// place by [`PendingFile::commit`]; dropped uncommitted, it is removed.
/// Creating it first proves the directory is writable before anything
/// irreversible happens (`patrol token rotate --write-to`).
pub struct PendingFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<std::fs::File>,
}

impl PendingFile {
    pub fn beside(path: &Path) -> std::io::Result<PendingFile> {
        let tmp = temp_path(path)?;
        let file = create_private(&tmp)?;
        Ok(PendingFile {
            path: path.to_owned(),
            tmp,
            file: Some(file),
        })
    }

    /// Writes `contents` and renames the file over `path` (a file or a
    /// symbolic link there is replaced, never written through).
    pub fn commit(mut self, contents: &[u8]) -> std::io::Result<()> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| std::io::Error::other("already committed"))?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path)?;
        // Make the rename itself durable where the platform allows it.
        #[cfg(unix)]
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `contents` to `path` with mode 0600: temporary file, then rename.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    PendingFile::beside(path)?.commit(contents)
}

/// Tightens an existing file to 0600 if group or others may read it; `true`
/// when it had to.
pub fn tighten(path: &Path) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            return Ok(true);
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_files_replace_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        ensure_private_dir(&sub).unwrap();
        let path = sub.join("secret.txt");
        write_private(&path, b"one").unwrap();
        write_private(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret.txt"]);
        #[cfg(unix)]
        {
            assert_eq!(mode(&sub), 0o700);
            assert_eq!(mode(&path), 0o600);
            // A symbolic link at the target is replaced, not written through.
            let elsewhere = dir.path().join("elsewhere");
            std::fs::write(&elsewhere, b"keep").unwrap();
            let link = sub.join("link");
            std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
            write_private(&link, b"secret").unwrap();
            assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep");
            assert_eq!(std::fs::read(&link).unwrap(), b"secret");
            assert_eq!(mode(&link), 0o600);
            // A loose file is tightened.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(tighten(&elsewhere).unwrap());
            assert_eq!(mode(&elsewhere), 0o600);
            assert!(!tighten(&elsewhere).unwrap());
        }
        // A directory that does not exist is an error, and leaves nothing.
        assert!(write_private(&dir.path().join("missing/x"), b"x").is_err());
        // A pending file dropped without commit leaves nothing behind.
        let pending = PendingFile::beside(&sub.join("later")).unwrap();
        drop(pending);
        let names: Vec<_> = std::fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            !names.iter().any(|n| n.to_string_lossy().contains("later")),
            "{names:?}"
        );
    }
}
