//! Per-prompt synthesized tools (spec changelog v1.3): exposed with mcp-toggle, named
//! `proem_{slug}` and stable across renames until mcp-rename, described by the current version,
//! called like proem_run_prompt, capped at 50, refusing taken and reserved names, and announced to
//! live sessions with `notifications/tools/list_changed`.

use proem_testkit::Scenario;
use serde_json::{Value, json};

use super::support::{Fixture, problem};

async fn post(f: &Fixture, key: &str, path: &str, body: Value) -> reqwest::Response {
    f.server
        .http
        .post(f.server.at(path))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn toggle(f: &Fixture, prompt: &str, expose: bool) -> reqwest::Response {
    post(
        f,
        &f.key,
        &format!("/api/v2/prompts/{prompt}/mcp-toggle"),
        json!({"expose": expose}),
    )
    .await
}

pub(super) async fn expose(f: &Fixture, prompt: &str) -> String {
    let response = toggle(f, prompt, true).await;
    assert_eq!(response.status(), 200);
    let state: Value = response.json().await.unwrap();
    assert_eq!(state["exposeAsMcpTool"], true);
    state["mcpToolName"].as_str().unwrap().to_owned()
}

async fn problem_of(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason_code"], code, "{body}");
}

#[tokio::test]
async fn an_exposed_prompt_is_a_tool_described_by_its_current_version() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Clay Cuties").await;
    client
        .ok(
            "proem_create_version",
            json!({"promptId": prompt, "promptText": "Draw.", "modelSettings": f.server.model_settings(),
                   "description": "Turns a subject into a cute clay figure description.", "setAsCurrent": true}),
        )
        .await;
    let name = expose(&f, &prompt).await;
    assert_eq!(name, "proem_clay_cuties");
    let tools = client.tools().await;
    let tool = tools.iter().find(|t| t.name == name).unwrap();
    assert!(
        tool.description
            .as_deref()
            .unwrap()
            .starts_with("Turns a subject into a cute clay figure description.")
    );
    assert_eq!(
        tool.input_schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["userInput"]
    );
    let listed = client.ok("proem_list_prompts", json!({})).await;
    assert_eq!(listed["items"][0]["mcpToolName"], name.as_str());
    f.upstream.push(Scenario::text(["a clay cat"]));
    let out = client.ok(&name, json!({"userInput": "a cat"})).await;
    assert_eq!(out["outputText"], "a clay cat");
    assert_eq!(out["promptId"], prompt.as_str());
    assert!(out["recordId"].is_string());
}

#[tokio::test]
async fn live_sessions_hear_that_the_tool_list_changed() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Announced").await;
    // The session's GET stream opens asynchronously; a list call makes sure the session is up.
    client.tools().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let seen = client
        .recorder
        .tools_changed
        .load(std::sync::atomic::Ordering::SeqCst);
    expose(&f, &prompt).await;
    client.wait_tools_changed(seen).await;
    assert!(
        client
            .tool_names()
            .await
            .contains(&"proem_announced".to_owned())
    );
}

#[tokio::test]
async fn the_tool_name_survives_a_prompt_rename_until_mcp_rename() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Old Name").await;
    let name = expose(&f, &prompt).await;
    client
        .ok(
            "proem_update_prompt",
            json!({"promptId": prompt, "name": "New Name"}),
        )
        .await;
    client.ok(&name, json!({})).await;
    let renamed = post(
        &f,
        &f.key,
        &format!("/api/v2/prompts/{prompt}/mcp-rename"),
        json!({}),
    )
    .await;
    assert_eq!(renamed.status(), 200);
    let state: Value = renamed.json().await.unwrap();
    assert_eq!(state["mcpToolName"], "proem_new_name");
    let doc = client.err(&name, json!({}), "unknown_tool").await;
    assert!(doc["action_hint"].as_str().unwrap().contains("tools/list"));
    client.ok("proem_new_name", json!({})).await;
}

#[tokio::test]
async fn a_hidden_or_deleted_prompt_tool_is_unknown_tool() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Hidden").await;
    let name = expose(&f, &prompt).await;
    assert_eq!(toggle(&f, &prompt, false).await.status(), 200);
    client.err(&name, json!({}), "unknown_tool").await;
    assert!(!client.tool_names().await.contains(&name));
    // Exposing it again brings back the same name.
    assert_eq!(expose(&f, &prompt).await, name);
    client
        .ok("proem_delete_prompt", json!({"promptId": prompt}))
        .await;
    client.err(&name, json!({}), "unknown_tool").await;
}

#[tokio::test]
async fn taken_and_reserved_names_are_refused() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let first = f.prompt(&client, "Twin").await;
    let second = f.prompt(&client, "Twin").await;
    expose(&f, &first).await;
    problem_of(toggle(&f, &second, true).await, 409, "tool_name_taken").await;
    let reserved = f.prompt(&client, "Get Prompt").await;
    problem_of(toggle(&f, &reserved, true).await, 409, "tool_name_reserved").await;
}

#[tokio::test]
async fn at_most_50_prompts_are_exposed_per_user() {
    let f = Fixture::new().await;
    let client = f.client().await;
    for i in 0..50 {
        let prompt = f.prompt(&client, &format!("Tool {i}")).await;
        expose(&f, &prompt).await;
    }
    let one_more = f.prompt(&client, "Tool 50").await;
    problem_of(
        toggle(&f, &one_more, true).await,
        409,
        "mcp_tool_cap_reached",
    )
    .await;
}

#[tokio::test]
async fn toggling_needs_the_write_scope() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Scoped").await;
    let read = f.key_with(&["read"]).await;
    let response = post(
        &f,
        &read,
        &format!("/api/v2/prompts/{prompt}/mcp-toggle"),
        json!({"expose": true}),
    )
    .await;
    problem_of(response, 403, "scope_required").await;
}

#[tokio::test]
async fn synthesized_tools_obey_scopes_and_tool_allow_lists() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Guarded").await;
    let name = expose(&f, &prompt).await;
    let read = f.key_with(&["read"]).await;
    let reader = f.client_for(&read).await;
    assert!(!reader.tool_names().await.contains(&name));
    problem(&reader.call(&name, json!({})).await, "scope_required");
    let key_id = f.key_id(&f.key).await;
    f.server
        .state
        .store()
        .set_tool_grants(&key_id, Some(&["proem_get_catalog".to_owned()]))
        .await
        .unwrap();
    problem(&client.call(&name, json!({})).await, "tool_grant_required");
    f.server
        .state
        .store()
        .set_tool_grants(&key_id, Some(std::slice::from_ref(&name)))
        .await
        .unwrap();
    client.ok(&name, json!({})).await;
}
