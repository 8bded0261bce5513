//! The dashboard database: one SQLite file (WAL journal), every SQL
//! statement Vigil runs on it, and the thread that runs them.
//!
//! SQLite calls block, so the async server never makes them itself: a
//! [`DashboardStore`] hands closures to one dedicated thread that owns the
//! connection. One writer also means saves are serialised, so the version
//! check and the write of a save cannot interleave with another save.
//!
//! Schema (migrated by `PRAGMA user_version`):
//! - `folder` — uid, title (dashboards sit in one folder or in General, `''`).
//! - `dashboard` — the current document (`data`, JSON text) and the columns
//!   search reads without parsing it (title, slug, folder, tags as a JSON
//!   array), its version, and, for provisioned ones, the file it came from
//!   with that file's checksum.
//! - `dashboard_version` — every saved version of every dashboard, written
//!   in the same transaction as the save, so no save ever loses the one
//!   before it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;

use super::{ValidationError, generate_uid, slugify, validate};

/// The schema version this code writes; older files are migrated up.
const SCHEMA_VERSION: i64 = 1;

/// Each migration takes the schema from its index to the next version.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE folder (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uid TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        created INTEGER NOT NULL,
        updated INTEGER NOT NULL
    );
    CREATE TABLE dashboard (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uid TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        slug TEXT NOT NULL,
        folder_uid TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '[]',
        version INTEGER NOT NULL,
        data TEXT NOT NULL,
        created INTEGER NOT NULL,
        updated INTEGER NOT NULL,
        provisioned_path TEXT,
        provisioned_checksum TEXT
    );
    CREATE INDEX dashboard_folder_title ON dashboard (folder_uid, title);
    CREATE INDEX dashboard_provisioned_path ON dashboard (provisioned_path);
    CREATE TABLE dashboard_version (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dashboard_id INTEGER NOT NULL,
        version INTEGER NOT NULL,
        parent_version INTEGER NOT NULL,
        restored_from INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL,
        created INTEGER NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        UNIQUE (dashboard_id, version)
    );
"];

/// The database could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the dashboard database {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error(
        "the dashboard database {path} has schema version {found}, newer than this Vigil knows ({SCHEMA_VERSION}); \
         run a newer Vigil or point --dashboards.path elsewhere"
    )]
    TooNew { path: PathBuf, found: i64 },
    #[error("dashboard database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored dashboard {uid} is not valid JSON: {source}")]
    Corrupt { uid: String, source: serde_json::Error },
    #[error("the dashboard store has stopped")]
    Stopped,
}

/// Why an operation on dashboards or folders was refused. Messages are
/// Grafana's where Grafana has one, so scripts that match on them work.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("The dashboard has been changed by someone else")]
    VersionMismatch,
    #[error("A dashboard with the same name in the folder already exists")]
    NameExists,
    #[error("Dashboard not found")]
    NotFound,
    #[error("Dashboard version not found")]
    VersionNotFound,
    #[error("folder not found: {0}")]
    FolderNotFound(String),
    #[error("a folder with the same uid already exists")]
    FolderUidExists,
    #[error("a folder or dashboard in the general folder with the same name already exists")]
    FolderNameExists,
    #[error("folder title cannot be empty")]
    FolderTitleEmpty,
    #[error("provisioned dashboard cannot be deleted (remove its file from the provisioning folder instead)")]
    ProvisionedDelete,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for DashboardError {
    fn from(e: rusqlite::Error) -> Self {
        DashboardError::Store(StoreError::Sql(e))
    }
}

/// A save: `POST /api/dashboards/db`, a restore, or a provisioned file.
#[derive(Debug, Clone)]
pub struct SaveRequest {
    pub dashboard: Value,
    /// `""` is the General folder.
    pub folder_uid: String,
    /// Skip the version and same-name checks (Grafana's `overwrite`).
    pub overwrite: bool,
    pub message: String,
    /// The version a restore brought back, 0 otherwise.
    pub restored_from: i64,
    /// For provisioning: the source file and its checksum.
    pub provenance: Option<Provenance>,
}

/// Where a provisioned dashboard came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub path: String,
    pub checksum: String,
}

/// The outcome of a save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub id: i64,
    pub uid: String,
    pub slug: String,
    pub version: i64,
}

/// A folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub id: i64,
    pub uid: String,
    pub title: String,
    pub created: i64,
    pub updated: i64,
}

/// A dashboard as stored, with its folder's title.
#[derive(Debug, Clone)]
pub struct StoredDashboard {
    pub id: i64,
    pub uid: String,
    pub title: String,
    pub slug: String,
    pub folder: Option<Folder>,
    pub version: i64,
    pub data: Value,
    /// Unix milliseconds.
    pub created: i64,
    pub updated: i64,
    pub provisioned_path: Option<String>,
}

/// One saved version, without its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub id: i64,
    pub dashboard_id: i64,
    pub uid: String,
    pub version: i64,
    pub parent_version: i64,
    pub restored_from: i64,
    pub created: i64,
    pub message: String,
}

/// What `/api/search` asks for.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Case-insensitive substring of the title.
    pub query: Option<String>,
    /// Every one must be on the dashboard.
    pub tags: Vec<String>,
    pub kind: Option<HitKind>,
    /// `general` or `""` is the General folder.
    pub folder_uids: Vec<String>,
    pub dashboard_uids: Vec<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitKind {
    Dashboard,
    Folder,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub id: i64,
    pub uid: String,
    pub title: String,
    pub slug: String,
    pub kind: HitKind,
    pub tags: Vec<String>,
    pub folder: Option<Folder>,
}

/// The connection and every query Vigil makes of it. Synchronous: the
/// server reaches it through [`DashboardStore`].
pub struct Store {
    conn: Connection,
    /// Search's in-memory copy of titles, tags and folders; None after a
    /// write until the next search.
    index: std::cell::RefCell<Option<Arc<SearchIndex>>>,
}

/// Everything search filters on, titles lower-cased and tags parsed once.
struct SearchIndex {
    /// By lower-cased title, then uid.
    dashboards: Vec<IndexEntry>,
    folders: Vec<IndexEntry>,
    folder_of: HashMap<String, Folder>,
}

struct IndexEntry {
    id: i64,
    uid: String,
    title: String,
    title_lower: String,
    slug: String,
    kind: HitKind,
    folder_uid: String,
    tags: Vec<String>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The current row of a dashboard, as a save needs it.
struct Current {
    id: i64,
    uid: String,
    version: i64,
    provenance: Option<Provenance>,
}

impl Store {
    /// Opens (creating if need be) the database file and brings its schema
    /// up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The error, if any, comes from SQLite's open just after.
            let _ = std::fs::create_dir_all(parent);
        }
        let mut conn = Connection::open(path).map_err(open_err)?;
        // WAL: readers never wait for the writer; NORMAL sync is durable
        // across process crashes, which is what a dashboard save needs.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(open_err)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path: path.to_owned(), found });
        }
        for (version, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
            let tx = conn.transaction().map_err(open_err)?;
            tx.execute_batch(sql).map_err(open_err)?;
            tx.pragma_update(None, "user_version", version as i64 + 1).map_err(open_err)?;
            tx.commit().map_err(open_err)?;
        }
        Ok(Store { conn, index: std::cell::RefCell::new(None) })
    }

    /// Saves a dashboard as Grafana's `POST /api/dashboards/db` does: the
    /// dashboard is found by uid (or id); unless `overwrite`, its version
    /// must be the stored one and its title must be free in the folder. The
    /// new version and the row of the version history go in one transaction.
    pub fn save(&mut self, request: SaveRequest) -> Result<Saved, DashboardError> {
        let checked = validate(&request.dashboard, "dashboard")?;
        let now = now_ms();
        let tx = self.conn.transaction()?;
        if !request.folder_uid.is_empty() && folder_by_uid(&tx, &request.folder_uid)?.is_none() {
            return Err(DashboardError::FolderNotFound(request.folder_uid));
        }
        let mut current = match (&checked.uid, checked.id) {
            (Some(uid), _) => current_by(&tx, "uid = ?1", uid)?,
            (None, Some(id)) => Some(current_by(&tx, "id = ?1", &id)?.ok_or(DashboardError::NotFound)?),
            (None, None) => None,
        };
        if let Some(current) = &current
            && !request.overwrite
            && checked.version != current.version
        {
            return Err(DashboardError::VersionMismatch);
        }
        let same_name = tx
            .query_row(
                "SELECT id FROM dashboard WHERE folder_uid = ?1 AND title = ?2",
                params![request.folder_uid, checked.title],
                |r| r.get::<_, i64>(0),
            )
            .optional()?;
        if let Some(other) = same_name
            && current.as_ref().is_none_or(|c| c.id != other)
        {
            if !request.overwrite {
                return Err(DashboardError::NameExists);
            }
            // Grafana's overwrite: the save takes the same-named
            // dashboard's place (its history stays with it).
            current = current_by(&tx, "id = ?1", &other)?;
        }
        let uid = match (&current, checked.uid) {
            (Some(c), _) => c.uid.clone(),
            (None, Some(uid)) => uid,
            (None, None) => unused_uid(&tx)?,
        };
        let version = current.as_ref().map_or(1, |c| c.version + 1);
        let parent_version = current.as_ref().map_or(0, |c| c.version);
        let slug = slugify(&checked.title);
        let tags = serde_json::to_string(&checked.tags).unwrap_or_else(|_| "[]".to_owned());
        // A save from the API keeps a provisioned dashboard's provenance, so
        // the next start does not overwrite it unless its file changed.
        let provenance = request.provenance.or_else(|| current.as_ref().and_then(|c| c.provenance.clone()));
        let id = match &current {
            Some(c) => {
                tx.execute(
                    "UPDATE dashboard SET uid = ?2, title = ?3, slug = ?4, folder_uid = ?5, tags = ?6, version = ?7,
                        updated = ?8, provisioned_path = ?9, provisioned_checksum = ?10 WHERE id = ?1",
                    params![
                        c.id,
                        uid,
                        checked.title,
                        slug,
                        request.folder_uid,
                        tags,
                        version,
                        now,
                        provenance.as_ref().map(|p| &p.path),
                        provenance.as_ref().map(|p| &p.checksum),
                    ],
                )?;
                c.id
            }
            None => {
                tx.execute(
                    "INSERT INTO dashboard (uid, title, slug, folder_uid, tags, version, data, created, updated,
                        provisioned_path, provisioned_checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, '{}', ?7, ?7, ?8, ?9)",
                    params![
                        uid,
                        checked.title,
                        slug,
                        request.folder_uid,
                        tags,
                        version,
                        now,
                        provenance.as_ref().map(|p| &p.path),
                        provenance.as_ref().map(|p| &p.checksum),
                    ],
                )?;
                tx.last_insert_rowid()
            }
        };
        // The stored document carries its identity, as Grafana's does.
        let mut data = request.dashboard;
        if let Some(obj) = data.as_object_mut() {
            obj.insert("id".to_owned(), Value::from(id));
            obj.insert("uid".to_owned(), Value::from(uid.clone()));
            obj.insert("version".to_owned(), Value::from(version));
        }
        let text = data.to_string();
        tx.execute("UPDATE dashboard SET data = ?2 WHERE id = ?1", params![id, text])?;
        tx.execute(
            "INSERT INTO dashboard_version (dashboard_id, version, parent_version, restored_from, data, created, message)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, version, parent_version, request.restored_from, text, now, request.message],
        )?;
        tx.commit()?;
        self.changed();
        Ok(Saved { id, uid, slug, version })
    }

    /// The dashboard with this uid.
    pub fn get(&self, uid: &str) -> Result<Option<StoredDashboard>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT id, uid, title, slug, folder_uid, version, data, created, updated, provisioned_path
                    FROM dashboard WHERE uid = ?1",
                [uid],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, i64>(8)?,
                        r.get::<_, Option<String>>(9)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, uid, title, slug, folder_uid, version, data, created, updated, provisioned_path)) = row else {
            return Ok(None);
        };
        let data = serde_json::from_str(&data).map_err(|source| StoreError::Corrupt { uid: uid.clone(), source })?;
        let folder = if folder_uid.is_empty() { None } else { folder_by_uid(&self.conn, &folder_uid)? };
        Ok(Some(StoredDashboard { id, uid, title, slug, folder, version, data, created, updated, provisioned_path }))
    }

    /// Deletes a dashboard and its history; returns its id and title, or
    /// None if there was none. Provisioned ones stay (their file would bring
    /// them back at the next start).
    pub fn delete(&mut self, uid: &str) -> Result<Option<(i64, String)>, DashboardError> {
        let tx = self.conn.transaction()?;
        let row = tx
            .query_row("SELECT id, title, provisioned_path FROM dashboard WHERE uid = ?1", [uid], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?))
            })
            .optional()?;
        let Some((id, title, provisioned)) = row else { return Ok(None) };
        if provisioned.is_some() {
            return Err(DashboardError::ProvisionedDelete);
        }
        tx.execute("DELETE FROM dashboard_version WHERE dashboard_id = ?1", [id])?;
        tx.execute("DELETE FROM dashboard WHERE id = ?1", [id])?;
        tx.commit()?;
        self.changed();
        Ok(Some((id, title)))
    }

    /// Dashboards and folders matching `query`, sorted by title
    /// (case-insensitively), at most `query.limit` of them.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
        let index = self.search_index()?;
        let needle = query.query.as_deref().map(str::to_lowercase).filter(|q| !q.is_empty());
        let title_matches = |entry: &IndexEntry| needle.as_deref().is_none_or(|n| entry.title_lower.contains(n));
        let in_folders = |folder_uid: &str| {
            query.folder_uids.is_empty()
                || query.folder_uids.iter().any(|f| f == folder_uid || (folder_uid.is_empty() && f == "general"))
        };
        // Folders have no tags and all sit at the root, so filters on tags,
        // dashboards or folders leave them out.
        let with_folders = query.kind != Some(HitKind::Dashboard)
            && query.tags.is_empty()
            && query.dashboard_uids.is_empty()
            && query.folder_uids.is_empty();
        let with_dashboards = query.kind != Some(HitKind::Folder);
        let mut found: Vec<&IndexEntry> = index
            .folders
            .iter()
            .filter(|_| with_folders)
            .chain(index.dashboards.iter().filter(|_| with_dashboards))
            .filter(|e| {
                title_matches(e)
                    && (e.kind == HitKind::Folder
                        || (in_folders(&e.folder_uid)
                            && (query.dashboard_uids.is_empty() || query.dashboard_uids.contains(&e.uid))
                            && query.tags.iter().all(|t| e.tags.contains(t))))
            })
            .collect();
        // Both lists are sorted already; this merges them.
        found.sort_by(|a, b| {
            (&a.title_lower, a.kind == HitKind::Dashboard, &a.uid).cmp(&(
                &b.title_lower,
                b.kind == HitKind::Dashboard,
                &b.uid,
            ))
        });
        found.truncate(query.limit);
        Ok(found
            .into_iter()
            .map(|e| Hit {
                id: e.id,
                uid: e.uid.clone(),
                title: e.title.clone(),
                slug: e.slug.clone(),
                kind: e.kind,
                tags: e.tags.clone(),
                folder: index.folder_of.get(&e.folder_uid).cloned(),
            })
            .collect())
    }

    /// What search reads, from memory: built from the tables on first use
    /// and dropped by every write, so a search never parses tags or
    /// lower-cases titles again, and never sees stale data.
    fn search_index(&self) -> Result<Arc<SearchIndex>, StoreError> {
        if let Some(index) = self.index.borrow().as_ref() {
            return Ok(Arc::clone(index));
        }
        let folders = self.folders()?;
        let mut statement = self.conn.prepare_cached("SELECT id, uid, title, slug, folder_uid, tags FROM dashboard")?;
        let rows = statement.query_map([], |r| {
            let title: String = r.get(2)?;
            let tags: String = r.get(5)?;
            Ok(IndexEntry {
                id: r.get(0)?,
                uid: r.get(1)?,
                title_lower: title.to_lowercase(),
                title,
                slug: r.get(3)?,
                kind: HitKind::Dashboard,
                folder_uid: r.get(4)?,
                tags: serde_json::from_str(&tags).unwrap_or_default(),
            })
        })?;
        let mut dashboards: Vec<IndexEntry> = rows.collect::<Result<_, _>>()?;
        dashboards.sort_by(|a, b| (&a.title_lower, &a.uid).cmp(&(&b.title_lower, &b.uid)));
        let mut folder_entries: Vec<IndexEntry> = folders
            .iter()
            .map(|f| IndexEntry {
                id: f.id,
                uid: f.uid.clone(),
                title: f.title.clone(),
                title_lower: f.title.to_lowercase(),
                slug: slugify(&f.title),
                kind: HitKind::Folder,
                folder_uid: String::new(),
                tags: Vec::new(),
            })
            .collect();
        folder_entries.sort_by(|a, b| (&a.title_lower, &a.uid).cmp(&(&b.title_lower, &b.uid)));
        let index = Arc::new(SearchIndex {
            dashboards,
            folders: folder_entries,
            folder_of: folders.into_iter().map(|f| (f.uid.clone(), f)).collect(),
        });
        *self.index.borrow_mut() = Some(Arc::clone(&index));
        Ok(index)
    }

    /// Called by every write: the next search rebuilds its index.
    fn changed(&self) {
        self.index.borrow_mut().take();
    }

    /// A dashboard's versions, newest first: `limit` of them after skipping
    /// `start`. None if there is no such dashboard.
    pub fn versions(&self, uid: &str, limit: usize, start: usize) -> Result<Option<Vec<VersionInfo>>, StoreError> {
        let Some(id) = self.id_of(uid)? else { return Ok(None) };
        let mut statement = self.conn.prepare_cached(
            "SELECT id, version, parent_version, restored_from, created, message FROM dashboard_version
                WHERE dashboard_id = ?1 ORDER BY version DESC LIMIT ?2 OFFSET ?3",
        )?;
        let rows = statement.query_map(
            params![id, i64::try_from(limit).unwrap_or(i64::MAX), i64::try_from(start).unwrap_or(i64::MAX)],
            |r| {
                Ok(VersionInfo {
                    id: r.get(0)?,
                    dashboard_id: id,
                    uid: uid.to_owned(),
                    version: r.get(1)?,
                    parent_version: r.get(2)?,
                    restored_from: r.get(3)?,
                    created: r.get(4)?,
                    message: r.get(5)?,
                })
            },
        )?;
        Ok(Some(rows.collect::<Result<_, _>>()?))
    }

    /// One saved version with its document. The outer None: no such
    /// dashboard; the inner: no such version.
    pub fn version(&self, uid: &str, version: i64) -> Result<Option<Option<(VersionInfo, Value)>>, StoreError> {
        let Some(id) = self.id_of(uid)? else { return Ok(None) };
        let row = self
            .conn
            .query_row(
                "SELECT id, parent_version, restored_from, created, message, data FROM dashboard_version
                    WHERE dashboard_id = ?1 AND version = ?2",
                params![id, version],
                |r| {
                    Ok((
                        VersionInfo {
                            id: r.get(0)?,
                            dashboard_id: id,
                            uid: uid.to_owned(),
                            version,
                            parent_version: r.get(1)?,
                            restored_from: r.get(2)?,
                            created: r.get(3)?,
                            message: r.get(4)?,
                        },
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((info, data)) = row else { return Ok(Some(None)) };
        let data = serde_json::from_str(&data).map_err(|source| StoreError::Corrupt { uid: uid.to_owned(), source })?;
        Ok(Some(Some((info, data))))
    }

    /// Makes an old version the newest, as Grafana's restore: a new version
    /// with the old document, `restoredFrom` set, in the same folder.
    pub fn restore(&mut self, uid: &str, version: i64) -> Result<Saved, DashboardError> {
        let current = self.get(uid)?.ok_or(DashboardError::NotFound)?;
        let (_, mut data) = self.version(uid, version)?.flatten().ok_or(DashboardError::VersionNotFound)?;
        if let Some(obj) = data.as_object_mut() {
            obj.insert("version".to_owned(), Value::from(current.version));
            obj.insert("uid".to_owned(), Value::from(current.uid.clone()));
        }
        self.save(SaveRequest {
            dashboard: data,
            folder_uid: current.folder.map(|f| f.uid).unwrap_or_default(),
            overwrite: false,
            message: format!("Restored from version {version}"),
            restored_from: version,
            provenance: None,
        })
    }

    /// Every folder, by title.
    pub fn folders(&self) -> Result<Vec<Folder>, StoreError> {
        let mut statement =
            self.conn.prepare_cached("SELECT id, uid, title, created, updated FROM folder ORDER BY title, uid")?;
        let rows = statement.query_map([], folder_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn folder(&self, uid: &str) -> Result<Option<Folder>, StoreError> {
        Ok(folder_by_uid(&self.conn, uid)?)
    }

    /// Creates a folder; without a uid one is generated.
    pub fn create_folder(&mut self, uid: Option<&str>, title: &str) -> Result<Folder, DashboardError> {
        if title.trim().is_empty() {
            return Err(DashboardError::FolderTitleEmpty);
        }
        if let Some(uid) = uid {
            super::check_uid(uid).map_err(|message| ValidationError { path: "uid".to_owned(), message })?;
        }
        let tx = self.conn.transaction()?;
        let uid = match uid {
            Some(uid) if folder_by_uid(&tx, uid)?.is_some() => return Err(DashboardError::FolderUidExists),
            Some(uid) => uid.to_owned(),
            None => unused_uid(&tx)?,
        };
        let title_taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM folder WHERE title = ?1)
                OR EXISTS (SELECT 1 FROM dashboard WHERE folder_uid = '' AND title = ?1)",
            [title],
            |r| r.get(0),
        )?;
        if title_taken {
            return Err(DashboardError::FolderNameExists);
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO folder (uid, title, created, updated) VALUES (?1, ?2, ?3, ?3)",
            params![uid, title, now],
        )?;
        let folder = Folder { id: tx.last_insert_rowid(), uid, title: title.to_owned(), created: now, updated: now };
        tx.commit()?;
        self.changed();
        Ok(folder)
    }

    /// The folder with this title, created if there is none (provisioning's
    /// folders from subdirectories).
    pub fn ensure_folder(&mut self, title: &str) -> Result<Folder, DashboardError> {
        let found = self
            .conn
            .query_row("SELECT id, uid, title, created, updated FROM folder WHERE title = ?1", [title], folder_row)
            .optional()?;
        match found {
            Some(folder) => Ok(folder),
            None => self.create_folder(None, title),
        }
    }

    /// Every tag with the number of dashboards carrying it, by tag.
    pub fn tags(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut counts = BTreeMap::<String, usize>::new();
        let mut statement = self.conn.prepare_cached("SELECT tags FROM dashboard")?;
        let rows = statement.query_map([], |r| r.get::<_, String>(0))?;
        for tags in rows {
            let tags: Vec<String> = serde_json::from_str(&tags?).unwrap_or_default();
            for tag in tags {
                *counts.entry(tag).or_default() += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }

    /// The uid and stored checksum of the dashboard provisioned from `path`.
    pub fn provisioned(&self, path: &str) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT uid, provisioned_checksum FROM dashboard WHERE provisioned_path = ?1", [path], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_default()))
            })
            .optional()?)
    }

    /// The uid of the folder with this numeric id (old scripts send
    /// Grafana's `folderId`).
    pub fn folder_uid_by_id(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(self.conn.query_row("SELECT uid FROM folder WHERE id = ?1", [id], |r| r.get(0)).optional()?)
    }

    /// Drops the provenance of provisioned dashboards whose file is gone
    /// and that were not loaded this time, so they become ordinary ones
    /// (which can be deleted). Returns their uids.
    pub fn release_provisioned(
        &mut self,
        loaded: &std::collections::HashSet<String>,
    ) -> Result<Vec<String>, StoreError> {
        let mut statement =
            self.conn.prepare("SELECT uid, provisioned_path FROM dashboard WHERE provisioned_path IS NOT NULL")?;
        let rows: Vec<(String, String)> =
            statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        drop(statement);
        let mut released = Vec::new();
        for (uid, path) in rows {
            if !loaded.contains(&path) && !Path::new(&path).exists() {
                self.conn.execute(
                    "UPDATE dashboard SET provisioned_path = NULL, provisioned_checksum = NULL WHERE uid = ?1",
                    [&uid],
                )?;
                released.push(uid);
            }
        }
        self.changed();
        Ok(released)
    }

    fn id_of(&self, uid: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row("SELECT id FROM dashboard WHERE uid = ?1", [uid], |r| r.get(0)).optional()?)
    }
}

fn folder_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Folder> {
    Ok(Folder { id: r.get(0)?, uid: r.get(1)?, title: r.get(2)?, created: r.get(3)?, updated: r.get(4)? })
}

fn folder_by_uid(conn: &Connection, uid: &str) -> rusqlite::Result<Option<Folder>> {
    conn.query_row("SELECT id, uid, title, created, updated FROM folder WHERE uid = ?1", [uid], folder_row).optional()
}

fn current_by(tx: &Transaction<'_>, condition: &str, key: &dyn rusqlite::ToSql) -> rusqlite::Result<Option<Current>> {
    tx.query_row(
        &format!("SELECT id, uid, version, provisioned_path, provisioned_checksum FROM dashboard WHERE {condition}"),
        [key],
        |r| {
            let path: Option<String> = r.get(3)?;
            let checksum: Option<String> = r.get(4)?;
            Ok(Current {
                id: r.get(0)?,
                uid: r.get(1)?,
                version: r.get(2)?,
                provenance: path.map(|path| Provenance { path, checksum: checksum.unwrap_or_default() }),
            })
        },
    )
    .optional()
}

/// A generated uid no dashboard or folder has.
fn unused_uid(tx: &Transaction<'_>) -> rusqlite::Result<String> {
    loop {
        let uid = generate_uid();
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM dashboard WHERE uid = ?1) OR EXISTS (SELECT 1 FROM folder WHERE uid = ?1)",
            [&uid],
            |r| r.get(0),
        )?;
        if !taken {
            return Ok(uid);
        }
    }
}

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A handle on the store's thread: cheap to clone, usable from async code.
#[derive(Clone)]
pub struct DashboardStore {
    jobs: std::sync::mpsc::Sender<Job>,
    path: Arc<PathBuf>,
}

impl DashboardStore {
    /// Opens the file and starts the thread that owns the connection; the
    /// thread ends when the last handle is dropped.
    pub fn open(path: &Path) -> Result<DashboardStore, StoreError> {
        let mut store = Store::open(path)?;
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("dashboards".to_owned())
            .spawn(move || {
                for job in queue {
                    // A panicking job must not take the store down with it:
                    // its caller sees `Stopped`, the next job runs.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut store)));
                }
            })
            .map_err(|e| StoreError::Open {
                path: path.to_owned(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok(DashboardStore { jobs, path: Arc::new(path.to_owned()) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the store's thread and returns its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Store) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |store| {
                let _ = reply.send(f(store));
            }))
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp_store() -> (Store, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "vigil-dashboards-{}-{}",
            std::process::id(),
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        let store = Store::open(&dir.join("dashboards.db")).expect("open the store");
        (store, dir)
    }

    fn save(store: &mut Store, dashboard: Value, overwrite: bool) -> Result<Saved, DashboardError> {
        store.save(SaveRequest {
            dashboard,
            folder_uid: String::new(),
            overwrite,
            message: String::new(),
            restored_from: 0,
            provenance: None,
        })
    }

    #[test]
    fn saves_check_versions_and_names_as_grafana() {
        let (mut store, dir) = temp_store();
        let first = save(&mut store, json!({"title": "A", "uid": "a"}), false).expect("create");
        assert_eq!((first.uid.as_str(), first.version, first.slug.as_str()), ("a", 1, "a"));
        // (document, overwrite, expected outcome: Ok(version) or the error)
        type Case = (Value, bool, Result<i64, &'static str>);
        let cases: Vec<Case> = vec![
            (json!({"title": "A", "uid": "a", "version": 1}), false, Ok(2)),
            (json!({"title": "A", "uid": "a", "version": 1}), false, Err("changed by someone else")),
            (json!({"title": "A", "uid": "a"}), false, Err("changed by someone else")),
            (json!({"title": "A", "uid": "a", "version": 9}), false, Err("changed by someone else")),
            (json!({"title": "A", "uid": "a", "version": 1}), true, Ok(3)),
            (json!({"title": "A"}), false, Err("same name in the folder")),
            (json!({"title": "A", "id": 999}), false, Err("Dashboard not found")),
            (json!({"title": "A", "id": first.id, "version": 3}), false, Ok(4)),
        ];
        for (doc, overwrite, want) in cases {
            let got = save(&mut store, doc.clone(), overwrite);
            match (got, want) {
                (Ok(saved), Ok(version)) => assert_eq!(saved.version, version, "{doc}"),
                (Err(e), Err(message)) => assert!(e.to_string().contains(message), "{doc}: {e}"),
                (got, want) => panic!("{doc}: got {got:?}, want {want:?}"),
            }
        }
        let stored = store.get("a").expect("get").expect("present");
        assert_eq!(stored.version, 4);
        assert_eq!(stored.data["version"], json!(4));
        assert_eq!(stored.data["id"], json!(first.id));
        // Every save is in the history, newest first.
        let versions = store.versions("a", 100, 0).expect("versions").expect("present");
        assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [4, 3, 2, 1]);
        assert_eq!(versions.iter().map(|v| v.parent_version).collect::<Vec<_>>(), [3, 2, 1, 0]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn overwrite_takes_the_same_named_dashboards_place() {
        let (mut store, dir) = temp_store();
        let first = save(&mut store, json!({"title": "Same", "panels": [{"type": "stat"}]}), false).expect("create");
        let second = save(&mut store, json!({"title": "Same"}), true).expect("overwrite");
        assert_eq!((second.id, second.uid.as_str(), second.version), (first.id, first.uid.as_str(), 2));
        let old = store.version(&first.uid, 1).expect("read").flatten().expect("version 1 kept");
        assert_eq!(old.1["panels"][0]["type"], json!("stat"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn restore_makes_an_old_version_the_newest() {
        let (mut store, dir) = temp_store();
        save(&mut store, json!({"title": "R", "uid": "r", "tags": ["one"]}), false).expect("v1");
        save(&mut store, json!({"title": "R2", "uid": "r", "version": 1, "tags": ["two"]}), false).expect("v2");
        let restored = store.restore("r", 1).expect("restore");
        assert_eq!(restored.version, 3);
        let now = store.get("r").expect("get").expect("present");
        assert_eq!((now.title.as_str(), now.data["tags"].clone()), ("R", json!(["one"])));
        let newest = &store.versions("r", 1, 0).expect("versions").expect("present")[0];
        assert_eq!((newest.version, newest.restored_from, newest.message.as_str()), (3, 1, "Restored from version 1"));
        assert!(matches!(store.restore("r", 42), Err(DashboardError::VersionNotFound)));
        assert!(matches!(store.restore("nope", 1), Err(DashboardError::NotFound)));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn search_filters_and_sorts_by_title() {
        let (mut store, dir) = temp_store();
        let ops = store.create_folder(Some("ops"), "Ops").expect("folder");
        for (title, tags, folder) in [
            ("node exporter", vec!["linux", "host"], ""),
            ("Vigil", vec!["vigil"], ""),
            ("Linux hosts", vec!["linux"], "ops"),
            ("api latency", vec![], "ops"),
        ] {
            store
                .save(SaveRequest {
                    dashboard: json!({"title": title, "tags": tags}),
                    folder_uid: folder.to_owned(),
                    overwrite: false,
                    message: String::new(),
                    restored_from: 0,
                    provenance: None,
                })
                .expect("save");
        }
        let titles = |q: SearchQuery| -> Vec<String> {
            store.search(&SearchQuery { limit: 1000, ..q }).expect("search").into_iter().map(|h| h.title).collect()
        };
        let cases: Vec<(SearchQuery, Vec<&str>)> = vec![
            (SearchQuery::default(), vec!["api latency", "Linux hosts", "node exporter", "Ops", "Vigil"]),
            (SearchQuery { query: Some("LINUX".into()), ..Default::default() }, vec!["Linux hosts"]),
            (
                SearchQuery { query: Some("o".into()), ..Default::default() },
                vec!["Linux hosts", "node exporter", "Ops"],
            ),
            (SearchQuery { tags: vec!["linux".into()], ..Default::default() }, vec!["Linux hosts", "node exporter"]),
            (SearchQuery { tags: vec!["linux".into(), "host".into()], ..Default::default() }, vec!["node exporter"]),
            (SearchQuery { kind: Some(HitKind::Folder), ..Default::default() }, vec!["Ops"]),
            (SearchQuery { folder_uids: vec!["ops".into()], ..Default::default() }, vec!["api latency", "Linux hosts"]),
            (SearchQuery { folder_uids: vec!["general".into()], ..Default::default() }, vec!["node exporter", "Vigil"]),
        ];
        for (query, want) in cases {
            assert_eq!(titles(query.clone()), want, "{query:?}");
        }
        let limited = store.search(&SearchQuery { limit: 2, ..Default::default() }).expect("search");
        assert_eq!(limited.len(), 2);
        let in_ops = store.search(&SearchQuery { query: Some("api".into()), limit: 10, ..Default::default() });
        assert_eq!(in_ops.expect("search")[0].folder.as_ref().map(|f| f.uid.clone()), Some(ops.uid));
        // Search's index follows every write.
        let find = |store: &Store, q: &str| -> Vec<String> {
            let query = SearchQuery { query: Some(q.into()), limit: 10, ..Default::default() };
            store.search(&query).expect("search").into_iter().map(|h| h.title).collect()
        };
        assert!(find(&store, "fresh").is_empty());
        let fresh = save(&mut store, json!({"title": "Fresh one", "uid": "fresh"}), false).expect("save");
        assert_eq!(find(&store, "fresh"), ["Fresh one"]);
        save(&mut store, json!({"title": "Renamed", "uid": "fresh", "version": fresh.version}), false).expect("save");
        assert_eq!((find(&store, "fresh"), find(&store, "renamed")), (vec![], vec!["Renamed".to_owned()]));
        store.delete("fresh").expect("delete");
        assert!(find(&store, "renamed").is_empty());
        store.create_folder(None, "Renamed folder").expect("folder");
        assert_eq!(find(&store, "renamed"), ["Renamed folder"]);
        assert_eq!(
            store.tags().expect("tags"),
            [("host".to_owned(), 1), ("linux".to_owned(), 2), ("vigil".to_owned(), 1)]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn folders_refuse_duplicates_and_unknown_folders_refuse_saves() {
        let (mut store, dir) = temp_store();
        store.create_folder(Some("f1"), "Team").expect("create");
        assert!(matches!(store.create_folder(Some("f1"), "Other"), Err(DashboardError::FolderUidExists)));
        assert!(matches!(store.create_folder(None, "Team"), Err(DashboardError::FolderNameExists)));
        assert!(matches!(store.create_folder(None, " "), Err(DashboardError::FolderTitleEmpty)));
        assert!(matches!(store.create_folder(Some("a/b"), "X"), Err(DashboardError::Invalid(_))));
        assert_eq!(store.ensure_folder("Team").expect("ensure").uid, "f1");
        let refused = store.save(SaveRequest {
            dashboard: json!({"title": "x"}),
            folder_uid: "missing".into(),
            overwrite: true,
            message: String::new(),
            restored_from: 0,
            provenance: None,
        });
        assert!(matches!(refused, Err(DashboardError::FolderNotFound(_))), "{refused:?}");
        // Same title in two folders is fine.
        for folder in ["", "f1"] {
            store
                .save(SaveRequest {
                    dashboard: json!({"title": "twin"}),
                    folder_uid: folder.into(),
                    overwrite: false,
                    message: String::new(),
                    restored_from: 0,
                    provenance: None,
                })
                .expect("save a twin");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn data_survives_reopening_and_deletes_remove_history() {
        let (mut store, dir) = temp_store();
        save(&mut store, json!({"title": "<script>alert(1)</script>", "uid": "x"}), false).expect("save");
        save(&mut store, json!({"title": "keep", "uid": "k"}), false).expect("save");
        drop(store);
        let mut store = Store::open(&dir.join("dashboards.db")).expect("reopen");
        let stored = store.get("x").expect("get").expect("kept");
        assert_eq!(stored.title, "<script>alert(1)</script>");
        assert_eq!(store.delete("x").expect("delete"), Some((stored.id, stored.title)));
        assert_eq!(store.delete("x").expect("delete again"), None);
        assert!(store.versions("x", 10, 0).expect("versions").is_none());
        // A new dashboard never gets a deleted one's id.
        let next = save(&mut store, json!({"title": "new"}), false).expect("save");
        assert!(next.id > stored.id);
        let journal: String = store.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("pragma");
        assert_eq!(journal, "wal");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn provisioned_dashboards_cannot_be_deleted_and_keep_provenance() {
        let (mut store, dir) = temp_store();
        let provenance = Provenance { path: "/p/a.json".into(), checksum: "c1".into() };
        store
            .save(SaveRequest {
                dashboard: json!({"title": "P", "uid": "p"}),
                folder_uid: String::new(),
                overwrite: true,
                message: String::new(),
                restored_from: 0,
                provenance: Some(provenance),
            })
            .expect("provision");
        save(&mut store, json!({"title": "P edited", "uid": "p", "version": 1}), false).expect("edit");
        assert_eq!(store.provisioned("/p/a.json").expect("read"), Some(("p".into(), "c1".into())));
        assert!(matches!(store.delete("p"), Err(DashboardError::ProvisionedDelete)));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let (store, dir) = temp_store();
        store.conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).expect("pragma");
        drop(store);
        match Store::open(&dir.join("dashboards.db")) {
            Err(StoreError::TooNew { found, .. }) => assert_eq!(found, SCHEMA_VERSION + 1),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a newer schema was accepted"),
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
