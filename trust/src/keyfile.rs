//! Key files on disk: `NAME.key` (secret, mode 0600, never overwritten) and
//! `NAME.pub` (public). The formats are in `keys`; this module is only the IO.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::keys::{KeyError, KeyId, PublicKey, SecretKey};

/// The files `keygen` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairFiles {
    /// `NAME.key`, mode 0600.
    pub secret: PathBuf,
    /// `NAME.pub`.
    pub public: PathBuf,
    /// The new key's id.
    pub key_id: KeyId,
}

/// Generates a key pair and writes `NAME.key` and `NAME.pub`.
///
/// Neither file may exist: a secret key is never overwritten (it may be the
/// only copy of a key that plans in force were signed with).
pub fn generate_key_files(name: &Path) -> Result<KeyPairFiles, KeyFileError> {
    let secret_path = with_suffix(name, "key");
    let public_path = with_suffix(name, "pub");
    for path in [&secret_path, &public_path] {
        if path.symlink_metadata().is_ok() {
            return Err(KeyFileError::Exists { path: path.clone() });
        }
    }
    let key = SecretKey::generate().map_err(|source| KeyFileError::Key { path: secret_path.clone(), source })?;
    write_new(&secret_path, key.to_text().as_bytes(), rtt_durable::SECRET)?;
    if let Err(error) = write_new(&public_path, key.public_key().to_text().as_bytes(), rtt_durable::READ_WRITE) {
        // Never leave half a key pair: the secret alone is useless and would
        // make the next `keygen --out NAME` refuse to run.
        let _ = std::fs::remove_file(&secret_path);
        return Err(error);
    }
    Ok(KeyPairFiles { secret: secret_path, public: public_path, key_id: key.public_key().id() })
}

/// Reads a secret key file, refusing one that others can read.
pub fn read_secret_key(path: &Path) -> Result<SecretKey, KeyFileError> {
    refuse_shared_secret(path)?;
    let text = Zeroizing::new(read_text(path)?);
    SecretKey::parse(&text).map_err(|source| KeyFileError::Key { path: path.to_owned(), source })
}

/// Reads a public key file.
pub fn read_public_key(path: &Path) -> Result<PublicKey, KeyFileError> {
    let text = read_text(path)?;
    PublicKey::parse(&text).map_err(|source| KeyFileError::Key { path: path.to_owned(), source })
}

/// A key file that cannot be read, written or used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum KeyFileError {
    /// `keygen` would overwrite a file.
    #[error("failed to write {}: the file exists", .path.display())]
    #[diagnostic(
        code(rtt::keygen::exists),
        help("keys are never overwritten; choose another --out name or move the old files away")
    )]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The OS refused.
    #[error("failed to {action} {}: {reason}", .path.display())]
    #[diagnostic(code(rtt::key::io))]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// The contents are not a usable key.
    #[error("failed to use key file {}: {source}", .path.display())]
    #[diagnostic(code(rtt::key::invalid), help("key files are written by `rtt keygen --out NAME`"))]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: KeyError,
    },
    /// A secret key that group or others may read is treated as leaked.
    #[error("failed to use secret key {}: it is readable by others (mode {mode:o})", .path.display())]
    #[diagnostic(code(rtt::key::shared), help("run `chmod 600 {}`, and replace the key if others may have read it", .path.display()))]
    Shared {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

fn with_suffix(name: &Path, suffix: &str) -> PathBuf {
    let mut text = name.as_os_str().to_owned();
    text.push(".");
    text.push(suffix);
    PathBuf::from(text)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyFileError> {
    rtt_durable::create_new(path, bytes, mode).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => KeyFileError::Exists { path: path.to_owned() },
        _ => KeyFileError::Io { action: "write", path: path.to_owned(), reason: e.to_string() },
    })
}

fn read_text(path: &Path) -> Result<String, KeyFileError> {
    std::fs::read_to_string(path).map_err(|e| KeyFileError::Io {
        action: "read",
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(unix)]
fn refuse_shared_secret(path: &Path) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|e| KeyFileError::Io {
        action: "read",
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Shared { path: path.to_owned(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_shared_secret(_path: &Path) -> Result<(), KeyFileError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rtt-keyfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn keygen_writes_a_private_secret_and_a_matching_public_key() {
        let dir = tempdir("pair");
        let files = generate_key_files(&dir.join("ops")).unwrap();
        assert_eq!(files.secret, dir.join("ops.key"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&files.secret).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let secret = read_secret_key(&files.secret).unwrap();
        let public = read_public_key(&files.public).unwrap();
        assert_eq!(secret.public_key(), public);
        assert_eq!(public.id(), files.key_id);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keygen_never_overwrites_and_leaves_no_half_pair() {
        let dir = tempdir("exists");
        std::fs::write(dir.join("ops.pub"), b"keep").unwrap();
        assert!(matches!(generate_key_files(&dir.join("ops")), Err(KeyFileError::Exists { .. })));
        assert!(!dir.join("ops.key").exists());
        assert_eq!(std::fs::read(dir.join("ops.pub")).unwrap(), b"keep");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_key_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempdir("shared");
        let files = generate_key_files(&dir.join("ops")).unwrap();
        std::fs::set_permissions(&files.secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_secret_key(&files.secret), Err(KeyFileError::Shared { mode: 0o644, .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
