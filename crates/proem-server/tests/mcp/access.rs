//! Who may call what: discovery without a scope, each tool's scope, per-tool allow-lists on the
//! key, per-prompt grants, rate limits per call, unknown tools, bad arguments, report_issue, and
//! the activity and audit rows a call leaves.

use proem_server::McpToolAccess;
use serde_json::json;

use super::support::{Fixture, problem};

#[tokio::test]
async fn discovery_tools_need_no_scope() {
    let f = Fixture::new().await;
    let key = f.key_with(&["settings:read"]).await;
    let client = f.client_for(&key).await;
    let catalog = client.ok("proem_get_catalog", json!({})).await;
    assert!(!catalog["models"].as_array().unwrap().is_empty());
    let prompts = client.ok("proem_list_prompts", json!({})).await;
    assert!(prompts["items"].is_array());
}

#[tokio::test]
async fn every_tool_needs_its_scope() {
    let f = Fixture::new().await;
    let keys = [
        ("read", f.key_with(&["read"]).await),
        ("execute", f.key_with(&["execute"]).await),
        ("write", f.key_with(&["write"]).await),
    ];
    for (scope, key) in &keys {
        let client = f.client_for(key).await;
        for def in proem_server::MCP_TOOLS {
            let McpToolAccess::Key(permission) = def.access else {
                continue;
            };
            if permission.scope().as_str() == *scope {
                continue;
            }
            let result = client.call(def.name, json!({})).await;
            let doc = problem(&result, "scope_required");
            assert_eq!(doc["status"], 403, "{}", def.name);
        }
    }
}

#[tokio::test]
async fn tools_list_shows_what_the_key_may_call() {
    let f = Fixture::new().await;
    let key = f.key_with(&["read"]).await;
    let names = f.client_for(&key).await.tool_names().await;
    assert!(names.contains(&"proem_get_prompt".to_owned()));
    assert!(names.contains(&"proem_get_catalog".to_owned()));
    assert!(!names.contains(&"proem_run_prompt".to_owned()));
    assert!(!names.contains(&"proem_create_prompt".to_owned()));
}

async fn set_tools(f: &Fixture, key: &str, tools: Option<&[&str]>) {
    let key_id = f.key_id(key).await;
    let tools: Option<Vec<String>> = tools.map(|t| t.iter().map(|s| (*s).to_owned()).collect());
    f.server
        .state
        .store()
        .set_tool_grants(&key_id, tools.as_deref())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tool_allow_list_blocks_other_tools_but_never_discovery() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Allowed").await;
    set_tools(&f, &f.key, Some(&["proem_get_prompt"])).await;
    client
        .ok("proem_get_prompt", json!({"promptId": prompt}))
        .await;
    client.ok("proem_get_catalog", json!({})).await;
    client.ok("proem_list_prompts", json!({})).await;
    let doc = client
        .err(
            "proem_list_versions",
            json!({"promptId": prompt}),
            "tool_grant_required",
        )
        .await;
    assert_eq!(doc["status"], 403);
    let mut names = f.client().await.tool_names().await;
    names.sort();
    assert_eq!(
        names,
        vec![
            "proem_get_catalog",
            "proem_get_prompt",
            "proem_list_prompts"
        ]
    );
}

#[tokio::test]
async fn an_empty_allow_list_leaves_discovery_and_a_star_allows_everything() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Lists").await;
    set_tools(&f, &f.key, Some(&[])).await;
    client
        .err(
            "proem_get_prompt",
            json!({"promptId": prompt}),
            "tool_grant_required",
        )
        .await;
    client
        .err(
            "proem_report_issue",
            json!({"type": "bug", "body": "x"}),
            "tool_grant_required",
        )
        .await;
    client.ok("proem_get_catalog", json!({})).await;
    set_tools(&f, &f.key, Some(&["*"])).await;
    client
        .ok("proem_get_prompt", json!({"promptId": prompt}))
        .await;
    set_tools(&f, &f.key, None).await;
    client
        .ok("proem_get_prompt", json!({"promptId": prompt}))
        .await;
}

#[tokio::test]
async fn scopes_still_apply_under_a_star_allow_list() {
    let f = Fixture::new().await;
    let key = f.key_with(&["read"]).await;
    set_tools(&f, &key, Some(&["*"])).await;
    let client = f.client_for(&key).await;
    client
        .err(
            "proem_create_prompt",
            json!({"name": "x", "promptText": "y", "modelSettings": f.server.model_settings()}),
            "scope_required",
        )
        .await;
}

#[tokio::test]
async fn a_key_restricted_to_other_prompts_gets_grant_required() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let granted = f.prompt(&client, "Granted").await;
    let other = f.prompt(&client, "Other").await;
    let key = f.key_with(&["read"]).await;
    let key_id = f.key_id(&key).await;
    f.server
        .state
        .store()
        .grant_prompt(&key_id, &granted)
        .await
        .unwrap();
    let restricted = f.client_for(&key).await;
    restricted
        .ok("proem_get_prompt", json!({"promptId": granted}))
        .await;
    let doc = restricted
        .err(
            "proem_get_prompt",
            json!({"promptId": other}),
            "grant_required",
        )
        .await;
    assert_eq!(doc["status"], 403);
    let listed = restricted.ok("proem_list_prompts", json!({})).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn every_tools_call_takes_a_rate_limit_slot() {
    let f = Fixture::with(|c| {
        c.rate_limits.read_per_key = 3;
    })
    .await;
    let client = f.client().await;
    for _ in 0..3 {
        client.ok("proem_get_catalog", json!({})).await;
    }
    let doc = client
        .err("proem_get_catalog", json!({}), "rate_limited")
        .await;
    assert_eq!(doc["status"], 429);
    assert!(doc["detail"].as_str().unwrap().contains("retry in"));
}

#[tokio::test]
async fn an_unknown_tool_is_unknown_tool_with_a_hint_to_relist() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let doc = client
        .err("proem_no_such_tool", json!({}), "unknown_tool")
        .await;
    assert!(doc["action_hint"].as_str().unwrap().contains("tools/list"));
}

#[tokio::test]
async fn bad_arguments_are_invalid_request_naming_the_field() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let doc = client
        .err("proem_get_prompt", json!({}), "invalid_request")
        .await;
    assert_eq!(doc["invalid_params"][0]["name"], "promptId");
    assert_eq!(doc["invalid_params"][0]["reason"], "required");
    let doc = client
        .err(
            "proem_get_prompt",
            json!({"promptId": "prm_x", "extra": 1}),
            "invalid_request",
        )
        .await;
    assert_eq!(doc["invalid_params"][0]["reason"], "unknown_field");
    let doc = client
        .err(
            "proem_list_prompts",
            json!({"limit": "ten"}),
            "invalid_request",
        )
        .await;
    assert_eq!(doc["invalid_params"][0]["name"], "limit");
}

#[tokio::test]
async fn report_issue_stores_a_bug_or_feature_request_for_the_operator() {
    let f = Fixture::new().await;
    let key = f.key_with(&["read"]).await;
    let client = f.client_for(&key).await;
    let stored = client
        .ok(
            "proem_report_issue",
            json!({"type": "bug", "title": "run hangs", "body": "proem_run_prompt never returned", "tool": "proem_run_prompt"}),
        )
        .await;
    assert_eq!(stored["status"], "received");
    assert!(stored["issueId"].as_str().unwrap().starts_with("iss_"));
    client
        .ok(
            "proem_report_issue",
            json!({"type": "feature_request", "body": "batch runs"}),
        )
        .await;
    let reports = f.server.state.store().issue_reports(10).await.unwrap();
    assert_eq!(reports.len(), 2);
    let bug = reports.iter().find(|r| r.kind == "bug").unwrap();
    assert_eq!(bug.body, "proem_run_prompt never returned");
    assert_eq!(bug.tool_name.as_deref(), Some("proem_run_prompt"));
    assert_eq!(bug.user_id, f.user.id);
}

#[tokio::test]
async fn report_issue_with_a_bad_type_is_invalid_type_and_empty_is_invalid_report() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let doc = client
        .err(
            "proem_report_issue",
            json!({"type": "complaint", "body": "x"}),
            "invalid_type",
        )
        .await;
    assert_eq!(doc["invalid_params"][0]["name"], "type");
    client
        .err(
            "proem_report_issue",
            json!({"type": "bug", "body": "   "}),
            "invalid_report",
        )
        .await;
    client
        .err(
            "proem_report_issue",
            json!({"type": "bug"}),
            "invalid_report",
        )
        .await;
    assert!(
        f.server
            .state
            .store()
            .issue_reports(10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn calls_leave_activity_and_changes_leave_audit_rows() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Audited").await;
    client
        .ok("proem_get_prompt", json!({"promptId": prompt}))
        .await;
    // Activity rows are written in batches off the request path.
    let mut found = false;
    for _ in 0..100 {
        let rows = f
            .server
            .state
            .store()
            .list_activity(
                &f.user.id,
                &proem_core::store::ActivityFilter::default(),
                None,
                100,
            )
            .await
            .unwrap();
        if rows
            .iter()
            .any(|r| r.route == "MCP proem_get_prompt" && r.prompt_id.as_deref() == Some(&prompt))
            && rows.iter().any(|r| r.route == "MCP proem_create_prompt")
        {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(found, "activity rows for the MCP calls");
}
