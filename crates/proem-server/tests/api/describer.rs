//! The describer (spec v1.3 descriptionMode): Auto versions get a one-sentence description from
//! the configured model after each promptText change; Manual ones are left alone; a job that
//! finishes after a newer change writes nothing.

use std::time::Duration;

use proem_core::catalog::ProviderKind;
use proem_testkit::{Scenario, test_model_id};
use serde_json::{Value, json};

use super::run_support::RunFixture;

async fn fixture() -> RunFixture {
    RunFixture::with(ProviderKind::OpenaiChat, |c| {
        c.describer_model = Some(test_model_id())
    })
    .await
}

async fn version(f: &RunFixture) -> Value {
    let prompt: Value = f
        .get(&format!("/prompts/{}", f.prompt))
        .await
        .json()
        .await
        .unwrap();
    prompt["currentVersion"].clone()
}

/// Polls the current version until `pred` holds (bounded).
async fn wait_for(f: &RunFixture, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let v = version(f).await;
        if pred(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    version(f).await
}

async fn patch_version(f: &RunFixture, body: Value) -> Value {
    let vid = version(f).await["id"].as_str().unwrap().to_owned();
    let r = f
        .server
        .http
        .patch(f.url(&format!("/prompts/{}/versions/{vid}", f.prompt)))
        .header("x-api-key", &f.key)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn an_auto_version_gets_its_description_from_the_describer_model() {
    // The fixture's prompt was created before any scenario was queued: the default answer.
    let f = fixture().await;
    let v = wait_for(&f, |v| !v["description"].is_null()).await;
    assert_eq!(v["description"], "Hello world");
    assert_eq!(v["descriptionMode"], 0);
    let sent = &f.upstream.requests()[0].body.to_string();
    assert!(
        sent.contains("Summarize the input in three bullets."),
        "the prompt text is what gets described"
    );
}

#[tokio::test]
async fn changing_prompt_text_regenerates_an_auto_description() {
    let f = fixture().await;
    wait_for(&f, |v| !v["description"].is_null()).await;
    f.upstream
        .push(Scenario::text(["Translates", " input", " to", " French."]));
    patch_version(&f, json!({"promptText": "Translate the input to French."})).await;
    let v = wait_for(&f, |v| v["description"] == "Translates input to French.").await;
    assert_eq!(v["description"], "Translates input to French.");
}

#[tokio::test]
async fn a_stale_describer_job_writes_nothing() {
    let f = fixture().await;
    wait_for(&f, |v| !v["description"].is_null()).await;
    f.upstream
        .push(Scenario::text(["Old."]).with_time_to_first_token(Duration::from_millis(600)));
    f.upstream.push(Scenario::text(["New."]));
    patch_version(&f, json!({"promptText": "first change"})).await;
    patch_version(&f, json!({"promptText": "second change"})).await;
    wait_for(&f, |v| v["description"] == "New.").await;
    // Let the slow, stale job finish; it must not overwrite the newer description.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(version(&f).await["description"], "New.");
}

#[tokio::test]
async fn a_manual_description_is_never_overwritten() {
    let f = fixture().await;
    wait_for(&f, |v| !v["description"].is_null()).await;
    patch_version(&f, json!({"description": "Mine.", "descriptionMode": 1})).await;
    let calls = f.upstream.requests().len();
    patch_version(&f, json!({"promptText": "changed while manual"})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let v = version(&f).await;
    assert_eq!(v["description"], "Mine.");
    assert_eq!(
        f.upstream.requests().len(),
        calls,
        "no describer call in Manual mode"
    );
}

#[tokio::test]
async fn each_describer_call_is_in_the_usage_log_and_not_billable() {
    let f = fixture().await;
    wait_for(&f, |v| !v["description"].is_null()).await;
    let pool = sqlx::AnyPool::connect(&f.server.db.url).await.unwrap();
    let mut rows: Vec<(String, String, i64, i64, i64, i64, String)> = Vec::new();
    for _ in 0..100 {
        rows = sqlx::query_as(
            "SELECT purpose, user_id, billable, input_tokens, output_tokens, cost_millicents, outcome \
             FROM usage_log WHERE prompt_id = $1",
        )
        .bind(&f.prompt)
        .fetch_all(&pool)
        .await
        .unwrap();
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    pool.close().await;
    // The default answer: 12 tokens in, 2 out, at the test model's prices (rounded up).
    let expected = (12 * 100_000 + 2 * 400_000 + 999_999) / 1_000_000;
    assert_eq!(
        rows,
        [(
            "describer".to_owned(),
            f.user_id.clone(),
            0,
            12,
            2,
            expected,
            "ok".to_owned()
        )]
    );
}
