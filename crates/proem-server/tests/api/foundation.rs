//! Open routes, problem documents, request ids, metrics, shutdown.

use proem_api::ReasonCode;
use proem_testkit::TestServer;

use super::support::expect_problem;

#[tokio::test]
async fn healthz_and_readyz_answer_200_without_a_key() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/readyz"] {
        let r = server.http.get(server.at(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .starts_with("req_")
        );
    }
}

#[tokio::test]
async fn readyz_answers_503_service_unavailable_when_the_database_is_gone() {
    let server = TestServer::start().await;
    server.state.store().close().await;
    let r = server.http.get(server.at("/readyz")).send().await.unwrap();
    expect_problem(r, 503, "service_unavailable").await;
}

#[tokio::test]
async fn api_request_without_a_key_is_key_unauthorized_with_the_request_id() {
    let server = TestServer::start().await;
    let r = server
        .http
        .get(server.at("/api/v2/public/prompts"))
        .send()
        .await
        .unwrap();
    let body = expect_problem(r, 401, "key_unauthorized").await;
    assert_eq!(body["type"], server.at("/problems/key_unauthorized"));
}

#[tokio::test]
async fn every_request_gets_a_distinct_request_id() {
    let server = TestServer::start().await;
    let mut ids = std::collections::HashSet::new();
    for _ in 0..5 {
        let r = server.http.get(server.at("/healthz")).send().await.unwrap();
        ids.insert(r.headers()["x-request-id"].to_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn problem_page_exists_for_every_reason_code() {
    let server = TestServer::start().await;
    for code in ReasonCode::ALL {
        let r = server
            .http
            .get(server.at(&format!("/problems/{code}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{code}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = r.text().await.unwrap();
        assert!(page.contains(code.as_str()));
        assert!(page.contains(&code.status().to_string()));
    }
}

#[tokio::test]
async fn problem_page_for_an_unknown_code_is_route_not_found() {
    let server = TestServer::start().await;
    let r = server
        .http
        .get(server.at("/problems/no_such_code"))
        .send()
        .await
        .unwrap();
    expect_problem(r, 404, "route_not_found").await;
}

#[tokio::test]
async fn unknown_open_route_is_route_not_found_problem() {
    let server = TestServer::start().await;
    let r = server.http.get(server.at("/nope")).send().await.unwrap();
    let body = expect_problem(r, 404, "route_not_found").await;
    assert!(body["detail"].as_str().unwrap().contains("/nope"));
}

#[tokio::test]
async fn unknown_api_route_with_a_valid_key_is_route_not_found_with_the_full_path() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["read"]).await;
    let r = server
        .http
        .get(server.at("/api/v2/public/nothing-here"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let body = expect_problem(r, 404, "route_not_found").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("/api/v2/public/nothing-here")
    );
}

#[tokio::test]
async fn wrong_method_is_method_not_allowed_problem() {
    let server = TestServer::start().await;
    let r = server
        .http
        .post(server.at("/healthz"))
        .send()
        .await
        .unwrap();
    expect_problem(r, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let server = TestServer::start().await;
    server.http.get(server.at("/healthz")).send().await.unwrap();
    server.http.get(server.at("/healthz")).send().await.unwrap();
    server
        .http
        .get(server.at("/api/v2/public/prompts"))
        .send()
        .await
        .unwrap();
    let r = server.http.get(server.at("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains(r#"proem_http_requests_total{method="GET",route="/healthz",status="200"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"status="401"} 1"#), "{text}");
}

#[tokio::test]
async fn serve_returns_after_shutdown_is_requested() {
    let server = TestServer::start().await;
    let url = server.at("/healthz");
    let http = server.http.clone();
    server.stop().await.unwrap();
    assert!(
        http.get(url).send().await.is_err(),
        "listener still answering after shutdown"
    );
}
