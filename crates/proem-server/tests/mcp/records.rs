//! Records through MCP: manual examples, listing with filters and limits, reading with turns,
//! patching under the edit-delta rules, and the MCP delete: soft, idempotent, by the creating key.

use std::time::Duration;

use bytes::Bytes;
use proem_core::catalog::ProviderKind;
use proem_core::records::SOFT_DELETE_GRACE_MS;
use proem_testkit::Scenario;
use serde_json::{Value, json};

use super::support::{Client, Fixture};

const GRACE: Duration = Duration::from_millis(SOFT_DELETE_GRACE_MS.unsigned_abs());
const MINUTE: Duration = Duration::from_secs(60);

/// Whether the records table still holds a row `id`, soft-deleted or not.
async fn stored(f: &Fixture, id: &str) -> bool {
    f.server.db.table_text("records").await.contains(id)
}

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
async fn create_record_retry_after_a_soft_delete_creates_a_new_record() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Reseeds").await;
    let args = json!({"promptId": prompt, "input": "i", "output": "o", "idempotencyKey": "seed-2"});
    let first = client.ok("proem_create_record", args.clone()).await;
    client
        .ok("proem_delete_record", json!({"recordId": first["id"]}))
        .await;
    let second = client.ok("proem_create_record", args.clone()).await;
    assert_ne!(second["id"], first["id"]);
    let third = client.ok("proem_create_record", args).await;
    assert_eq!(third["id"], second["id"]);
}

#[tokio::test]
async fn the_sweep_hard_deletes_a_soft_deleted_record_only_after_the_grace_period() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Swept").await;
    let doomed = manual(&client, &prompt, "doomed").await;
    let doomed = doomed["id"].as_str().unwrap();
    let kept = manual(&client, &prompt, "kept").await;
    let kept = kept["id"].as_str().unwrap();
    client
        .ok("proem_delete_record", json!({"recordId": doomed}))
        .await;
    let engine = f.server.state.engine();
    f.server.clock.advance(GRACE - MINUTE);
    assert_eq!(engine.sweep_deleted_records().await.unwrap(), 0);
    assert!(stored(&f, doomed).await, "still within the grace period");
    f.server.clock.advance(MINUTE);
    assert_eq!(engine.sweep_deleted_records().await.unwrap(), 1);
    assert!(!stored(&f, doomed).await, "hard-deleted");
    assert!(stored(&f, kept).await, "a live record is never swept");
    assert_eq!(engine.sweep_deleted_records().await.unwrap(), 0);
    // Gone for good, and the MCP delete still answers as for any unknown record.
    client
        .err(
            "proem_delete_record",
            json!({"recordId": doomed}),
            "record_not_found",
        )
        .await;
}

#[tokio::test]
async fn sweeping_a_soft_deleted_image_record_releases_its_blobs() {
    let f = Fixture::with(|c| {
        for p in c.providers.values_mut() {
            p.kind = ProviderKind::Openai;
            for m in &mut p.models {
                m.output_modalities = vec!["text".into(), "image".into()];
            }
        }
    })
    .await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Cats").await;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(b"tabby".iter().cycle().take(4096));
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([Bytes::from(png)]));
    let run = client
        .ok("proem_run_prompt", json!({"promptId": prompt}))
        .await;
    let record_id = run["recordId"].as_str().unwrap();
    assert_eq!(f.server.blob_files().len(), 1);
    client
        .ok("proem_delete_record", json!({"recordId": record_id}))
        .await;
    let engine = f.server.state.engine();
    // Soft-deleted, the record still holds its image.
    assert_eq!(engine.clean_blobs().await.unwrap(), 0);
    assert_eq!(f.server.blob_files().len(), 1);
    f.server.clock.advance(GRACE);
    assert_eq!(engine.sweep_deleted_records().await.unwrap(), 1);
    assert_eq!(engine.clean_blobs().await.unwrap(), 1);
    assert!(f.server.blob_files().is_empty());
    // The run that made it let go of it too.
    client
        .err(
            "proem_get_run_image",
            json!({"runId": run["runId"], "n": 0}),
            "no_image_stored",
        )
        .await;
}

#[tokio::test]
async fn another_keys_already_deleted_record_is_record_not_owned_by_api_key() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Owned").await;
    let record = manual(&client, &prompt, "x").await;
    client
        .ok("proem_delete_record", json!({"recordId": record["id"]}))
        .await;
    let other = f.key_with(&["read", "execute"]).await;
    let intruder = f.client_for(&other).await;
    intruder
        .err(
            "proem_delete_record",
            json!({"recordId": record["id"]}),
            "record_not_owned_by_api_key",
        )
        .await;
    // The creating key's repeat still succeeds.
    let again = client
        .ok("proem_delete_record", json!({"recordId": record["id"]}))
        .await;
    assert_eq!(again["status"], "deleted");
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
