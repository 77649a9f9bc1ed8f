//! Image-output runs (spec "SSE protocol" image notes, "Image input/output", the image reason
//! codes): a Responses-API model that generates images, their storage and reads by index, image
//! revisions, finalize into an image record, rewinds and the blob cleanup queue.

use axum::body::Bytes;
use base64::Engine as _;
use proem_core::catalog::ProviderKind;
use proem_testkit::Scenario;
use serde_json::{Value, json};

use super::run_support::{RunFixture, Sse, find, names};
use super::support::expect_problem;

/// A PNG's magic bytes and a marker, enough for the server's format sniffing.
fn png(marker: &str) -> Bytes {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(marker.as_bytes());
    Bytes::from(bytes)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A server whose test model is an image model on the Responses API.
async fn image_fixture() -> RunFixture {
    RunFixture::with(ProviderKind::Openai, |c| {
        for p in c.providers.values_mut() {
            for m in &mut p.models {
                m.output_modalities = vec!["text".into(), "image".into()];
            }
        }
    })
    .await
}

fn run_id(events: &[Sse]) -> String {
    find(events, "run_session")["runId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The record a chained auto-finalize saved.
fn finalized_id(events: &[Sse]) -> String {
    find(events, "record_finalized")["recordId"]
        .as_str()
        .unwrap()
        .to_owned()
}

impl RunFixture {
    /// Finalizes `run_id` plainly; the record's id.
    async fn finalized(&self, run_id: &str) -> String {
        let r = self.finalize(run_id, json!({})).await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["recordId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn image_bytes(&self, path: &str) -> (String, Vec<u8>) {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        (content_type, r.bytes().await.unwrap().to_vec())
    }

    async fn record(&self, id: &str) -> Value {
        let r = self.get(&format!("/records/{id}")).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// An image run left Active that made `images`.
    async fn image_run(&self, images: &[Bytes]) -> String {
        self.upstream
            .push(Scenario::text(["A cat"]).with_images(images.iter().cloned()));
        let events = self.run(json!({"autoFinalize": false})).await;
        assert_eq!(
            find(&events, "run_completed")["imageCount"],
            images.len(),
            "{events:?}"
        );
        run_id(&events)
    }

    async fn image_revision(&self, run_id: &str, images: &[Bytes], extra: Value) -> Vec<Sse> {
        self.upstream
            .push(Scenario::text(["Edited"]).with_images(images.iter().cloned()));
        self.revise(run_id, extra).await
    }
}

#[tokio::test]
async fn an_image_run_stores_its_images_and_serves_them_by_index() {
    let f = image_fixture().await;
    let (a, b) = (png("first"), png("second"));
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([a.clone(), b.clone()]));
    let events = f.run(json!({"autoFinalize": false})).await;

    // client_hint right after run_session; the images' frames relayed verbatim; the count.
    assert_eq!(
        names(&events)[..2],
        ["run_session", "client_hint"],
        "{events:?}"
    );
    assert_eq!(find(&events, "run_session")["outputModality"], "image");
    let id = run_id(&events);
    let hint = find(&events, "client_hint");
    assert_eq!(hint["filter"], "partial_image_b64");
    assert_eq!(hint["reason"], "image_modality_inline_payloads");
    assert_eq!(
        hint["canonicalAccess"],
        format!("GET /api/v2/public/runs/{id}/images/{{n}}")
    );
    assert_eq!(
        find(&events, "response.image_generation_call.partial_image")["partial_image_b64"],
        b64(&a)
    );
    assert_eq!(find(&events, "run_completed")["imageCount"], 2);
    // The model was offered the image tool.
    let sent = f.upstream.last_request().unwrap().body;
    assert_eq!(sent["tools"], json!([{"type": "image_generation"}]));

    let (content_type, bytes) = f.image_bytes(&format!("/runs/{id}/images/0")).await;
    assert_eq!(content_type, "image/png");
    assert_eq!(bytes, a.to_vec());
    assert_eq!(
        f.image_bytes(&format!("/runs/{id}/images/1")).await.1,
        b.to_vec()
    );
}

#[tokio::test]
async fn run_image_index_checks_are_invalid_index_and_image_index_out_of_range() {
    let f = image_fixture().await;
    let id = f.image_run(&[png("only")]).await;
    expect_problem(
        f.get(&format!("/runs/{id}/images/1")).await,
        404,
        "image_index_out_of_range",
    )
    .await;
    for bad in ["-1", "x"] {
        expect_problem(
            f.get(&format!("/runs/{id}/images/{bad}")).await,
            400,
            "invalid_index",
        )
        .await;
    }
}

#[tokio::test]
async fn client_hint_and_the_image_tool_are_only_for_image_runs() {
    let f = RunFixture::with(ProviderKind::Openai, |_| {}).await;
    let events = f.run(json!({"autoFinalize": false})).await;
    assert!(!names(&events).contains(&"client_hint"), "{events:?}");
    assert_eq!(find(&events, "run_completed")["imageCount"], 0);
    assert!(
        f.upstream
            .last_request()
            .unwrap()
            .body
            .get("tools")
            .is_none()
    );
    let id = run_id(&events);
    expect_problem(
        f.get(&format!("/runs/{id}/images/0")).await,
        404,
        "no_image_stored",
    )
    .await;
}

#[tokio::test]
async fn an_image_revision_edits_the_prior_image_and_the_record_keeps_every_image() {
    let f = image_fixture().await;
    let (a, b) = (png("cat"), png("formal cat"));
    let id = f.image_run(std::slice::from_ref(&a)).await;
    let events = f
        .image_revision(&id, std::slice::from_ref(&b), json!({}))
        .await;
    assert_eq!(find(&events, "run_completed")["imageCount"], 1);
    // The model saw the prior image and the instruction.
    let sent = f.upstream.last_request().unwrap().body.to_string();
    assert!(sent.contains(&b64(&a)), "the prior image was not sent");
    assert!(sent.contains("make it formal"));
    // Pre-finalize, the run's images are the latest turn's.
    assert_eq!(
        f.image_bytes(&format!("/runs/{id}/images/0")).await.1,
        b.to_vec()
    );

    let record_id = f.finalized(&id).await;
    let record = f.record(&record_id).await;
    assert_eq!(record["outputText"], Value::Null);
    assert_eq!(record["imageCount"], 2);
    assert_eq!(record["imageStoredPaths"].as_array().unwrap().len(), 2);
    // finalCopiedOutput is the accumulated prompt: the input, then each instruction.
    assert_eq!(record["finalCopiedOutput"], "an article\nmake it formal");
    assert_eq!(record["turns"][1]["output"], "an article\nmake it formal");
    for (i, expected) in [a, b].iter().enumerate() {
        let path = format!("/records/{record_id}/image?index={i}");
        assert_eq!(f.image_bytes(&path).await.1, expected.to_vec());
    }
    expect_problem(
        f.get(&format!("/records/{record_id}/image?index=2")).await,
        404,
        "image_index_out_of_range",
    )
    .await;
}

#[tokio::test]
async fn image_runs_reject_intermediate_output() {
    let f = image_fixture().await;
    let id = f.image_run(&[png("cat")]).await;
    let before = f.run_state(&id).await;
    expect_problem(
        f.post(
            &format!("/runs/{id}/revise"),
            json!({"instruction": "x", "stream": true, "intermediateOutput": "edited"}),
        )
        .await,
        400,
        "intermediate_output_not_supported_image",
    )
    .await;
    assert_eq!(f.run_state(&id).await["turnCount"], before["turnCount"]);
    assert_eq!(f.upstream.requests().len(), 1, "no model call");
}

#[tokio::test]
async fn image_runs_reject_final_text() {
    let f = image_fixture().await;
    let id = f.image_run(&[png("cat")]).await;
    expect_problem(
        f.finalize(&id, json!({"finalText": "a caption"})).await,
        400,
        "final_text_not_supported_image",
    )
    .await;
    assert_eq!(f.run_state(&id).await["state"], "Active");
}

#[tokio::test]
async fn an_image_revision_without_a_prior_image_is_no_prior_image_for_revision() {
    let f = image_fixture().await;
    let id = f.image_run(&[]).await;
    expect_problem(
        f.post(
            &format!("/runs/{id}/revise"),
            json!({"instruction": "brighter", "stream": true}),
        )
        .await,
        409,
        "no_prior_image_for_revision",
    )
    .await;
    assert_eq!(f.run_state(&id).await["state"], "Active");
}

#[tokio::test]
async fn a_text_only_revision_on_an_image_run_reports_image_count_zero() {
    let f = image_fixture().await;
    let id = f.image_run(&[png("cat")]).await;
    let events = f.image_revision(&id, &[], json!({})).await;
    assert_eq!(find(&events, "run_completed")["imageCount"], 0);
    // The latest turn made none.
    expect_problem(
        f.get(&format!("/runs/{id}/images/0")).await,
        404,
        "no_image_stored",
    )
    .await;
}

#[tokio::test]
async fn more_than_16_images_in_a_turn_is_image_extraction_overflow_charged() {
    let f = image_fixture().await;
    let images: Vec<Bytes> = (0..17).map(|i| png(&format!("img{i}"))).collect();
    f.upstream
        .push(Scenario::text(["Many"]).with_images(images));
    let events = f.run(json!({"autoFinalize": false})).await;
    let failed = find(&events, "run_failed");
    assert_eq!(failed["reasonCode"], "image_extraction_overflow");
    assert_eq!(failed["charged"], true);
    assert_eq!(f.run_state(&run_id(&events)).await["state"], "Failed");
}

#[tokio::test]
async fn a_generated_image_that_cannot_be_stored_is_image_upload_failed_charged() {
    let f = image_fixture().await;
    // A file where the images' folder would go: every attempt to store one fails.
    let blobs = f.server.state.config().data_dir.join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join("images"), b"in the way").unwrap();
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([png("cat")]));
    let events = f.run(json!({})).await;
    let failed = find(&events, "run_failed");
    assert_eq!(failed["reasonCode"], "image_upload_failed", "{events:?}");
    assert_eq!(failed["charged"], true);
    assert!(failed["costMilliCents"].as_i64().unwrap() > 0);
    assert_eq!(
        find(&events, "record_finalize_skipped")["reasonCode"],
        "image_upload_failed"
    );
    assert_eq!(f.run_state(&run_id(&events)).await["state"], "Failed");
}

#[tokio::test]
async fn a_generated_image_that_is_not_an_image_is_upstream_protocol_error_charged() {
    let f = image_fixture().await;
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([Bytes::from_static(b"not an image")]));
    let events = f.run(json!({"autoFinalize": false})).await;
    let failed = find(&events, "run_failed");
    assert_eq!(failed["reasonCode"], "upstream_protocol_error");
    assert_eq!(failed["charged"], true);
    assert!(f.server.blob_files().is_empty());
}

#[tokio::test]
async fn a_rewind_queues_the_dropped_images_and_the_cleanup_worker_deletes_them() {
    let f = image_fixture().await;
    let id = f.image_run(&[png("a")]).await;
    f.image_revision(&id, &[png("b")], json!({})).await;
    assert_eq!(f.server.blob_files().len(), 2);
    // Rewind to the run and revise again: the first revision's image is dropped.
    let events = f
        .image_revision(&id, &[png("c")], json!({"fromTurn": 0}))
        .await;
    assert_eq!(find(&events, "run_completed")["turnIndex"], 1);
    let engine = f.server.state.engine();
    assert_eq!(engine.clean_blobs().await.unwrap(), 1);
    let names: Vec<String> = f
        .server
        .blob_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // The kept images still read; the queue is empty.
    assert_eq!(
        f.image_bytes(&format!("/runs/{id}/images/0")).await.1,
        png("c").to_vec()
    );
    assert_eq!(engine.clean_blobs().await.unwrap(), 0);
}

#[tokio::test]
async fn a_rewinding_finalize_drops_the_record_images_after_the_turn() {
    let f = image_fixture().await;
    let id = f.image_run(&[png("a")]).await;
    f.image_revision(&id, &[png("b")], json!({})).await;
    let record_id = f.finalized(&id).await;
    assert_eq!(f.record(&record_id).await["imageCount"], 2);
    // Amend with fromTurn 0: same record, the revision and its image gone.
    let r = f.finalize(&id, json!({"fromTurn": 0})).await;
    assert_eq!(r.status(), 200);
    let record = f.record(&record_id).await;
    assert_eq!(record["imageCount"], 1);
    assert_eq!(record["finalCopiedOutput"], "an article");
    assert_eq!(f.server.state.engine().clean_blobs().await.unwrap(), 1);
    assert_eq!(f.server.blob_files().len(), 1);
    assert_eq!(
        f.image_bytes(&format!("/records/{record_id}/image?index=0"))
            .await
            .1,
        png("a").to_vec()
    );
}

#[tokio::test]
async fn reopening_an_image_record_adds_images_and_never_loses_earlier_ones() {
    let f = image_fixture().await;
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([png("a")]));
    let events = f.run(json!({})).await;
    let record_id = finalized_id(&events);
    let id = run_id(&events);
    // A revise of the Finalized run reopens it and, by default, re-finalizes the same record.
    let events = f.image_revision(&id, &[png("b")], json!({})).await;
    assert_eq!(find(&events, "record_finalized")["recordId"], record_id);
    let record = f.record(&record_id).await;
    assert_eq!(record["imageCount"], 2);
    assert_eq!(
        f.image_bytes(&format!("/records/{record_id}/image?index=1"))
            .await
            .1,
        png("b").to_vec()
    );
}

#[tokio::test]
async fn revising_an_image_record_starts_from_its_latest_image() {
    let f = image_fixture().await;
    let id = f.image_run(&[png("a")]).await;
    f.image_revision(&id, &[png("b")], json!({})).await;
    let record_id = f.finalized(&id).await;
    f.upstream
        .push(Scenario::text(["Again"]).with_images([png("c")]));
    let events = f
        .stream(
            &format!("/records/{record_id}/revise"),
            json!({"instruction": "warmer", "stream": true}),
        )
        .await;
    assert_eq!(
        find(&events, "run_completed")["imageCount"],
        1,
        "{events:?}"
    );
    let sent = f.upstream.last_request().unwrap().body.to_string();
    assert!(
        sent.contains(&b64(&png("b"))),
        "the latest image was not sent"
    );
    assert!(!sent.contains(&b64(&png("a"))), "an earlier image was sent");
    // The record, re-finalized, keeps all three.
    assert_eq!(f.record(&record_id).await["imageCount"], 3);
}

#[tokio::test]
async fn deleting_an_image_record_cleans_its_images() {
    let f = image_fixture().await;
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([png("a")]));
    let events = f.run(json!({})).await;
    let record_id = finalized_id(&events);
    let r = f
        .server
        .http
        .delete(f.url(&format!("/records/{record_id}")))
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(f.server.state.engine().clean_blobs().await.unwrap(), 1);
    assert!(f.server.blob_files().is_empty());
    // The run that made it lets go of it too.
    let id = run_id(&events);
    expect_problem(
        f.get(&format!("/runs/{id}/images/0")).await,
        404,
        "no_image_stored",
    )
    .await;
}

#[tokio::test]
async fn a_stored_reference_outside_the_images_is_invalid_image_reference() {
    let f = image_fixture().await;
    f.upstream
        .push(Scenario::text(["A cat"]).with_images([png("a")]));
    let events = f.run(json!({})).await;
    let record_id = finalized_id(&events);
    f.server
        .sql(&format!(
            r#"UPDATE records SET images = '[{{"turn":0,"mimeType":"image/png","blobKey":"../../etc/passwd"}}]' WHERE id = '{record_id}'"#
        ))
        .await;
    expect_problem(
        f.get(&format!("/records/{record_id}/image?index=0")).await,
        404,
        "invalid_image_reference",
    )
    .await;
}

#[tokio::test]
async fn an_image_record_refuses_text_edits_and_a_patch_rewind_drops_later_images() {
    let f = image_fixture().await;
    let id = f.image_run(&[png("a")]).await;
    f.image_revision(&id, &[png("b")], json!({})).await;
    let record_id = f.finalized(&id).await;
    for body in [json!({"output": "a caption"}), json!({"tag": "brighter"})] {
        expect_problem(
            f.patch_record(&record_id, body).await,
            400,
            "final_text_not_supported_image",
        )
        .await;
    }
    assert_eq!(
        f.patch_record(&record_id, json!({"fromTurn": 0}))
            .await
            .status(),
        200
    );
    let record = f.record(&record_id).await;
    assert_eq!(record["imageCount"], 1);
    assert_eq!(record["finalCopiedOutput"], "an article");
    expect_problem(
        f.get(&format!("/records/{record_id}/image?index=1")).await,
        404,
        "image_index_out_of_range",
    )
    .await;
}

#[tokio::test]
async fn a_manual_record_on_an_image_prompt_is_manual_record_modality_not_supported() {
    let f = image_fixture().await;
    expect_problem(
        f.post(
            "/records",
            json!({"promptId": f.prompt, "input": "a cat", "output": "a picture"}),
        )
        .await,
        409,
        "manual_record_modality_not_supported",
    )
    .await;
    let list: Value = f.get("/records").await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}
