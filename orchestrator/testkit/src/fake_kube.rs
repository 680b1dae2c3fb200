//! A stand-in for the Kubernetes API server: a real HTTP server on 127.0.0.1:0 (or any
//! address) speaking the real wire format for what the `kubernetes` executor calls:
//! Jobs (`/apis/batch/v1`), Pods and Secrets (`/api/v1`) in a namespace: create, get,
//! list with `labelSelector`/`fieldSelector`, merge patch, delete with
//! `propagationPolicy`, pod logs, and watches (`?watch=true` or `1`) streaming JSON lines
//! from a `resourceVersion`, answering `410 Expired` for one too old. Errors are
//! `Status` objects with the API server's reasons (`AlreadyExists`, `NotFound`,
//! `Invalid`).
//!
//! It plays the Job controller and the kubelet as far as tests need: a created Job gets
//! a Pending pod from its template, owned by the Job; deleting a Job deletes what it
//! owns. Tests move that pod along (scheduled, running, succeeded, failed, image pull
//! back-off, unschedulable, deadline), cut open watches, and read what was asked.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

/// Events kept for watches that resume from an older resourceVersion, by default.
const HISTORY: usize = 2048;

/// The kinds the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Job,
    Pod,
    Secret,
}

impl Kind {
    fn from_plural(group_path: &str, plural: &str) -> Option<Self> {
        match (group_path, plural) {
            ("apis/batch/v1", "jobs") => Some(Self::Job),
            ("api/v1", "pods") => Some(Self::Pod),
            ("api/v1", "secrets") => Some(Self::Secret),
            _ => None,
        }
    }
    fn api_version(self) -> &'static str {
        match self {
            Self::Job => "batch/v1",
            Self::Pod | Self::Secret => "v1",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::Job => "Job",
            Self::Pod => "Pod",
            Self::Secret => "Secret",
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Self::Job => "jobs",
            Self::Pod => "pods",
            Self::Secret => "secrets",
        }
    }
    fn group(self) -> &'static str {
        match self {
            Self::Job => "batch",
            Self::Pod | Self::Secret => "",
        }
    }
}

/// One request the client made.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Option<Value>,
}

impl Request {
    pub fn is_watch(&self) -> bool {
        matches!(
            self.query.get("watch").map(String::as_str),
            Some("true" | "1")
        )
    }
}

#[derive(Debug, Clone)]
struct Event {
    rv: u64,
    kind: Kind,
    namespace: String,
    type_: &'static str,
    object: Value,
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<(Kind, String, String), Value>,
    rv: u64,
    uid: u64,
    history: VecDeque<Event>,
    requests: Vec<Request>,
    logs: HashMap<String, String>,
    open_watches: usize,
    history_limit: usize,
}

struct Shared {
    inner: Mutex<Inner>,
    live: broadcast::Sender<Event>,
    cut: watch::Sender<u64>,
}

/// The running fake. Dropping it stops the server.
pub struct FakeKube {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: crate::stand_in::Stop,
}

impl FakeKube {
    pub async fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(addr: SocketAddr) -> Self {
        Self::start_with(addr, HISTORY).await
    }

    /// A fake that keeps only `events` past events: a watch resuming from before them
    /// gets `410 Expired`, as from an API server whose watch cache moved on.
    pub async fn start_with_history(events: usize) -> Self {
        Self::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), events).await
    }

    async fn start_with(addr: SocketAddr, history_limit: usize) -> Self {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                history_limit,
                ..Inner::default()
            }),
            live: broadcast::channel(1024).0,
            cut: watch::channel(0).0,
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind fake kube");
        let addr = listener.local_addr().unwrap();
        let stop = crate::stand_in::serve(listener, app);
        Self {
            addr,
            shared,
            _stop: stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap()
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.inner().requests.clone()
    }

    /// An object as stored, if it exists.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.inner()
            .objects
            .get(&(kind, namespace.into(), name.into()))
            .cloned()
    }

    /// Names of the objects of a kind in a namespace.
    pub fn names(&self, kind: Kind, namespace: &str) -> Vec<String> {
        self.inner()
            .objects
            .keys()
            .filter(|(k, ns, _)| *k == kind && ns == namespace)
            .map(|(_, _, name)| name.clone())
            .collect()
    }

    /// Creates an object as a client would (for leftovers a test plants).
    pub fn create(&self, kind: Kind, namespace: &str, object: Value) -> Value {
        create(&self.shared, kind, namespace, object).expect("fake create")
    }

    /// Watches open now.
    pub fn open_watches(&self) -> usize {
        self.inner().open_watches
    }

    /// Ends every open watch stream, as an API server restart or a proxy timeout does.
    pub fn cut_watches(&self) {
        self.shared.cut.send_modify(|g| *g += 1);
    }

    /// The name of the pod the Job controller made for `job`.
    pub fn pod_of(&self, namespace: &str, job: &str) -> Option<String> {
        let inner = self.inner();
        let uid = inner
            .objects
            .get(&(Kind::Job, namespace.into(), job.into()))?
            .pointer("/metadata/uid")?
            .clone();
        inner
            .objects
            .iter()
            .filter(|((k, ns, _), _)| *k == Kind::Pod && ns == namespace)
            .find(|(_, pod)| owned_by(pod, &uid))
            .map(|((_, _, name), _)| name.clone())
    }

    /// Sets what the pod's `worker` container logged.
    pub fn set_log(&self, namespace: &str, job: &str, text: &str) {
        let pod = self.pod_of(namespace, job).expect("job has a pod");
        self.inner().logs.insert(pod, text.into());
    }

    /// The scheduler bound the pod to `node`; its containers are being created.
    pub fn schedule(&self, namespace: &str, job: &str, node: &str) {
        self.update_pod(namespace, job, |pod| {
            pod["spec"]["nodeName"] = json!(node);
            pod["status"] = json!({
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now()}],
                "containerStatuses": [container_status(json!({"waiting": {"reason": "ContainerCreating"}}))],
            });
        });
    }

    /// The worker container started.
    pub fn run(&self, namespace: &str, job: &str) {
        self.update_pod(namespace, job, |pod| {
            pod["status"]["phase"] = json!("Running");
            pod["status"]["startTime"] = json!(now());
            pod["status"]["containerStatuses"] =
                json!([container_status(json!({"running": {"startedAt": now()}}))]);
        });
    }

    /// The worker exited 0; the Job completes.
    pub fn succeed(&self, namespace: &str, job: &str) {
        self.terminate(namespace, job, 0, "Completed");
        self.update_job(namespace, job, |job| {
            job["status"] = json!({
                "succeeded": 1, "active": 0, "completionTime": now(), "startTime": now(),
                "conditions": [
                    condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                    condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
                ],
            });
        });
    }

    /// The worker exited with `code`; the Job fails (backoffLimit 0).
    pub fn fail(&self, namespace: &str, job: &str, code: i32, reason: &str) {
        self.terminate(namespace, job, code, reason);
        self.update_job(namespace, job, |job| {
            job["status"] = json!({
                "failed": 1, "active": 0, "startTime": now(),
                "conditions": [
                    condition("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                    condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                ],
            });
        });
    }

    /// The Job's activeDeadlineSeconds passed: the controller kills the pod.
    pub fn deadline_exceeded(&self, namespace: &str, job: &str) {
        // The controller marks the Job first, then deletes its pod (SIGTERM).
        self.update_job(namespace, job, |job| {
            job["status"] = json!({
                "failed": 1, "active": 0, "startTime": now(),
                "conditions": [condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")],
            });
        });
        self.terminate(namespace, job, 143, "Error");
    }

    /// The kubelet cannot pull the worker's image and backs off.
    pub fn image_pull_back_off(&self, namespace: &str, job: &str, node: &str) {
        self.update_pod(namespace, job, |pod| {
            let image = pod["spec"]["containers"][0]["image"].clone();
            let image = image.as_str().unwrap_or_default().to_string();
            pod["spec"]["nodeName"] = json!(node);
            pod["status"] = json!({
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now()}],
                "containerStatuses": [container_status(json!({"waiting": {
                    "reason": "ImagePullBackOff",
                    "message": format!("Back-off pulling image \"{image}\": ErrImagePull: failed to pull and unpack image \"{image}\": not found"),
                }}))],
            });
        });
    }

    /// No node fits the pod.
    pub fn unschedulable(&self, namespace: &str, job: &str, message: &str) {
        self.update_pod(namespace, job, |pod| {
            pod["status"] = json!({
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": message, "lastTransitionTime": now()}],
            });
        });
    }

    fn terminate(&self, namespace: &str, job: &str, code: i32, reason: &str) {
        self.update_pod(namespace, job, |pod| {
            pod["status"]["phase"] = json!(if code == 0 { "Succeeded" } else { "Failed" });
            pod["status"]["containerStatuses"] = json!([container_status(json!({"terminated": {
                "exitCode": code, "reason": reason, "startedAt": now(), "finishedAt": now(),
            }}))]);
        });
    }

    fn update_pod(&self, namespace: &str, job: &str, change: impl FnOnce(&mut Value)) {
        let pod = self.pod_of(namespace, job).expect("job has a pod");
        update(&self.shared, Kind::Pod, namespace, &pod, change);
    }

    fn update_job(&self, namespace: &str, job: &str, change: impl FnOnce(&mut Value)) {
        update(&self.shared, Kind::Job, namespace, job, change);
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn condition(type_: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": "True", "reason": reason, "message": message,
        "lastProbeTime": now(), "lastTransitionTime": now()})
}

fn container_status(state: Value) -> Value {
    json!({"name": "worker", "image": "", "imageID": "", "ready": false, "restartCount": 0,
        "started": state.get("running").is_some(), "state": state})
}

fn owned_by(object: &Value, uid: &Value) -> bool {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| owners.iter().any(|o| o.get("uid") == Some(uid)))
}

// ---- the store ----

/// Records a change under the lock and sends it to open watches.
fn record(
    shared: &Shared,
    inner: &mut Inner,
    kind: Kind,
    namespace: &str,
    type_: &'static str,
    object: Value,
) {
    let event = Event {
        rv: inner.rv,
        kind,
        namespace: namespace.into(),
        type_,
        object,
    };
    if inner.history.len() >= inner.history_limit {
        inner.history.pop_front();
    }
    inner.history.push_back(event.clone());
    // No watcher subscribed: the history above keeps it.
    shared.live.send(event).ok();
}

fn next_rv(inner: &mut Inner) -> u64 {
    inner.rv += 1;
    inner.rv
}

fn update(
    shared: &Shared,
    kind: Kind,
    namespace: &str,
    name: &str,
    change: impl FnOnce(&mut Value),
) {
    let mut inner = shared.inner.lock().unwrap();
    let rv = next_rv(&mut inner);
    let key = (kind, namespace.to_string(), name.to_string());
    let object = inner.objects.get_mut(&key).expect("object exists");
    change(object);
    object["metadata"]["resourceVersion"] = json!(rv.to_string());
    let object = object.clone();
    record(shared, &mut inner, kind, namespace, "MODIFIED", object);
}

fn create(shared: &Shared, kind: Kind, namespace: &str, mut object: Value) -> Result<Value, Value> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    validate(kind, &name, &object)?;
    let mut inner = shared.inner.lock().unwrap();
    let key = (kind, namespace.to_string(), name.clone());
    if inner.objects.contains_key(&key) {
        return Err(status_body(
            409,
            "AlreadyExists",
            &format!(
                "{}{} \"{name}\" already exists",
                kind.plural(),
                dot_group(kind)
            ),
            kind,
            &name,
        ));
    }
    inner.uid += 1;
    let uid = format!("6f1c{:04x}-0000-4000-8000-{:012x}", kind as u16, inner.uid);
    let rv = next_rv(&mut inner);
    object["apiVersion"] = json!(kind.api_version());
    object["kind"] = json!(kind.name());
    let meta = &mut object["metadata"];
    meta["namespace"] = json!(namespace);
    meta["uid"] = json!(uid);
    meta["resourceVersion"] = json!(rv.to_string());
    meta["creationTimestamp"] = json!(now());
    if kind == Kind::Job {
        object["status"] = json!({"active": 1, "startTime": now()});
        // What the Job controller adds to the template.
        let labels = &mut object["spec"]["template"]["metadata"]["labels"];
        labels["batch.kubernetes.io/job-name"] = json!(name);
        labels["batch.kubernetes.io/controller-uid"] = json!(uid);
    }
    inner.objects.insert(key, object.clone());
    record(shared, &mut inner, kind, namespace, "ADDED", object.clone());
    if kind == Kind::Job {
        let pod = job_pod(&mut inner, &object);
        let rv = next_rv(&mut inner);
        let mut pod = pod;
        pod["metadata"]["resourceVersion"] = json!(rv.to_string());
        let pod_name = pod["metadata"]["name"].as_str().unwrap().to_string();
        inner
            .objects
            .insert((Kind::Pod, namespace.into(), pod_name), pod.clone());
        record(shared, &mut inner, Kind::Pod, namespace, "ADDED", pod);
    }
    Ok(object)
}

/// The pod the Job controller makes from a Job's template.
fn job_pod(inner: &mut Inner, job: &Value) -> Value {
    inner.uid += 1;
    let suffix: String = (0..5)
        .map(|i| (b'a' + ((inner.uid * 7 + i * 3) % 26) as u8) as char)
        .collect();
    let job_name = job["metadata"]["name"].as_str().unwrap();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{job_name}-{suffix}"),
            "namespace": job["metadata"]["namespace"],
            "uid": format!("6f1cpod0-0000-4000-8000-{:012x}", inner.uid),
            "creationTimestamp": now(),
            "labels": job["spec"]["template"]["metadata"]["labels"],
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                "uid": job["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": job["spec"]["template"]["spec"],
        "status": {"phase": "Pending", "qosClass": "Guaranteed"},
    })
}

fn dot_group(kind: Kind) -> String {
    if kind.group().is_empty() {
        String::new()
    } else {
        format!(".{}", kind.group())
    }
}

/// What the API server's validation would refuse, for the fields the executor sets.
fn validate(kind: Kind, name: &str, object: &Value) -> Result<(), Value> {
    let invalid = |field: &str, detail: &str| {
        let message = format!(
            "{}{} \"{name}\" is invalid: {field}: {detail}",
            kind.name(),
            dot_group(kind)
        );
        let mut body = status_body(422, "Invalid", &message, kind, name);
        body["details"]["causes"] =
            json!([{"reason": "FieldValueInvalid", "message": detail, "field": field}]);
        Err(body)
    };
    let dns = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    if !dns(name) {
        return invalid(
            "metadata.name",
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
        );
    }
    match kind {
        Kind::Job => {
            let pod = &object["spec"]["template"]["spec"];
            match pod["restartPolicy"].as_str() {
                Some("Never" | "OnFailure") => {}
                _ => {
                    return invalid(
                        "spec.template.spec.restartPolicy",
                        "Required value: valid values: \"OnFailure\", \"Never\"",
                    );
                }
            }
            let containers = pod["containers"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if containers.is_empty() {
                return invalid("spec.template.spec.containers", "Required value");
            }
            for (i, c) in containers.iter().enumerate() {
                if c["image"].as_str().unwrap_or_default().is_empty() {
                    return invalid(
                        &format!("spec.template.spec.containers[{i}].image"),
                        "Required value",
                    );
                }
            }
            if object["spec"]["backoffLimit"]
                .as_i64()
                .is_some_and(|b| b < 0)
            {
                return invalid("spec.backoffLimit", "must be greater than or equal to 0");
            }
        }
        Kind::Secret => {
            use base64::Engine as _;
            if let Some(data) = object["data"].as_object() {
                for (key, value) in data {
                    let decoded = value
                        .as_str()
                        .map(|v| base64::engine::general_purpose::STANDARD.decode(v));
                    if !matches!(decoded, Some(Ok(_))) {
                        return invalid(&format!("data[{key}]"), "illegal base64 data");
                    }
                }
            }
        }
        Kind::Pod => {}
    }
    Ok(())
}

fn status_body(code: u16, reason: &str, message: &str, kind: Kind, name: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason,
        "details": {"name": name, "group": kind.group(), "kind": kind.plural()},
        "code": code,
    })
}

fn status(code: u16, reason: &str, message: &str, kind: Kind, name: &str) -> Response {
    failure(status_body(code, reason, message, kind, name))
}

/// A `Status` body answered with its own code.
fn failure(body: Value) -> Response {
    let code = body["code"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(500);
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

fn not_found(kind: Kind, name: &str) -> Response {
    status(
        404,
        "NotFound",
        &format!("{}{} \"{name}\" not found", kind.plural(), dot_group(kind)),
        kind,
        name,
    )
}

fn delete(shared: &Shared, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
    let mut inner = shared.inner.lock().unwrap();
    let mut removed = inner
        .objects
        .remove(&(kind, namespace.into(), name.into()))?;
    let rv = next_rv(&mut inner);
    removed["metadata"]["resourceVersion"] = json!(rv.to_string());
    record(
        shared,
        &mut inner,
        kind,
        namespace,
        "DELETED",
        removed.clone(),
    );
    Some(removed)
}

/// The garbage collector: what `owner` owned goes too.
fn collect_dependents(shared: &Shared, namespace: &str, owner: &Value) {
    let uid = owner["metadata"]["uid"].clone();
    let dependents: Vec<(Kind, String)> = shared
        .inner
        .lock()
        .unwrap()
        .objects
        .iter()
        .filter(|((_, ns, _), o)| ns == namespace && owned_by(o, &uid))
        .map(|((k, _, n), _)| (*k, n.clone()))
        .collect();
    for (kind, name) in dependents {
        delete(shared, kind, namespace, &name);
    }
}

// ---- selectors ----

fn matches(object: &Value, query: &BTreeMap<String, String>) -> bool {
    let labels = object.pointer("/metadata/labels");
    let label_ok = query.get("labelSelector").is_none_or(|sel| {
        sel.split(',').filter(|t| !t.is_empty()).all(|term| {
            let (key, want, equal) = match term.split_once("!=") {
                Some((k, v)) => (k, v, false),
                None => match term.split_once("==").or_else(|| term.split_once('=')) {
                    Some((k, v)) => (k, v, true),
                    None => return labels.and_then(|l| l.get(term)).is_some(),
                },
            };
            let have = labels.and_then(|l| l.get(key)).and_then(Value::as_str);
            (have == Some(want)) == equal
        })
    });
    let field_ok = query.get("fieldSelector").is_none_or(|sel| {
        sel.split(',')
            .filter(|t| !t.is_empty())
            .all(|term| match term.split_once('=') {
                Some(("metadata.name", v)) => {
                    object.pointer("/metadata/name").and_then(Value::as_str) == Some(v)
                }
                Some(("metadata.namespace", v)) => {
                    object
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        == Some(v)
                }
                _ => false,
            })
    });
    label_ok && field_ok
}

// ---- HTTP ----

/// A parsed path: `/api/v1/namespaces/{ns}/{plural}[/{name}[/{sub}]]`.
struct Target {
    kind: Kind,
    namespace: String,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let rest = path.strip_prefix('/')?;
    let (group, rest) = if let Some(r) = rest.strip_prefix("api/v1/") {
        ("api/v1", r)
    } else if let Some(r) = rest.strip_prefix("apis/batch/v1/") {
        ("apis/batch/v1", r)
    } else {
        return None;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["namespaces", ns, plural, tail @ ..] if tail.len() <= 2 => Some(Target {
            kind: Kind::from_plural(group, plural)?,
            namespace: (*ns).into(),
            name: tail.first().map(|s| (*s).to_string()),
            sub: tail.get(1).map(|s| (*s).to_string()),
        }),
        _ => None,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: BTreeMap<String, String> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    shared.inner.lock().unwrap().requests.push(Request {
        method: method.to_string(),
        path: uri.path().into(),
        query: query.clone(),
        body: json_body.clone(),
    });
    let Some(target) = parse_path(uri.path()) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "the server could not find the requested resource", "reason": "NotFound", "code": 404})),
        )
            .into_response();
    };
    let Target {
        kind,
        namespace,
        name,
        sub,
    } = target;
    match (method, name, sub) {
        (Method::GET, None, None)
            if matches!(query.get("watch").map(String::as_str), Some("true" | "1")) =>
        {
            watch_response(shared, kind, namespace, query)
        }
        (Method::GET, None, None) => list(&shared, kind, &namespace, &query),
        (Method::POST, None, None) => match json_body {
            Some(object) => match create(&shared, kind, &namespace, object) {
                Ok(created) => (StatusCode::CREATED, axum::Json(created)).into_response(),
                Err(body) => failure(body),
            },
            None => bad_request("the body is not a JSON object"),
        },
        (Method::GET, Some(name), None) => {
            match shared
                .inner
                .lock()
                .unwrap()
                .objects
                .get(&(kind, namespace, name.clone()))
            {
                Some(object) => axum::Json(object.clone()).into_response(),
                None => not_found(kind, &name),
            }
        }
        (Method::PATCH, Some(name), None) => {
            patch(&shared, kind, &namespace, &name, &headers, json_body)
        }
        (Method::DELETE, Some(name), None) => {
            let policy = json_body
                .as_ref()
                .and_then(|b| b.get("propagationPolicy"))
                .and_then(Value::as_str)
                .or_else(|| query.get("propagationPolicy").map(String::as_str))
                .unwrap_or("Background")
                .to_string();
            match delete(&shared, kind, &namespace, &name) {
                Some(removed) => {
                    if policy != "Orphan" {
                        collect_dependents(&shared, &namespace, &removed);
                    }
                    axum::Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {"name": name, "group": kind.group(), "kind": kind.plural(),
                            "uid": removed["metadata"]["uid"]}}))
                    .into_response()
                }
                None => not_found(kind, &name),
            }
        }
        (Method::GET, Some(name), Some(sub)) if kind == Kind::Pod && sub == "log" => {
            pod_log(&shared, &namespace, &name, &query)
        }
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            axum::Json(
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "the server does not allow this method on the requested resource",
                "reason": "MethodNotAllowed", "code": 405}),
            ),
        )
            .into_response(),
    }
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": "BadRequest", "code": 400}),
        ),
    )
        .into_response()
}

fn list(
    shared: &Shared,
    kind: Kind,
    namespace: &str,
    query: &BTreeMap<String, String>,
) -> Response {
    let inner = shared.inner.lock().unwrap();
    let items: Vec<Value> = inner
        .objects
        .iter()
        .filter(|((k, ns, _), o)| *k == kind && ns == namespace && matches(o, query))
        .map(|(_, o)| {
            // Items of a list carry no kind or apiVersion on the wire.
            let mut o = o.clone();
            if let Some(map) = o.as_object_mut() {
                map.remove("kind");
                map.remove("apiVersion");
            }
            o
        })
        .collect();
    axum::Json(json!({
        "kind": format!("{}List", kind.name()), "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": inner.rv.to_string()},
        "items": items,
    }))
    .into_response()
}

fn patch(
    shared: &Shared,
    kind: Kind,
    namespace: &str,
    name: &str,
    headers: &HeaderMap,
    body: Option<Value>,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/merge-patch+json" {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            axum::Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("the body of the request was in an unknown format - accepted media types include: application/merge-patch+json (got {content_type:?})"),
                "reason": "UnsupportedMediaType", "code": 415})),
        )
            .into_response();
    }
    let Some(patch) = body else {
        return bad_request("the body is not JSON");
    };
    let key = (kind, namespace.to_string(), name.to_string());
    let Some(current) = shared.inner.lock().unwrap().objects.get(&key).cloned() else {
        return not_found(kind, name);
    };
    let mut next = current.clone();
    merge_patch(&mut next, &patch);
    if kind == Kind::Secret
        && current["immutable"] == json!(true)
        && next["data"] != current["data"]
    {
        let message = format!(
            "Secret \"{name}\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
        );
        return status(422, "Invalid", &message, kind, name);
    }
    let mut result = Value::Null;
    update(shared, kind, namespace, name, |object| {
        *object = next;
        result = object.clone();
    });
    let stored = shared.inner.lock().unwrap().objects.get(&key).cloned();
    axum::Json(stored.unwrap_or(result)).into_response()
}

/// RFC 7386.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            let map = target.as_object_mut().unwrap();
            for (key, value) in fields {
                if value.is_null() {
                    map.remove(key);
                } else {
                    merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn pod_log(
    shared: &Shared,
    namespace: &str,
    name: &str,
    query: &BTreeMap<String, String>,
) -> Response {
    let inner = shared.inner.lock().unwrap();
    let Some(pod) = inner
        .objects
        .get(&(Kind::Pod, namespace.into(), name.into()))
    else {
        return not_found(Kind::Pod, name);
    };
    let container = query
        .get("container")
        .cloned()
        .unwrap_or_else(|| "worker".into());
    if pod["status"]["phase"] == json!("Pending") {
        return bad_request(&format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        ));
    }
    let text = inner.logs.get(name).cloned().unwrap_or_default();
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(tail) = query.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        lines = lines.split_off(lines.len().saturating_sub(tail));
    }
    let mut out = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    if let Some(limit) = query
        .get("limitBytes")
        .and_then(|t| t.parse::<usize>().ok())
    {
        out.truncate(limit);
    }
    ([(header::CONTENT_TYPE, "text/plain")], out).into_response()
}

fn watch_line(type_: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap();
    line.push(b'\n');
    Bytes::from(line)
}

fn watch_response(
    shared: Arc<Shared>,
    kind: Kind,
    namespace: String,
    query: BTreeMap<String, String>,
) -> Response {
    let from = query.get("resourceVersion").cloned().unwrap_or_default();
    let mut cut = shared.cut.subscribe();
    cut.mark_unchanged();
    // Subscribe and snapshot under one lock, so no event falls between them.
    let (replay, live) = {
        let mut inner = shared.inner.lock().unwrap();
        let live = shared.live.subscribe();
        let replay: Result<Vec<Bytes>, Bytes> = if from.is_empty() || from == "0" {
            Ok(inner
                .objects
                .iter()
                .filter(|((k, ns, _), o)| *k == kind && *ns == namespace && matches(o, &query))
                .map(|(_, o)| watch_line("ADDED", o))
                .collect())
        } else {
            let from: u64 = from.parse().unwrap_or(0);
            let oldest = inner.history.front().map_or(inner.rv + 1, |e| e.rv);
            if from + 1 < oldest {
                Err(watch_line(
                    "ERROR",
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": format!("too old resource version: {from} ({})", oldest - 1),
                        "reason": "Expired", "code": 410}),
                ))
            } else {
                Ok(inner
                    .history
                    .iter()
                    .filter(|e| {
                        e.rv > from
                            && e.kind == kind
                            && e.namespace == namespace
                            && matches(&e.object, &query)
                    })
                    .map(|e| watch_line(e.type_, &e.object))
                    .collect())
            }
        };
        inner.open_watches += 1;
        (replay, live)
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(64);
    tokio::spawn(async move {
        let _open = OpenWatch(shared.clone());
        let replay = match replay {
            Ok(lines) => lines,
            Err(gone) => {
                // The client hung up: nobody to tell.
                tx.send(Ok(gone)).await.ok();
                return;
            }
        };
        for line in replay {
            if tx.send(Ok(line)).await.is_err() {
                return;
            }
        }
        let mut live = live;
        loop {
            tokio::select! {
                // A cut wins over events sent after it.
                biased;
                _ = cut.changed() => return,
                event = live.recv() => match event {
                    Ok(e) if e.kind == kind && e.namespace == namespace && matches(&e.object, &query) => {
                        if tx.send(Ok(watch_line(e.type_, &e.object))).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // A watcher too slow for the server is dropped, as the API server does.
                    Err(_) => return,
                },
                () = tx.closed() => return,
            }
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Counts a watch as open while its task runs.
struct OpenWatch(Arc<Shared>);

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.inner.lock().unwrap().open_watches -= 1;
    }
}
