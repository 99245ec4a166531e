//! Finding the database server programs, with install instructions when they are missing.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

const INSTALL_HINT: &str = "install them with `apt-get update && apt-get install -y \
    --no-install-recommends postgresql mariadb-server mariadb-client postgresql-client` \
    (as root), or run ./scripts/test, which does that when they are missing";

pub(crate) struct PgBinaries {
    pub(crate) initdb: PathBuf,
    pub(crate) postgres: PathBuf,
}

impl PgBinaries {
    /// Looks in `$SLUICE_PG_BINDIR`, then the highest `/usr/lib/postgresql/<version>/bin`
    /// (Debian's layout, where these programs are not on `PATH`), then `PATH`.
    pub(crate) fn locate() -> Result<Self> {
        let mut candidates: Vec<PathBuf> = std::env::var_os("SLUICE_PG_BINDIR")
            .map(PathBuf::from)
            .into_iter()
            .collect();
        candidates.extend(debian_pg_bindirs());
        candidates.extend(path_dirs());
        for dir in candidates {
            let (initdb, postgres) = (dir.join("initdb"), dir.join("postgres"));
            if is_executable(&initdb) && is_executable(&postgres) {
                return Ok(PgBinaries { initdb, postgres });
            }
        }
        bail!(
            "PostgreSQL server programs not found: looked for `initdb` and `postgres` in \
             $SLUICE_PG_BINDIR, /usr/lib/postgresql/*/bin and $PATH; {INSTALL_HINT}"
        )
    }
}

/// `/usr/lib/postgresql/<version>/bin`, highest version first.
fn debian_pg_bindirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

pub(crate) struct MariaDbBinaries {
    pub(crate) install_db: PathBuf,
    pub(crate) server: PathBuf,
}

impl MariaDbBinaries {
    /// Looks in `$SLUICE_MARIADB_BINDIR`, the usual system directories (`/usr/sbin` is not on
    /// every user's `PATH`), then `PATH`; prefers the `mariadb*` names over the `mysql*` ones.
    pub(crate) fn locate() -> Result<Self> {
        let mut dirs: Vec<PathBuf> = std::env::var_os("SLUICE_MARIADB_BINDIR")
            .map(PathBuf::from)
            .into_iter()
            .collect();
        dirs.extend(
            ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
                .iter()
                .map(PathBuf::from),
        );
        dirs.extend(path_dirs());
        let find = |names: &[&str]| {
            names.iter().find_map(|name| {
                dirs.iter()
                    .map(|dir| dir.join(name))
                    .find(|path| is_executable(path))
            })
        };
        let server = find(&["mariadbd", "mysqld"]);
        let install_db = find(&["mariadb-install-db", "mysql_install_db"]);
        match (server, install_db) {
            (Some(server), Some(install_db)) => Ok(MariaDbBinaries { install_db, server }),
            _ => bail!(
                "MariaDB server programs not found: looked for `mariadbd` (or `mysqld`) and \
                 `mariadb-install-db` (or `mysql_install_db`) in $SLUICE_MARIADB_BINDIR, \
                 /usr/sbin, /usr/bin, /usr/local/{{sbin,bin}} and $PATH; {INSTALL_HINT}"
            ),
        }
    }
}

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Whether PostgreSQL's server programs can be found (see [`PgBinaries::locate`]).
pub fn postgres_installed() -> bool {
    PgBinaries::locate().is_ok()
}

/// Whether MariaDB's server programs can be found (see [`MariaDbBinaries::locate`]).
pub fn mariadb_installed() -> bool {
    MariaDbBinaries::locate().is_ok()
}
