//! Records through MCP: manual examples, listing with filters and limits, reading with turns,
//! patching under the edit-delta rules, and the MCP delete: soft, idempotent, by the creating key.

use serde_json::{Value, json};

use super::support::{Client, Fixture};

async fn manual(client: &Client, prompt: &str, input: &str) -> Value {
    client
        .ok(
            "proem_create_record",
            json!({"promptId": prompt, "input": input, "output": "an output", "notes": "seed"}),
        )
        .await
}

#[tokio::test]
async fn create_record_seeds_a_manual_example_and_retries_are_safe() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Seeds").await;
    let record = manual(&client, &prompt, "an input").await;
    assert_eq!(record["source"], "Manual");
    assert_eq!(record["versionId"], Value::Null);
    assert_eq!(record["costMilliCents"], 0);
    let args = json!({"promptId": prompt, "input": "i", "output": "o", "idempotencyKey": "seed-1"});
    let a = client.ok("proem_create_record", args.clone()).await;
    let b = client.ok("proem_create_record", args).await;
    assert_eq!(a["id"], b["id"]);
    client
        .err(
            "proem_create_record",
            json!({"promptId": prompt, "input": "  ", "output": "o"}),
            "invalid_params",
        )
        .await;
}

#[tokio::test]
async fn list_records_filters_limits_and_pages() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Listed").await;
    let other = f.prompt(&client, "Other").await;
    for i in 0..3 {
        manual(&client, &prompt, &format!("input {i}")).await;
    }
    manual(&client, &other, "elsewhere").await;
    let page = client
        .ok(
            "proem_list_records",
            json!({"promptId": prompt, "limit": 2, "maxInputChars": 3}),
        )
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["inputText"], "inp");
    assert_eq!(items[0]["inputTruncated"], true);
    let rest = client
        .ok(
            "proem_list_records",
            json!({"promptId": prompt, "limit": 2, "cursor": page["nextCursor"], "maxInputChars": 3}),
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    client
        .err(
            "proem_list_records",
            json!({"limit": 101}),
            "param_out_of_range",
        )
        .await;
    client
        .err(
            "proem_list_records",
            json!({"source": "Nowhere"}),
            "invalid_source",
        )
        .await;
}

#[tokio::test]
async fn patch_record_follows_the_edit_delta_rules() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Patches").await;
    let run = client
        .ok("proem_run_prompt", json!({"promptId": prompt}))
        .await;
    let record_id = run["recordId"].as_str().unwrap();
    client
        .err(
            "proem_patch_record",
            json!({"recordId": record_id, "tag": "Less formal"}),
            "tag_requires_output",
        )
        .await;
    let patched = client
        .ok(
            "proem_patch_record",
            json!({"recordId": record_id, "output": "Hi world", "tag": "Less formal", "notes": "kept"}),
        )
        .await;
    assert_eq!(patched["tag"], "Less formal");
    assert_eq!(patched["output"], "Hi world");
    assert_eq!(patched["notes"], "kept");
    let cleared = client
        .ok(
            "proem_patch_record",
            json!({"recordId": record_id, "notes": null}),
        )
        .await;
    assert_eq!(cleared["notes"], Value::Null);
    let record = client
        .ok("proem_get_record", json!({"recordId": record_id}))
        .await;
    assert_eq!(record["editCount"], 1);
    assert_eq!(
        record["turns"].as_array().unwrap().last().unwrap()["kind"],
        "edit"
    );
    let manual_record = manual(&client, &prompt, "m").await;
    client
        .err(
            "proem_patch_record",
            json!({"recordId": manual_record["id"], "tag": "x"}),
            "invalid_request",
        )
        .await;
}

#[tokio::test]
async fn delete_record_is_soft_and_idempotent() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Deletes").await;
    let record = manual(&client, &prompt, "x").await;
    let id = record["id"].as_str().unwrap();
    let first = client
        .ok("proem_delete_record", json!({"recordId": id}))
        .await;
    assert_eq!(first["status"], "deleted");
    let second = client
        .ok("proem_delete_record", json!({"recordId": id}))
        .await;
    assert_eq!(second["status"], "deleted");
    client
        .err(
            "proem_get_record",
            json!({"recordId": id}),
            "record_not_found",
        )
        .await;
    client
        .err(
            "proem_delete_record",
            json!({"recordId": "rec_nope"}),
            "record_not_found",
        )
        .await;
}

#[tokio::test]
async fn another_key_cannot_patch_or_delete_a_record() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Owned").await;
    let record = manual(&client, &prompt, "x").await;
    let other = f.key_with(&["read", "execute"]).await;
    let intruder = f.client_for(&other).await;
    intruder
        .ok("proem_get_record", json!({"recordId": record["id"]}))
        .await;
    intruder
        .err(
            "proem_delete_record",
            json!({"recordId": record["id"]}),
            "record_not_owned_by_api_key",
        )
        .await;
    intruder
        .err(
            "proem_patch_record",
            json!({"recordId": record["id"], "notes": "mine"}),
            "record_not_owned_by_api_key",
        )
        .await;
}
