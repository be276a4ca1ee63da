//! `spartakus backup`: a consistent copy of a SQLite store, safe while collectors write to it.

use crate::collector::settings::BackupSettings;
use crate::collector::store;
use crate::exit::usage;
use anyhow::{Context, Result};

/// `spartakus backup`: a consistent copy of a SQLite store, safe while collectors write to it.
pub(crate) fn run(s: &BackupSettings) -> Result<()> {
    let path = match &s.store {
        store::Spec::Sqlite(path) => path,
        store::Spec::Postgres(url) => {
            return Err(usage(format!(
                "{url} is a PostgreSQL store: back it up with pg_dump, e.g. \
                 `pg_dump --format=custom --file=spartakus.dump` with the same connection settings"
            )));
        }
        store::Spec::Stdout => {
            return Err(usage("--store stdout keeps nothing to back up"));
        }
    };
    if let Some(file) = store::sqlite::part_of(path, &s.to) {
        return Err(usage(format!(
            "--to {} is {} of the store itself; write the copy to another file",
            s.to.display(),
            file
        )));
    }
    let db = store::Db::open_existing(path)?;
    if s.to.as_os_str() == "-" {
        return backup_to_stdout(&db, path);
    }
    if s.to.exists() {
        if !s.force {
            return Err(usage(format!(
                "{} exists; give --force to replace it",
                s.to.display()
            )));
        }
        if store::lock::in_use(&s.to) {
            return Err(usage(format!(
                "{} is the store of a running collector; stop it first, or choose another file",
                s.to.display()
            )));
        }
        remove_store_files(&s.to)?;
    }
    let reports = db.backup(&s.to)?;
    let line = format!(
        "backed up store {} to {}: {reports} report(s), schema version {}\n",
        path.display(),
        s.to.display(),
        store::schema::version()
    );
    crate::exit::print(line.as_bytes())
}

/// `--to -`: the copy is made beside the store, written to stdout, and removed (the image has no
/// shell or `tar`, so this is how `kubectl exec` gets a copy out of the pod).
fn backup_to_stdout(db: &store::Db, path: &std::path::Path) -> Result<()> {
    use std::io::Write;
    let copy = store::sqlite::with_suffix(path, &format!(".backup-{}", std::process::id()));
    let streamed = (|| {
        let reports = db.backup(&copy)?;
        let mut file =
            std::fs::File::open(&copy).with_context(|| format!("reading {}", copy.display()))?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        std::io::copy(&mut file, &mut out)
            .and_then(|_| out.flush())
            .context("writing the copy to stdout")?;
        Ok::<_, anyhow::Error>(reports)
    })();
    let _ = remove_store_files(&copy);
    let reports = streamed?;
    eprintln!(
        "backed up store {} to stdout: {reports} report(s), schema version {}",
        path.display(),
        store::schema::version()
    );
    Ok(())
}

/// A SQLite file and its journal files, if there.
fn remove_store_files(file: &std::path::Path) -> Result<()> {
    let journals = store::sqlite::PARTS
        .iter()
        .filter(|(suffix, _)| *suffix != ".lock");
    for (suffix, _) in journals {
        let file = store::sqlite::with_suffix(file, suffix);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(anyhow::Error::from(e).context(format!("replacing {}", file.display())));
            }
            _ => {}
        }
    }
    Ok(())
}
