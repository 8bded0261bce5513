//! Grafana's dashboard, search, version and folder endpoints, in Grafana's
//! JSON shapes (so `grafana-dashboard` scripts, Terraform-style tooling and
//! curl recipes written for Grafana work against Vigil), over the store.
//!
//! Errors are Grafana's `{"message": …}` (plus `status` where Grafana sends
//! one, as in `412 {"status": "version-mismatch"}`). A body that is not JSON
//! is answered 400 with its line and column; a document of the wrong shape
//! 400 with the JSON path (`"path"` in the answer too); a body over
//! [`MAX_BODY_BYTES`] 413.

use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRef, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use tracing::error;

use super::store::{DashboardError, Folder, HitKind, SaveRequest, SearchQuery, StoreError, VersionInfo};
use super::{DashboardStore, ValidationError, dashboard_url, folder_url, kind};

/// The largest request body the dashboard endpoints read: far above any
/// real dashboard, small enough that a hostile client cannot make the
/// server buffer much.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Search's default and largest page, as Grafana's.
const DEFAULT_SEARCH_LIMIT: usize = 1000;
const MAX_SEARCH_LIMIT: usize = 5000;

/// Who Grafana's `createdBy`/`updatedBy` name when there are no users.
const ANONYMOUS: &str = "Anonymous";

/// The dashboard routes, for any router state that can hand out the store.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    DashboardStore: FromRef<S>,
{
    Router::new()
        .route("/api/search", get(search))
        .route("/api/dashboards/db", post(save))
        .route("/api/dashboards/tags", get(tags))
        .route("/api/dashboards/uid/{uid}", get(get_dashboard).delete(delete_dashboard))
        .route("/api/dashboards/uid/{uid}/versions", get(versions))
        .route("/api/dashboards/uid/{uid}/versions/{version}", get(version))
        .route("/api/dashboards/uid/{uid}/restore", post(restore))
        .route("/api/folders", get(folders).post(create_folder))
        .route("/api/folders/{uid}", get(get_folder))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// A refusal in Grafana's shape.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    body: Map<String, Value>,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("message".to_owned(), Value::from(message.into()));
        Failure { status, body }
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.body.insert(key.to_owned(), value.into());
        self
    }

    fn invalid(e: &ValidationError) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, e.to_string()).with("path", e.path.clone())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, axum::Json(Value::Object(self.body))).into_response()
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        error!(error = %e, "dashboard store failed");
        Failure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<DashboardError> for Failure {
    fn from(e: DashboardError) -> Self {
        let message = e.to_string();
        match e {
            DashboardError::VersionMismatch => {
                Failure::new(StatusCode::PRECONDITION_FAILED, message).with("status", "version-mismatch")
            }
            DashboardError::NameExists => {
                Failure::new(StatusCode::PRECONDITION_FAILED, message).with("status", "name-exists")
            }
            DashboardError::NotFound | DashboardError::VersionNotFound => {
                Failure::new(StatusCode::NOT_FOUND, message).with("status", "not-found")
            }
            DashboardError::FolderUidExists | DashboardError::FolderNameExists => {
                Failure::new(StatusCode::CONFLICT, message)
            }
            DashboardError::FolderNotFound(_)
            | DashboardError::FolderTitleEmpty
            | DashboardError::ProvisionedDelete => Failure::new(StatusCode::BAD_REQUEST, message),
            DashboardError::Invalid(e) => Failure::invalid(&e),
            DashboardError::Store(e) => e.into(),
        }
    }
}

type Answer = Result<Response, Failure>;

fn ok(body: Value) -> Answer {
    Ok(axum::Json(body).into_response())
}

/// Unix milliseconds as RFC 3339.
fn time(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    crate::api::params::format_rfc3339(at)
}

/// A request body as JSON: over the limit is 413, not JSON is 400 with the
/// line and column, not an object is 400 at `$`.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, Failure> {
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::new(status, format!("request body is larger than the limit of {} MiB", MAX_BODY_BYTES >> 20))
        } else {
            Failure::new(status, rejection.body_text())
        }
    })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, format!("bad request data: invalid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Failure::invalid(&ValidationError {
            path: "$".to_owned(),
            message: format!("the request body must be a JSON object, not {}", kind(&other)),
        })),
    }
}

/// An optional field of a given JSON type; null counts as absent.
fn field<'a, T>(
    body: &'a Map<String, Value>,
    name: &str,
    expected: &str,
    read: impl Fn(&'a Value) -> Option<T>,
) -> Result<Option<T>, Failure> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => read(value).map(Some).ok_or_else(|| {
            Failure::invalid(&ValidationError {
                path: name.to_owned(),
                message: format!("expected {expected}, got {}", kind(value)),
            })
        }),
    }
}

/// `POST /api/dashboards/db`: `{dashboard, overwrite, folderUid, folderId,
/// message}` → `{id, uid, url, status, version, slug}`.
async fn save(State(store): State<DashboardStore>, body: Result<Bytes, BytesRejection>) -> Answer {
    let mut body = json_body(body)?;
    let overwrite = field(&body, "overwrite", "a boolean", Value::as_bool)?.unwrap_or(false);
    let message = field(&body, "message", "a string", Value::as_str)?.unwrap_or_default().to_owned();
    let folder_uid = field(&body, "folderUid", "a string", Value::as_str)?.map(str::to_owned);
    let folder_id = field(&body, "folderId", "an integer", Value::as_i64)?;
    let dashboard = match body.remove("dashboard") {
        Some(d @ Value::Object(_)) => d,
        None | Some(Value::Null) => {
            return Err(Failure::invalid(&ValidationError {
                path: "dashboard".to_owned(),
                message: "required: the body must carry the dashboard in a `dashboard` field".to_owned(),
            }));
        }
        Some(other) => {
            return Err(Failure::invalid(&ValidationError {
                path: "dashboard".to_owned(),
                message: format!("a dashboard must be a JSON object, not {}", kind(&other)),
            }));
        }
    };
    // Checked here too (the store checks again) so a bad document never
    // queues behind other saves.
    super::validate(&dashboard, "dashboard").map_err(|e| Failure::invalid(&e))?;
    let saved = store
        .call(move |s| {
            let folder_uid = match (folder_uid, folder_id) {
                (Some(uid), _) => uid,
                (None, Some(id)) if id != 0 => {
                    s.folder_uid_by_id(id)?.ok_or_else(|| DashboardError::FolderNotFound(id.to_string()))?
                }
                _ => String::new(),
            };
            s.save(SaveRequest { dashboard, folder_uid, overwrite, message, restored_from: 0, provenance: None })
        })
        .await??;
    ok(saved_json(&saved))
}

fn saved_json(saved: &super::store::Saved) -> Value {
    json!({
        "id": saved.id,
        "uid": saved.uid,
        "url": dashboard_url(&saved.uid, &saved.slug),
        "status": "success",
        "version": saved.version,
        "slug": saved.slug,
    })
}

/// `GET /api/dashboards/uid/{uid}`: `{dashboard, meta}`.
async fn get_dashboard(State(store): State<DashboardStore>, Path(uid): Path<String>) -> Answer {
    let dash = store.call(move |s| s.get(&uid)).await??.ok_or(DashboardError::NotFound)?;
    let (folder_id, folder_uid, folder_title, folder_link) = match &dash.folder {
        Some(f) => (f.id, f.uid.clone(), f.title.clone(), folder_url(&f.uid, &f.title)),
        None => (0, String::new(), "General".to_owned(), String::new()),
    };
    let provisioned = dash.provisioned_path.is_some();
    ok(json!({
        "dashboard": dash.data,
        "meta": {
            "type": "db",
            "canSave": true,
            "canEdit": true,
            "canAdmin": true,
            "canStar": false,
            "canDelete": !provisioned,
            "slug": dash.slug,
            "url": dashboard_url(&dash.uid, &dash.slug),
            "expires": "0001-01-01T00:00:00Z",
            "created": time(dash.created),
            "updated": time(dash.updated),
            "updatedBy": ANONYMOUS,
            "createdBy": ANONYMOUS,
            "version": dash.version,
            "hasAcl": false,
            "isFolder": false,
            "folderId": folder_id,
            "folderUid": folder_uid,
            "folderTitle": folder_title,
            "folderUrl": folder_link,
            "provisioned": provisioned,
            "provisionedExternalId": dash.provisioned_path.unwrap_or_default(),
        }
    }))
}

/// `DELETE /api/dashboards/uid/{uid}`: `{title, message, id}`.
async fn delete_dashboard(State(store): State<DashboardStore>, Path(uid): Path<String>) -> Answer {
    let (id, title) = store.call(move |s| s.delete(&uid)).await??.ok_or(DashboardError::NotFound)?;
    ok(json!({"title": title, "message": format!("Dashboard {title} deleted"), "id": id}))
}

/// The query string as (name, value) pairs, repeated names kept.
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect()
}

/// `GET /api/search`: `query`, repeated `tag`, `type`, `folderUIDs`,
/// `dashboardUIDs`, `limit`. Unknown or unparsable values are ignored, as
/// Grafana ignores them.
async fn search(State(store): State<DashboardStore>, RawQuery(raw): RawQuery) -> Answer {
    let mut query = SearchQuery { limit: DEFAULT_SEARCH_LIMIT, ..SearchQuery::default() };
    let list = |value: &str| value.split(',').filter(|v| !v.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    for (name, value) in query_pairs(raw.as_deref()) {
        match name.as_str() {
            "query" => query.query = Some(value),
            "tag" => query.tags.push(value),
            "type" => {
                query.kind = match value.as_str() {
                    "dash-db" => Some(HitKind::Dashboard),
                    "dash-folder" => Some(HitKind::Folder),
                    _ => None,
                }
            }
            "folderUIDs" | "folderUids" => query.folder_uids.extend(list(&value)),
            "dashboardUIDs" | "dashboardUids" => query.dashboard_uids.extend(list(&value)),
            "limit" => {
                query.limit = match value.parse::<usize>() {
                    Ok(0) | Err(_) => DEFAULT_SEARCH_LIMIT,
                    Ok(n) => n.min(MAX_SEARCH_LIMIT),
                }
            }
            _ => {}
        }
    }
    let hits = store.call(move |s| s.search(&query)).await??;
    let items: Vec<Value> = hits
        .into_iter()
        .map(|hit| {
            let (kind, url) = match hit.kind {
                HitKind::Dashboard => ("dash-db", dashboard_url(&hit.uid, &hit.slug)),
                HitKind::Folder => ("dash-folder", folder_url(&hit.uid, &hit.title)),
            };
            let mut item = json!({
                "id": hit.id,
                "uid": hit.uid,
                "title": hit.title,
                "uri": format!("db/{}", hit.slug),
                "url": url,
                "slug": hit.slug,
                "type": kind,
                "tags": hit.tags,
                "isStarred": false,
            });
            // As Grafana: the folder fields are left out for General.
            if let (Some(folder), Some(obj)) = (&hit.folder, item.as_object_mut()) {
                obj.insert("folderId".to_owned(), Value::from(folder.id));
                obj.insert("folderUid".to_owned(), Value::from(folder.uid.clone()));
                obj.insert("folderTitle".to_owned(), Value::from(folder.title.clone()));
                obj.insert("folderUrl".to_owned(), Value::from(folder_url(&folder.uid, &folder.title)));
            }
            item
        })
        .collect();
    ok(Value::Array(items))
}

/// `GET /api/dashboards/tags`: `[{term, count}]`.
async fn tags(State(store): State<DashboardStore>) -> Answer {
    let tags = store.call(|s| s.tags()).await??;
    ok(tags.into_iter().map(|(term, count)| json!({"term": term, "count": count})).collect())
}

fn version_json(v: &VersionInfo) -> Value {
    json!({
        "id": v.id,
        "dashboardId": v.dashboard_id,
        "uid": v.uid,
        "parentVersion": v.parent_version,
        "restoredFrom": v.restored_from,
        "version": v.version,
        "created": time(v.created),
        "createdBy": ANONYMOUS,
        "message": v.message,
    })
}

/// `GET /api/dashboards/uid/{uid}/versions` (`limit`, `start`):
/// `{continueToken, versions}`, newest first, as Grafana 12 answers.
async fn versions(State(store): State<DashboardStore>, Path(uid): Path<String>, RawQuery(raw): RawQuery) -> Answer {
    let (mut limit, mut start) = (DEFAULT_SEARCH_LIMIT, 0);
    for (name, value) in query_pairs(raw.as_deref()) {
        match name.as_str() {
            "limit" => limit = value.parse().ok().filter(|n| *n > 0).unwrap_or(DEFAULT_SEARCH_LIMIT),
            "start" => start = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    let versions = store.call(move |s| s.versions(&uid, limit, start)).await??.ok_or(DashboardError::NotFound)?;
    ok(json!({"continueToken": "", "versions": versions.iter().map(version_json).collect::<Vec<_>>()}))
}

/// `GET /api/dashboards/uid/{uid}/versions/{version}`: the version with its
/// document in `data`.
async fn version(State(store): State<DashboardStore>, Path((uid, version)): Path<(String, String)>) -> Answer {
    let version: i64 = version
        .parse()
        .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, format!("invalid version {version:?}: not an integer")))?;
    let (info, data) = store
        .call(move |s| s.version(&uid, version))
        .await??
        .ok_or(DashboardError::NotFound)?
        .ok_or(DashboardError::VersionNotFound)?;
    let mut answer = version_json(&info);
    if let Some(obj) = answer.as_object_mut() {
        obj.insert("data".to_owned(), data);
    }
    ok(answer)
}

/// `POST /api/dashboards/uid/{uid}/restore` `{version}`: the save answer.
async fn restore(
    State(store): State<DashboardStore>,
    Path(uid): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = json_body(body)?;
    let version = field(&body, "version", "an integer", Value::as_i64)?.ok_or_else(|| {
        Failure::invalid(&ValidationError { path: "version".to_owned(), message: "required".to_owned() })
    })?;
    let saved = store.call(move |s| s.restore(&uid, version)).await??;
    ok(saved_json(&saved))
}

fn folder_json(f: &Folder) -> Value {
    json!({
        "id": f.id,
        "uid": f.uid,
        "title": f.title,
        "url": folder_url(&f.uid, &f.title),
        "hasAcl": false,
        "canSave": true,
        "canEdit": true,
        "canAdmin": true,
        "canDelete": true,
        "createdBy": ANONYMOUS,
        "created": time(f.created),
        "updatedBy": ANONYMOUS,
        "updated": time(f.updated),
        "version": 1,
    })
}

/// `GET /api/folders`: `[{id, uid, title}]`.
async fn folders(State(store): State<DashboardStore>) -> Answer {
    let folders = store.call(|s| s.folders()).await??;
    ok(folders.iter().map(|f| json!({"id": f.id, "uid": f.uid, "title": f.title})).collect())
}

/// `GET /api/folders/{uid}`.
async fn get_folder(State(store): State<DashboardStore>, Path(uid): Path<String>) -> Answer {
    let folder = store
        .call(move |s| s.folder(&uid))
        .await??
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "folder not found"))?;
    ok(folder_json(&folder))
}

/// `POST /api/folders` `{uid?, title}`.
async fn create_folder(State(store): State<DashboardStore>, body: Result<Bytes, BytesRejection>) -> Answer {
    let body = json_body(body)?;
    let uid = field(&body, "uid", "a string", Value::as_str)?.filter(|u| !u.is_empty()).map(str::to_owned);
    let title = field(&body, "title", "a string", Value::as_str)?.unwrap_or_default().to_owned();
    let folder = store.call(move |s| s.create_folder(uid.as_deref(), &title)).await??;
    ok(folder_json(&folder))
}
