//! Authoring through MCP: prompts, versions and attachments, with MCP list limits, merge
//! patches, the MCP-only delete guards and inline-only uploads.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proem_core::attachments::image::samples;
use serde_json::{Value, json};

use super::support::{Client, Fixture};

async fn live_run(client: &Client, prompt: &str) -> String {
    let run = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "userInput": "x", "autoFinalize": false}),
        )
        .await;
    run["runId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn create_get_update_and_delete_a_prompt() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let created = client
        .ok(
            "proem_create_prompt",
            json!({
                "name": "Summarizer",
                "promptText": "Summarize.",
                "modelSettings": f.server.model_settings(),
                "versionDescription": "first",
            }),
        )
        .await;
    let id = created["promptId"].as_str().unwrap();
    assert_eq!(created["versionNumber"], 1);
    let detail = client.ok("proem_get_prompt", json!({"promptId": id})).await;
    assert_eq!(detail["name"], "Summarizer");
    assert_eq!(detail["currentVersionStatus"], "ok");
    assert_eq!(detail["currentVersion"]["promptText"], "Summarize.");
    let patched = client
        .ok(
            "proem_update_prompt",
            json!({"promptId": id, "name": "Renamed", "abbreviation": "RN"}),
        )
        .await;
    assert_eq!(patched["name"], "Renamed");
    assert_eq!(patched["abbreviation"], "RN");
    let cleared = client
        .ok(
            "proem_update_prompt",
            json!({"promptId": id, "abbreviation": null}),
        )
        .await;
    assert_eq!(cleared["abbreviation"], Value::Null);
    assert_eq!(cleared["name"], "Renamed");
    let deleted = client
        .ok("proem_delete_prompt", json!({"promptId": id}))
        .await;
    assert_eq!(deleted["status"], "deleted");
    let again = client
        .ok("proem_delete_prompt", json!({"promptId": id}))
        .await;
    assert_eq!(again["status"], "deleted");
    client
        .err(
            "proem_get_prompt",
            json!({"promptId": id}),
            "prompt_not_found",
        )
        .await;
}

#[tokio::test]
async fn create_prompt_with_an_unknown_model_is_invalid_model_settings() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let doc = client
        .err(
            "proem_create_prompt",
            json!({"name": "x", "promptText": "y", "modelSettings": {"model_id": "nope", "parameters": {}}}),
            "invalid_model_settings",
        )
        .await;
    assert!(!doc["invalid_params"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn list_limits_are_1_to_100_defaulting_to_25_and_cursors_page() {
    let f = Fixture::new().await;
    let client = f.client().await;
    for i in 0..27 {
        f.prompt(&client, &format!("P{i}")).await;
    }
    let first = client.ok("proem_list_prompts", json!({})).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 25);
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = client
        .ok("proem_list_prompts", json!({"cursor": cursor}))
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert!(second.get("nextCursor").is_none());
    for bad in [0, 101, -1] {
        let doc = client
            .err(
                "proem_list_prompts",
                json!({"limit": bad}),
                "param_out_of_range",
            )
            .await;
        assert_eq!(doc["invalid_params"][0]["name"], "limit");
    }
    client.ok("proem_list_prompts", json!({"limit": 100})).await;
    client
        .err(
            "proem_list_prompts",
            json!({"cursor": "bogus"}),
            "invalid_cursor",
        )
        .await;
}

#[tokio::test]
async fn versions_are_created_listed_read_patched_switched_and_deleted() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Versions").await;
    let v2 = client
        .ok(
            "proem_create_version",
            json!({"promptId": prompt, "promptText": "v2", "modelSettings": f.server.model_settings(), "description": "Writes v2."}),
        )
        .await;
    let v2_id = v2["id"].as_str().unwrap().to_owned();
    assert_eq!(v2["versionNumber"], 2);
    assert_eq!(v2["isCurrent"], false);
    assert_eq!(v2["descriptionMode"], 1);
    let list = client
        .ok("proem_list_versions", json!({"promptId": prompt}))
        .await;
    assert_eq!(list["items"][0]["versionNumber"], 2);
    let first = list["currentVersionId"].as_str().unwrap().to_owned();
    client
        .err(
            "proem_list_versions",
            json!({"promptId": prompt, "limit": 101}),
            "param_out_of_range",
        )
        .await;
    let switched = client
        .ok(
            "proem_switch_current_version",
            json!({"promptId": prompt, "versionId": v2_id}),
        )
        .await;
    assert_eq!(switched["currentVersionId"], v2_id.as_str());
    let got = client
        .ok(
            "proem_get_version",
            json!({"promptId": prompt, "versionId": v2_id}),
        )
        .await;
    assert_eq!(got["promptText"], "v2");
    let patched = client
        .ok(
            "proem_update_version",
            json!({"promptId": prompt, "versionId": v2_id, "versionDescription": "notes", "ifMatch": got["etag"]}),
        )
        .await;
    assert_eq!(patched["versionDescription"], "notes");
    client
        .err(
            "proem_update_version",
            json!({"promptId": prompt, "versionId": v2_id, "versionDescription": "late", "ifMatch": got["etag"]}),
            "precondition_failed",
        )
        .await;
    client
        .err(
            "proem_update_version",
            json!({"promptId": prompt, "versionId": v2_id, "promptText": "no"}),
            "invalid_request",
        )
        .await;
    let deleted = client
        .ok(
            "proem_delete_version",
            json!({"promptId": prompt, "versionId": v2_id}),
        )
        .await;
    assert_eq!(deleted["newCurrentVersionId"], first.as_str());
    client
        .err(
            "proem_delete_version",
            json!({"promptId": prompt, "versionId": first}),
            "cannot_delete_only_version",
        )
        .await;
    client
        .err(
            "proem_get_version",
            json!({"promptId": prompt, "versionId": v2_id}),
            "version_not_found",
        )
        .await;
}

#[tokio::test]
async fn create_version_with_set_as_current_switches_atomically() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Switch").await;
    let v2 = client
        .ok(
            "proem_create_version",
            json!({"promptId": prompt, "promptText": "v2", "modelSettings": f.server.model_settings(), "setAsCurrent": true}),
        )
        .await;
    let detail = client
        .ok("proem_get_prompt", json!({"promptId": prompt}))
        .await;
    assert_eq!(detail["currentVersionId"], v2["id"]);
}

#[tokio::test]
async fn delete_prompt_while_a_run_is_live_is_prompt_referenced_by_active_run() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Busy").await;
    let run = live_run(&client, &prompt).await;
    let doc = client
        .err(
            "proem_delete_prompt",
            json!({"promptId": prompt}),
            "prompt_referenced_by_active_run",
        )
        .await;
    assert_eq!(doc["status"], 409);
    assert!(doc["detail"].as_str().unwrap().contains(&run));
    client.ok("proem_finalize_run", json!({"runId": run})).await;
    client
        .ok("proem_delete_prompt", json!({"promptId": prompt}))
        .await;
}

#[tokio::test]
async fn delete_version_pinned_by_a_live_run_is_version_referenced_by_active_run() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Pinned").await;
    let first = client
        .ok("proem_get_prompt", json!({"promptId": prompt}))
        .await["currentVersionId"]
        .as_str()
        .unwrap()
        .to_owned();
    client
        .ok(
            "proem_create_version",
            json!({"promptId": prompt, "promptText": "v2", "modelSettings": f.server.model_settings()}),
        )
        .await;
    let run = live_run(&client, &prompt).await;
    client
        .err(
            "proem_delete_version",
            json!({"promptId": prompt, "versionId": first}),
            "version_referenced_by_active_run",
        )
        .await;
    client.ok("proem_cancel_run", json!({"runId": run})).await;
    client
        .ok(
            "proem_delete_version",
            json!({"promptId": prompt, "versionId": first}),
        )
        .await;
}

#[tokio::test]
async fn attachments_upload_inline_list_fetch_and_delete() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Files").await;
    let text = STANDARD.encode("three examples");
    let uploaded = client
        .ok(
            "proem_upload_attachment",
            json!({"promptId": prompt, "filename": "examples.txt", "base64": text}),
        )
        .await;
    assert_eq!(uploaded["created"], true);
    assert_eq!(uploaded["type"], "text");
    let again = client
        .ok(
            "proem_upload_attachment",
            json!({"promptId": prompt, "filename": "examples.txt", "base64": text}),
        )
        .await;
    assert_eq!(again["created"], false);
    assert_eq!(again["id"], uploaded["id"]);
    let png = STANDARD.encode(samples::png(256, 256));
    let image = client
        .ok(
            "proem_upload_attachment",
            json!({"promptId": prompt, "filename": "cat.png", "bytesBase64": png}),
        )
        .await;
    let list = client
        .ok("proem_list_attachments", json!({"promptId": prompt}))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let fetched = client
        .ok(
            "proem_get_attachment",
            json!({"attachmentId": uploaded["id"]}),
        )
        .await;
    assert_eq!(fetched["kind"], "text");
    assert_eq!(fetched["text"], "three examples");
    let result = client
        .call("proem_get_attachment", json!({"attachmentId": image["id"]}))
        .await;
    let fetched = result.structured_content.clone().unwrap();
    assert_eq!(fetched["kind"], "image");
    assert_eq!(fetched["imageMediaRef"]["mimeType"], "image/png");
    assert_eq!(fetched["imageMediaRef"]["base64"], png.as_str());
    assert!(
        result.content[0].as_image().is_some(),
        "an image content block"
    );
    let deleted = client
        .ok(
            "proem_delete_attachment",
            json!({"attachmentId": uploaded["id"]}),
        )
        .await;
    assert_eq!(deleted["status"], "deleted");
    client
        .err(
            "proem_get_attachment",
            json!({"attachmentId": uploaded["id"]}),
            "attachment_not_found",
        )
        .await;
}

#[tokio::test]
async fn upload_attachment_refuses_local_paths_and_bad_bytes() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "No paths").await;
    let doc = client
        .err(
            "proem_upload_attachment",
            json!({"promptId": prompt, "filename": "a.txt", "localPath": "/etc/passwd"}),
            "invalid_params",
        )
        .await;
    assert_eq!(doc["invalid_params"][0]["name"], "localPath");
    client
        .err(
            "proem_upload_attachment",
            json!({"promptId": prompt, "filename": "a.txt"}),
            "invalid_params",
        )
        .await;
    client
        .err(
            "proem_upload_attachment",
            json!({"promptId": prompt, "filename": "a.txt", "base64": "@@@"}),
            "invalid_params",
        )
        .await;
    client
        .err(
            "proem_upload_attachment",
            json!({"promptId": prompt, "filename": "../a.txt", "base64": STANDARD.encode("x")}),
            "invalid_filename",
        )
        .await;
}

#[tokio::test]
async fn deleting_an_attachment_a_live_run_uses_is_refused() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Pinned file").await;
    let uploaded = client
        .ok(
            "proem_upload_attachment",
            json!({"promptId": prompt, "filename": "ctx.txt", "base64": STANDARD.encode("context")}),
        )
        .await;
    let _run = live_run(&client, &prompt).await;
    client
        .err(
            "proem_delete_attachment",
            json!({"attachmentId": uploaded["id"]}),
            "attachment_referenced_by_active_run",
        )
        .await;
}
