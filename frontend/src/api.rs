//! All of the app's HTTP, with `gloo-net`: the Prometheus API, Grafana's
//! dashboard API as Vigil serves it, and Vigil's streaming query batch.
//!
//! Answers are decoded into `vigil_shared` types, the same ones the server
//! encodes, and every failure (network, HTTP, JSON, API error) becomes a
//! message for the user, never a panic.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use vigil_shared::model::api::{ApiResponse, QueryData, TargetsData};
use wasm_bindgen::JsCast;

/// Percent-encodes a query parameter value.
pub fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}

/// `GET url` decoded as JSON of any shape.
pub async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    let response = gloo_net::http::Request::get(url).send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("HTTP {status}: cannot read the answer: {e}"))?;
    if !(200..300).contains(&status) {
        // Grafana's API answers `{"message": …}`, Prometheus's `{"error": …}`.
        let json: Option<Json> = serde_json::from_str(&text).ok();
        let message = json
            .as_ref()
            .and_then(|j| j.get("message").or_else(|| j.get("error")))
            .and_then(Json::as_str)
            .map_or_else(|| text.trim().to_owned(), str::to_owned);
        return Err(format!("HTTP {status}: {message}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("the answer of {url} is not the expected JSON: {e}"))
}

/// `GET url` of the Prometheus API: the `data` of a success, or its error.
pub async fn prometheus<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    let response = gloo_net::http::Request::get(url).send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    // Prometheus answers errors with a JSON body too; read it whatever the status.
    let body: ApiResponse<T> =
        response.json().await.map_err(|e| format!("HTTP {status}: the answer is not Prometheus API JSON ({e})"))?;
    into_result(body)
}

fn into_result<T>(body: ApiResponse<T>) -> Result<T, String> {
    match body {
        ApiResponse::Success { data, .. } => Ok(data),
        ApiResponse::Error { error_type, error } => {
            let kind = serde_json::to_value(error_type).ok().and_then(|v| v.as_str().map(str::to_owned));
            Err(format!("{error} ({})", kind.unwrap_or_default()))
        }
    }
}

/// One hit of Grafana's `/api/search`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub url: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub folder_uid: Option<String>,
    #[serde(default)]
    pub folder_title: Option<String>,
}

/// Every dashboard and folder; the list page filters in the browser, so
/// typing never waits on the network.
pub async fn search() -> Result<Vec<SearchHit>, String> {
    get_json("/api/search?limit=5000").await
}

/// `GET /api/dashboards/uid/:uid`: Grafana's `{dashboard, meta}`.
pub async fn dashboard(uid: &str) -> Result<Json, String> {
    get_json(&format!("/api/dashboards/uid/{}", encode(uid))).await
}

/// What `POST /api/dashboards/db` and `…/restore` answer on success.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Saved {
    #[serde(default)]
    pub id: Option<i64>,
    pub uid: String,
    #[serde(default)]
    pub url: String,
    pub version: i64,
}

/// A refused save: the HTTP status (412 for Grafana's `version-mismatch`
/// and `name-exists`) and the server's message.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveError {
    pub status: u16,
    /// Grafana's `status` field (`version-mismatch`, `name-exists`).
    pub kind: Option<String>,
    pub message: String,
}

/// `POST url` with a JSON body, decoding Grafana's `{message, status}`
/// failures.
async fn post_grafana<T: DeserializeOwned>(url: &str, body: &Json) -> Result<T, SaveError> {
    let failure = |message: String| SaveError { status: 0, kind: None, message };
    let request = gloo_net::http::Request::post(url).json(body).map_err(|e| failure(format!("cannot encode: {e}")))?;
    let response = request.send().await.map_err(|e| failure(format!("request failed: {e}")))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| failure(format!("HTTP {status}: cannot read the answer: {e}")))?;
    let json: Option<Json> = serde_json::from_str(&text).ok();
    if !(200..300).contains(&status) {
        let field = |name: &str| json.as_ref().and_then(|j| j.get(name)).and_then(Json::as_str).map(str::to_owned);
        return Err(SaveError {
            status,
            kind: field("status"),
            message: field("message").unwrap_or_else(|| format!("HTTP {status}: {}", text.trim())),
        });
    }
    let json = json.ok_or_else(|| failure(format!("the answer of {url} is not JSON")))?;
    serde_json::from_value(json).map_err(|e| failure(format!("the answer of {url} is not the expected JSON: {e}")))
}

/// `POST /api/dashboards/db`: saves `dashboard` (never overwriting: a save
/// based on an old version is refused with 412), into `folder_uid` when
/// given (else where it is).
pub async fn save_dashboard(
    dashboard: &vigil_shared::dashboard::Dashboard,
    folder_uid: Option<&str>,
    message: &str,
) -> Result<Saved, SaveError> {
    let mut body = serde_json::json!({"dashboard": dashboard, "overwrite": false, "message": message});
    if let (Some(folder), Some(obj)) = (folder_uid, body.as_object_mut()) {
        obj.insert("folderUid".to_owned(), Json::from(folder));
    }
    post_grafana("/api/dashboards/db", &body).await
}

/// One entry of `GET /api/dashboards/uid/:uid/versions`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct VersionInfo {
    pub version: i64,
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "restoredFrom")]
    pub restored_from: i64,
}

#[derive(serde::Deserialize)]
struct Versions {
    versions: Vec<VersionInfo>,
}

/// A dashboard's saved versions, newest first.
pub async fn versions(uid: &str) -> Result<Vec<VersionInfo>, String> {
    let answer: Versions = get_json(&format!("/api/dashboards/uid/{}/versions?limit=100", encode(uid))).await?;
    Ok(answer.versions)
}

/// `POST /api/dashboards/uid/:uid/restore`: a new version with the old
/// one's content.
pub async fn restore_version(uid: &str, version: i64) -> Result<Saved, SaveError> {
    post_grafana(&format!("/api/dashboards/uid/{}/restore", encode(uid)), &serde_json::json!({"version": version}))
        .await
}

/// One folder of `GET /api/folders`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Folder {
    pub uid: String,
    #[serde(default)]
    pub title: String,
}

/// Every folder, for the folder pickers of the settings and the import.
pub async fn folders() -> Result<Vec<Folder>, String> {
    get_json("/api/folders").await
}

/// `POST /api/dashboards/db` for an import: a new dashboard (no `id`) into
/// `folder_uid` (`""` for General); `overwrite` replaces a dashboard with
/// the same uid or the same title in that folder instead of refusing with
/// 412 `name-exists`.
pub async fn import_dashboard(
    dashboard: &vigil_shared::dashboard::Dashboard,
    folder_uid: &str,
    overwrite: bool,
) -> Result<Saved, SaveError> {
    let body = serde_json::json!({
        "dashboard": dashboard,
        "folderUid": folder_uid,
        "overwrite": overwrite,
        "message": "imported",
    });
    post_grafana("/api/dashboards/db", &body).await
}

pub async fn targets() -> Result<TargetsData, String> {
    prometheus("/api/v1/targets").await
}

pub async fn rules() -> Result<Json, String> {
    prometheus("/api/v1/rules").await
}

pub async fn alerts() -> Result<Json, String> {
    prometheus("/api/v1/alerts").await
}

/// Values of `label`, optionally only on series matching `matcher`, within
/// the range (seconds).
pub async fn label_values(label: &str, matcher: Option<&str>, start: i64, end: i64) -> Result<Vec<String>, String> {
    let mut url = format!("/api/v1/label/{}/values?start={start}&end={end}", encode(label));
    if let Some(m) = matcher {
        url.push_str(&format!("&match[]={}", encode(m)));
    }
    prometheus(&url).await
}

/// The label sets of the series matching `matcher` within the range.
pub async fn series(matcher: &str, start: i64, end: i64) -> Result<Vec<vigil_shared::model::labels::Labels>, String> {
    prometheus(&format!("/api/v1/series?match[]={}&start={start}&end={end}", encode(matcher))).await
}

pub async fn label_names(start: i64, end: i64) -> Result<Vec<String>, String> {
    prometheus(&format!("/api/v1/labels?start={start}&end={end}")).await
}

/// An instant query at `time` (seconds).
pub async fn instant_query(expr: &str, time: i64) -> Result<QueryData, String> {
    prometheus(&format!("/api/v1/query?query={}&time={time}", encode(expr))).await
}

/// The server's global scrape interval (Grafana's data source "scrape
/// interval"), read from `/api/v1/status/config`; the minimum step and the
/// base of `$__rate_interval`.
pub async fn scrape_interval_ms() -> Option<i64> {
    let config: Json = prometheus("/api/v1/status/config").await.ok()?;
    global_scrape_interval(config.get("yaml")?.as_str()?)
}

/// `global.scrape_interval` from the YAML Vigil prints (the one shape it
/// writes: two-space indents, one key per line).
pub fn global_scrape_interval(yaml: &str) -> Option<i64> {
    let mut in_global = false;
    for line in yaml.lines() {
        if !line.starts_with(' ') {
            in_global = line.trim_end() == "global:";
            continue;
        }
        if in_global && let Some(value) = line.trim().strip_prefix("scrape_interval:") {
            return vigil_shared::promql::lexer::parse_duration_ms(value.trim());
        }
    }
    None
}

/// One query of a batch: a range query or, without `step`, an instant one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchQuery {
    pub id: String,
    pub query: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
}

/// One line of the batch answer.
#[derive(Debug, serde::Deserialize)]
struct BatchLine {
    id: String,
    response: ApiResponse<QueryData>,
}

/// Splits a byte stream into lines, whatever the chunk boundaries.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// The complete lines `chunk` finishes; the rest waits for more.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        self.partial.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).take(end).collect();
            if !line.iter().all(u8::is_ascii_whitespace) {
                lines.push(line);
            }
        }
        lines
    }

    /// What is left at the end of the stream.
    pub fn finish(self) -> Option<Vec<u8>> {
        Some(self.partial).filter(|p| !p.iter().all(u8::is_ascii_whitespace))
    }
}

/// `POST /api/v1/query_batch`: sends every query at once and calls
/// `on_answer` for each as its line arrives (completion order), so panels
/// draw as their data comes. Aborting `signal` cancels the request and the
/// server's queued queries with it.
pub async fn query_batch(
    queries: &[BatchQuery],
    signal: &web_sys::AbortSignal,
    mut on_answer: impl FnMut(String, Result<QueryData, String>),
) -> Result<(), String> {
    let request = gloo_net::http::Request::post("/api/v1/query_batch")
        .abort_signal(Some(signal))
        .json(queries)
        .map_err(|e| format!("cannot encode the queries: {e}"))?;
    let response = request.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    if status != 200 {
        let body: Result<ApiResponse<QueryData>, _> = response.json().await;
        return Err(match body {
            Ok(body) => into_result(body).err().unwrap_or_else(|| format!("HTTP {status}")),
            Err(e) => format!("HTTP {status}: {e}"),
        });
    }
    let body = response.body().ok_or_else(|| "the answer has no body".to_owned())?;
    let reader: web_sys::ReadableStreamDefaultReader =
        body.get_reader().dyn_into().map_err(|_| "the answer body cannot be read as a stream".to_owned())?;
    let mut splitter = LineSplitter::default();
    let mut handle = |line: &[u8]| match serde_json::from_slice::<BatchLine>(line) {
        Ok(line) => on_answer(line.id, into_result(line.response)),
        Err(e) => web_sys::console::warn_1(&format!("query_batch: an unreadable line: {e}").into()),
    };
    loop {
        let chunk = wasm_bindgen_futures::JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("the answer stream failed: {}", js_message(&e)))?;
        let chunk: web_sys::ReadableStreamReadResult = chunk.unchecked_into();
        if chunk.get_done().unwrap_or(true) {
            break;
        }
        let bytes = js_sys::Uint8Array::new(&chunk.get_value()).to_vec();
        for line in splitter.push(&bytes) {
            handle(&line);
        }
    }
    if let Some(line) = splitter.finish() {
        handle(&line);
    }
    Ok(())
}

/// The message of a JavaScript error value.
pub fn js_message(value: &wasm_bindgen::JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn lines_survive_any_chunking() {
        let stream = b"{\"a\":1}\n{\"b\":2}\n\n{\"c\":3}";
        for chunk_size in 1..stream.len() {
            let mut splitter = LineSplitter::default();
            let mut lines = Vec::new();
            for chunk in stream.chunks(chunk_size) {
                lines.extend(splitter.push(chunk));
            }
            lines.extend(splitter.finish());
            let want: Vec<Vec<u8>> = vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec(), b"{\"c\":3}".to_vec()];
            assert_eq!(lines, want, "chunks of {chunk_size}");
        }
    }

    #[wasm_bindgen_test]
    fn global_scrape_interval_is_read_from_the_config() {
        let cases = [
            ("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs: []\n", Some(1000)),
            ("global:\n  scrape_timeout: 10s\n  scrape_interval: 1m\n", Some(60_000)),
            ("scrape_configs:\n  - scrape_interval: 5s\n", None),
        ];
        for (yaml, want) in cases {
            assert_eq!(global_scrape_interval(yaml), want, "{yaml}");
        }
    }
}
