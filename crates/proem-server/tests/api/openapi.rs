//! The OpenAPI document (`GET /openapi.json`) and the reference page (`GET /docs`): both open,
//! OpenAPI 3.1, and describing exactly the routes the router serves. The route-table tests are
//! what keep a document generated from annotations honest: a route without an annotation, or an
//! annotation without a route, fails here.

use std::collections::HashSet;

use proem_server::{Access, ROUTES};
use proem_testkit::TestServer;
use serde_json::Value;

/// The routes outside `/api`, which need no key.
const OPEN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/problems/{reason_code}"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

async fn document(server: &TestServer) -> Value {
    let response = server
        .http
        .get(server.at("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Every operation of the document as (METHOD, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                out.push((method.to_ascii_uppercase(), path.clone(), op));
            }
        }
    }
    out
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    doc["paths"]
        .get(path)
        .and_then(|item| item.get(method.to_ascii_lowercase()))
}

#[tokio::test]
async fn openapi_json_is_served_without_a_key_and_is_openapi_3_1() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(server.at("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Proem API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(!doc["info"]["description"].as_str().unwrap().is_empty());
    assert_eq!(doc["servers"][0]["url"], "/");

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["type"], "apiKey");
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
}

#[tokio::test]
async fn every_route_in_the_route_table_is_in_the_openapi_document() {
    let server = TestServer::start().await;
    let doc = document(&server).await;

    let missing: Vec<String> = ROUTES
        .iter()
        .filter(|r| operation(&doc, r.method.as_str(), &format!("/api{}", r.path)).is_none())
        .map(|r| format!("{r:?}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a #[utoipa::path] listed in http/openapi.rs:\n{}",
        missing.join("\n")
    );
    for route in ROUTES {
        let path = format!("/api{}", route.path);
        let op = operation(&doc, route.method.as_str(), &path).unwrap();
        let access = &op["x-proem-access"];
        match route.access {
            Access::Key(permission) => {
                assert_eq!(access["kind"], "key", "{route:?}");
                assert_eq!(access["scope"], permission.scope().as_str(), "{route:?}");
                assert_eq!(access["resourceScope"], permission.resource_scope());
                let schemes: Vec<&str> = op["security"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{route:?} has no security"))
                    .iter()
                    .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
                    .collect();
                assert_eq!(schemes, ["api_key", "bearer"], "{route:?}");
                assert!(op["responses"]["401"].is_object(), "{route:?}");
            }
            Access::SessionOnly => assert_eq!(access["kind"], "session", "{route:?}"),
        }
    }
    for (method, path) in OPEN_ROUTES {
        let op = operation(&doc, method, path)
            .unwrap_or_else(|| panic!("{method} {path} is not in /openapi.json"));
        assert!(op.get("security").is_none(), "{method} {path} is open");
        assert_eq!(op["x-proem-access"]["kind"], "open");
    }
}

#[tokio::test]
async fn every_openapi_operation_is_a_real_route() {
    let server = TestServer::start().await;
    let doc = document(&server).await;

    for (method, path, _) in operations(&doc) {
        if let Some(api_path) = path.strip_prefix("/api") {
            assert!(
                ROUTES
                    .iter()
                    .any(|r| r.method.as_str() == method && r.path == api_path),
                "{method} {path} is documented but not in the route table"
            );
            continue;
        }
        assert!(
            OPEN_ROUTES.contains(&(method.as_str(), path.as_str())),
            "{method} {path} is documented but is neither an API nor a known open route"
        );
        // And the router really answers it, without a key.
        let url = server.at(&path.replace("{reason_code}", "key_unauthorized"));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = server
            .http
            .request(method.clone(), url)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{method} {path} answered {}",
            response.status()
        );
    }
}

#[tokio::test]
async fn every_operation_has_a_unique_operation_id() {
    let server = TestServer::start().await;
    let doc = document(&server).await;

    let mut seen = HashSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(!id.is_empty(), "{method} {path}");
        assert!(seen.insert(id.to_owned()), "operationId {id} is used twice");
    }
    // Handler names are the operation ids (STYLE.md).
    for id in [
        "list_prompts",
        "create_version",
        "patch_version",
        "upload_attachment",
    ] {
        assert!(seen.contains(id), "{id}");
    }
}

#[tokio::test]
async fn every_error_response_names_reason_codes_answered_with_its_status() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let examples = doc["components"]["examples"].as_object().unwrap();

    for (method, path, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let Some(problem) = response["content"].get("application/problem+json") else {
                assert!(
                    status.starts_with('2'),
                    "{method} {path} {status} is an error that is not a problem document"
                );
                continue;
            };
            assert_eq!(
                problem["schema"]["$ref"], "#/components/schemas/Problem",
                "{method} {path} {status}"
            );
            let codes = problem["examples"].as_object().unwrap();
            assert!(
                !codes.is_empty(),
                "{method} {path} {status} names no reason code"
            );
            for (code, reference) in codes {
                assert_eq!(
                    reference["$ref"],
                    format!("#/components/examples/{code}").as_str()
                );
                let example = &examples[code]["value"];
                assert_eq!(example["reason_code"], code.as_str());
                assert_eq!(
                    example["status"].to_string(),
                    *status,
                    "{method} {path} lists {code} under {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_schema_reference_resolves() {
    let server = TestServer::start().await;
    let doc = document(&server).await;

    fn walk<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r);
                }
                map.values().for_each(|v| walk(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

#[tokio::test]
async fn docs_page_is_served_from_the_binary_without_external_urls() {
    let server = TestServer::start().await;
    let response = server.http.get(server.at("/docs")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = response.text().await.unwrap();
    assert!(
        html.contains("/openapi.json"),
        "the page renders the document"
    );

    // No script, style, font or link from another host: every src/href is same-origin.
    for attribute in ["src=", "href="] {
        for rest in html.split(attribute).skip(1) {
            let value = rest.trim_start_matches(['"', '\'']);
            assert!(
                !value.starts_with("http:")
                    && !value.starts_with("https:")
                    && !value.starts_with("//"),
                "{attribute}{}",
                &value[..value.len().min(60)]
            );
        }
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("@import"));
}
