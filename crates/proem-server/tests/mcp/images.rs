//! Image-modality runs over MCP (agent-api "Image-modality runs over MCP", hosted-mcp-tools
//! run_prompt / get_run_image): a turn's images come back as `image` content blocks with the exact
//! bytes the model made, base64 never reaches the transcript, the JSON or the progress, and
//! proem_get_run_image serves one image by index.

use base64::Engine as _;
use bytes::Bytes;
use proem_core::catalog::ProviderKind;
use proem_testkit::Scenario;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

use super::support::{Client, Fixture, problem};

/// A PNG's magic bytes and a marker long enough to be a real payload (the server only sniffs the
/// magic).
fn png(marker: &str) -> Bytes {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(marker.bytes().cycle().take(4096));
    Bytes::from(bytes)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A server whose test model is an image model on the Responses API, and a client.
async fn image_fixture() -> (Fixture, Client, String) {
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
    (f, client, prompt)
}

/// The data of every image content block, with its mime type.
fn image_blocks(result: &CallToolResult) -> Vec<(String, String)> {
    result
        .content
        .iter()
        .filter_map(|c| c.as_image())
        .map(|i| (i.data.clone(), i.mime_type.clone()))
        .collect()
}

/// How often `needle` occurs in the whole result as sent.
fn occurrences(result: &CallToolResult, needle: &str) -> usize {
    serde_json::to_string(result)
        .unwrap()
        .matches(needle)
        .count()
}

#[tokio::test]
async fn an_image_run_returns_its_images_as_image_blocks_and_no_base64_elsewhere() {
    let (f, client, prompt) = image_fixture().await;
    let (a, b) = (png("tabby"), png("calico"));
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([a.clone(), b.clone()]));
    let result = client
        .call(
            "proem_run_prompt",
            json!({"promptId": prompt, "userInput": "a cat"}),
        )
        .await;
    assert_ne!(result.is_error, Some(true), "{result:?}");

    // The exact bytes, in order, each once: in its image block and nowhere else (the
    // partial-image frames are dropped, the finished items' base64 elided).
    let png_type = "image/png".to_owned();
    assert_eq!(
        image_blocks(&result),
        vec![(b64(&a), png_type.clone()), (b64(&b), png_type)]
    );
    assert_eq!(occurrences(&result, &b64(&a)), 1);
    assert_eq!(occurrences(&result, &b64(&b)), 1);
    // The transcript leads, with a line where each image's bytes were.
    let transcript = result.content[0].as_text().unwrap().text.clone();
    assert!(transcript.starts_with("A cat"), "{transcript}");
    assert_eq!(transcript.matches("[image bytes elided: ").count(), 2);
    assert!(transcript.contains("image content block 1"), "{transcript}");
    let out = result.structured_content.clone().unwrap();
    assert_eq!(out["imageCount"], 2);
    assert_eq!(out["images"][1]["n"], 1);
    assert_eq!(out["images"][1]["inline"], true);
    assert_eq!(out["images"][1]["mimeType"], "image/png");
    assert_eq!(out["images"][1]["sizeBytes"], b.len());
    // Read back after the chained finalize.
    assert_eq!(out["state"], "Finalized");
    assert!(out["recordId"].is_string());

    // The progress carried the words and the images' lines, not their bytes.
    let progress = client.recorder.progress.lock().unwrap().clone();
    let messages: Vec<&str> = progress
        .iter()
        .filter_map(|p| p.message.as_deref())
        .collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages.concat(), transcript);
    assert!(progress.windows(2).all(|w| w[0].progress < w[1].progress));
    assert!(!messages.concat().contains(&b64(&a)[..64]));
}

#[tokio::test]
async fn revise_run_returns_only_the_images_of_its_turn() {
    let (f, client, prompt) = image_fixture().await;
    let (a, b) = (png("cat"), png("formal cat"));
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([a.clone()]));
    let run = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": false}),
        )
        .await;
    f.upstream
        .push(Scenario::text(["Edited"]).with_images([b.clone()]));
    let revised = client
        .call(
            "proem_revise_run",
            json!({"runId": run["runId"], "userInput": "make it formal"}),
        )
        .await;
    assert_ne!(revised.is_error, Some(true), "{revised:?}");
    assert_eq!(
        image_blocks(&revised),
        vec![(b64(&b), "image/png".to_owned())]
    );
    let out = revised.structured_content.clone().unwrap();
    assert_eq!(out["turnIndex"], 1);
    assert_eq!(out["imageCount"], 1);
}

#[tokio::test]
async fn get_run_image_returns_one_image_block_of_the_latest_turn() {
    let (f, client, prompt) = image_fixture().await;
    let (a, b) = (png("first"), png("second"));
    f.upstream
        .push(Scenario::text(["Two cats"]).with_images([a.clone(), b.clone()]));
    let run = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": false}),
        )
        .await;
    let result = client
        .call(
            "proem_get_run_image",
            json!({"runId": run["runId"], "n": 1}),
        )
        .await;
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let image = result.content[0].as_image().unwrap();
    assert_eq!(image.data, b64(&b));
    assert_eq!(image.mime_type, "image/png");
    assert_eq!(image_blocks(&result).len(), 1);
    let out = result.structured_content.clone().unwrap();
    assert_eq!(out["runId"], run["runId"]);
    assert_eq!(out["index"], 1);
    assert_eq!(out["mimeType"], "image/png");
    assert_eq!(out["sizeBytes"], b.len());
}

#[tokio::test]
async fn get_run_image_past_the_turns_images_is_image_index_out_of_range() {
    let (f, client, prompt) = image_fixture().await;
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([png("only")]));
    let run = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": false}),
        )
        .await;
    let doc = client
        .err(
            "proem_get_run_image",
            json!({"runId": run["runId"], "n": 1}),
            "image_index_out_of_range",
        )
        .await;
    assert_eq!(doc["invalid_params"][0]["name"], "n");
}

#[tokio::test]
async fn get_run_image_of_a_cancelled_run_is_run_already_terminal() {
    let (f, client, prompt) = image_fixture().await;
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([png("gone")]));
    let run = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": false}),
        )
        .await;
    client
        .ok("proem_cancel_run", json!({"runId": run["runId"]}))
        .await;
    client
        .err(
            "proem_get_run_image",
            json!({"runId": run["runId"], "n": 0}),
            "run_already_terminal",
        )
        .await;
}

#[tokio::test]
async fn a_retried_image_run_answers_with_the_same_image_blocks() {
    let (f, client, prompt) = image_fixture().await;
    let a = png("once");
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([a.clone()]));
    let args = json!({"promptId": prompt, "userInput": "a cat"});
    let first = client
        .call_idempotent("proem_run_prompt", args.clone(), "image-run-1")
        .await;
    let calls = f.upstream.requests().len();
    let second = client
        .call_idempotent("proem_run_prompt", args, "image-run-1")
        .await;
    assert_eq!(f.upstream.requests().len(), calls, "no second model call");
    let out: Value = second.structured_content.clone().unwrap();
    assert_eq!(out["replayed"], true);
    assert_eq!(out["imageCount"], 1);
    assert_eq!(image_blocks(&second), image_blocks(&first));
    assert_eq!(image_blocks(&second)[0].0, b64(&a));
    problem(
        &client
            .call_idempotent(
                "proem_run_prompt",
                json!({"promptId": prompt, "userInput": "a dog"}),
                "image-run-1",
            )
            .await,
        "idempotency_key_reused",
    );
}
