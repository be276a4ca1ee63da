//! One collector per SQLite store: `spartakus collect` holds an exclusive lock on a file beside
//! the store (`STORE.lock`) for as long as it runs, and a second one on the same store is refused
//! at start, before it opens the store.
//!
//! The lock is on a file of its own, never on the store: SQLite's locks on the store are POSIX
//! locks, which belong to the process and all go when any descriptor of the file it opened is
//! closed. This lock is `flock(2)`, taken through the standard library, on another inode, so it
//! never touches them. The file is left in place when the collector stops (removing it would let
//! two collectors hold two different files of the same name).

use crate::exit::usage;
use anyhow::Result;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::sqlite::{directory_fault, directory_of, with_suffix};

/// The lock a collector holds on its SQLite store; released when dropped (or the process ends).
#[derive(Debug)]
pub(crate) struct Held {
    _file: File,
}

/// The lock file of the store at `store`.
pub(crate) fn path_of(store: &Path) -> PathBuf {
    with_suffix(store, ".lock")
}

/// Take the collector's lock on the store at `store`, creating the lock file if needed. Refused
/// (a usage error, exit code 2) when another process holds it, or when the store's directory is
/// missing or cannot be written, said in words.
pub(crate) fn take(store: &Path) -> Result<Held> {
    let path = path_of(store);
    let shown = store.display();
    if store.is_dir() {
        return Err(usage(format!("store {shown} is a directory, not a file")));
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::ReadOnlyFilesystem => format!(
                    "the directory {} is on a read-only file system",
                    directory_of(store).display()
                ),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    directory_fault(store)
                }
                _ => format!("{e}"),
            };
            usage(format!(
                "cannot create or open store {shown}: {why} (the store is the file and its -wal \
                 and -shm beside it, and the collector's lock {})",
                path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Held { _file: file }),
        Err(TryLockError::WouldBlock) => Err(usage(format!(
            "store {shown} is in use by another `spartakus collect` (it holds {}); stop that one \
             first: one collector writes a SQLite store (several may share a PostgreSQL database)",
            path.display()
        ))),
        Err(TryLockError::Error(e)) => Err(usage(format!(
            "cannot lock store {shown} ({e}, on {}): the file system must support flock(2)",
            path.display()
        ))),
    }
}

/// Whether a collector holds the store at `store` now (its lock file exists and is locked).
pub(crate) fn in_use(store: &Path) -> bool {
    let Ok(file) = File::open(path_of(store)) else {
        return false;
    };
    matches!(file.try_lock(), Err(TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::store::sqlite::tests::Scratch;
    use crate::exit::Class;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = Scratch::new("lock");
        let store = dir.join("s.db");
        let held = take(&store).unwrap();
        assert_eq!(path_of(&store), dir.join("s.db.lock"));
        assert!(!store.exists(), "the lock never creates the store");
        let e = take(&store).unwrap_err();
        assert_eq!(crate::exit::class_of(&e), Class::Usage);
        assert_eq!(
            format!("{e:#}"),
            format!(
                "store {} is in use by another `spartakus collect` (it holds {}); stop that one \
                 first: one collector writes a SQLite store (several may share a PostgreSQL \
                 database)",
                store.display(),
                path_of(&store).display()
            )
        );
        assert!(in_use(&store));
        drop(held);
        assert!(!in_use(&store));
        take(&store).unwrap();
    }

    #[test]
    fn a_missing_directory_or_a_directory_as_store_is_said_in_words() {
        let dir = Scratch::new("lockdir");
        let store = dir.join("missing/s.db");
        let e = format!("{:#}", take(&store).unwrap_err());
        assert!(
            e.starts_with(&format!(
                "cannot create or open store {}: the directory {} does not exist",
                store.display(),
                dir.join("missing").display()
            )),
            "{e}"
        );
        let e = format!("{:#}", take(&dir.0).unwrap_err());
        assert_eq!(
            e,
            format!("store {} is a directory, not a file", dir.0.display())
        );
    }
}
