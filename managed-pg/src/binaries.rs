//! Finding the Postgres server binaries (`initdb`, `postgres`, `pg_isready`).

use crate::PgError;
use std::path::{Path, PathBuf};

/// Directories Debian, Ubuntu and RHEL-style packages install server binaries into.
const PACKAGE_ROOTS: [&str; 2] = ["/usr/lib/postgresql", "/usr/pgsql-"];

/// Returns the directory holding `initdb` and `postgres`: the configured one, else the newest
/// version under `/usr/lib/postgresql/*/bin`, else the first `initdb` on `PATH`.
pub fn find_bin_dir(configured: Option<&Path>) -> Result<PathBuf, PgError> {
    if let Some(dir) = configured {
        return if has_server(dir) {
            Ok(dir.to_path_buf())
        } else {
            Err(PgError::BinariesNotFound {
                looked: dir.display().to_string(),
            })
        };
    }
    let mut candidates: Vec<(u32, PathBuf)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(PACKAGE_ROOTS[0]) {
        for entry in entries.flatten() {
            let bin = entry.path().join("bin");
            let version = entry
                .file_name()
                .to_string_lossy()
                .split('.')
                .next()
                .and_then(|v| v.parse::<u32>().ok());
            if let (Some(v), true) = (version, has_server(&bin)) {
                candidates.push((v, bin));
            }
        }
    }
    if let Some((_, bin)) = candidates.into_iter().max_by_key(|(v, _)| *v) {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server(&dir) {
                return Ok(dir);
            }
        }
    }
    Err(PgError::BinariesNotFound {
        looked: format!(
            "{}/*/bin, {}*/bin and PATH",
            PACKAGE_ROOTS[0], PACKAGE_ROOTS[1]
        ),
    })
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_directory_without_postgres_is_an_error_naming_it() {
        let err = find_bin_dir(Some(Path::new("/nonexistent/pg/bin"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/pg/bin"));
    }
}
