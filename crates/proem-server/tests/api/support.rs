//! Assertions shared by the API tests.

use serde_json::Value;

/// Asserts `response` is a problem document with `code` and returns its body.
pub async fn expect_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status for {code}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason_code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["request_id"], header_id.as_str());
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/problems/{code}"))
    );
    assert!(!body["title"].as_str().unwrap().is_empty());
    assert!(!body["action_hint"].as_str().unwrap().is_empty());
    body
}
