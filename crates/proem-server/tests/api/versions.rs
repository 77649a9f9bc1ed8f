//! Versions (spec "Endpoints"): history by versionNumber descending with a version-number cursor,
//! read, create (optionally switching atomically), merge-patch with `If-Match`, delete with the
//! switch to the lowest remaining version.

use serde_json::{Value, json};

use super::authoring::{Api, PROMPT_TEXT, invalid_params, ok, param, version_path, versions_path};
use super::support::expect_problem;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

// ── List ─────────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn listing_versions_sorts_by_version_number_descending_with_the_current_version_id() {
    let api = Api::start().await;
    let created = api.create_prompt("History").await;
    let v2 = id(&api.create_version(&created.prompt_id, json!({})).await);
    let v3 = id(&api.create_version(&created.prompt_id, json!({})).await);
    let list = ok(api.get(&versions_path(&created.prompt_id)).await, 200).await;
    assert_eq!(list["currentVersionId"], created.version_id.as_str());
    assert_eq!(list.get("nextCursor"), None);
    let items = list["items"].as_array().unwrap();
    let summary: Vec<(String, i64, bool)> = items
        .iter()
        .map(|v| {
            (
                id(v),
                v["versionNumber"].as_i64().unwrap(),
                v["isCurrent"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (v3, 3, false),
            (v2, 2, false),
            (created.version_id.clone(), 1, true)
        ]
    );
    let mut fields: Vec<&str> = items[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        vec![
            "createdAtUtc",
            "description",
            "descriptionMode",
            "id",
            "isCurrent",
            "updatedAtUtc",
            "versionDescription",
            "versionNumber",
        ]
    );
}

#[tokio::test]
async fn listing_versions_pages_by_version_number_cursor() {
    let api = Api::start().await;
    let created = api.create_prompt("Pages").await;
    for _ in 0..4 {
        api.create_version(&created.prompt_id, json!({})).await;
    }
    let base = versions_path(&created.prompt_id);
    let mut path = format!("{base}?limit=2");
    let mut pages = Vec::new();
    loop {
        let page = ok(api.get(&path).await, 200).await;
        assert_eq!(page["currentVersionId"], created.version_id.as_str());
        let numbers: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["versionNumber"].as_i64().unwrap())
            .collect();
        pages.push(numbers);
        match page.get("nextCursor") {
            Some(c) => path = format!("{base}?limit=2&cursor={}", c.as_str().unwrap()),
            None => break,
        }
    }
    assert_eq!(pages, vec![vec![5, 4], vec![3, 2], vec![1]]);
}

#[tokio::test]
async fn version_cursor_of_one_prompt_on_another_is_cursor_filter_mismatch() {
    let api = Api::start().await;
    let a = api.create_prompt("A").await;
    let b = api.create_prompt("B").await;
    api.create_version(&a.prompt_id, json!({})).await;
    let page = ok(
        api.get(&format!("{}?limit=1", versions_path(&a.prompt_id)))
            .await,
        200,
    )
    .await;
    let cursor = page["nextCursor"].as_str().unwrap();
    let r = api
        .get(&format!(
            "{}?limit=1&cursor={cursor}",
            versions_path(&b.prompt_id)
        ))
        .await;
    expect_problem(r, 400, "cursor_filter_mismatch").await;
}

// ── Get ──────────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn getting_a_version_returns_it_in_full_with_an_etag() {
    let api = Api::start().await;
    let created = api.create_prompt("Full").await;
    let v = api.version(&created.prompt_id, &created.version_id).await;
    let settings = api.settings();
    assert_eq!(
        v,
        json!({
            "id": created.version_id,
            "promptId": created.prompt_id,
            "versionNumber": 1,
            "promptText": PROMPT_TEXT,
            "modelSettings": settings,
            "modelSettingsJson": settings.to_string(),
            "versionDescription": null,
            "description": null,
            "descriptionMode": 0,
            "isCurrent": true,
            "createdAtUtc": v["createdAtUtc"],
            "updatedAtUtc": v["updatedAtUtc"],
            "etag": v["etag"],
        })
    );
    let etag = v["etag"].as_str().unwrap();
    assert!(
        !etag.is_empty()
            && etag
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{etag}"
    );
}

#[tokio::test]
async fn getting_an_unknown_version_or_one_of_another_prompt_is_version_not_found() {
    let api = Api::start().await;
    let created = api.create_prompt("Mine").await;
    let other = api.create_prompt("Other").await;
    for vid in ["ver_0000000000000000", other.version_id.as_str()] {
        let r = api.get(&version_path(&created.prompt_id, vid)).await;
        expect_problem(r, 404, "version_not_found").await;
    }
}

// ── Create ───────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn creating_a_version_returns_201_with_location_and_the_next_version_number() {
    let api = Api::start().await;
    let created = api.create_prompt("Grow").await;
    let r = api
        .post(
            &versions_path(&created.prompt_id),
            &json!({ "promptText": "Second text", "modelSettings": api.settings_with(json!({ "style": "fancy" })),
                     "versionDescription": "fancier" }),
        )
        .await;
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let v = ok(r, 201).await;
    assert_eq!(location, version_path(&created.prompt_id, &id(&v)));
    assert_eq!(v["versionNumber"], 2);
    assert_eq!(v["promptText"], "Second text");
    assert_eq!(v["versionDescription"], "fancier");
    assert_eq!(v["modelSettings"]["parameters"]["style"], "fancy");
    assert_eq!(v["isCurrent"], false);
    assert_eq!(ok(api.get(&location).await, 200).await, v);
}

#[tokio::test]
async fn creating_a_version_with_set_as_current_true_switches_to_it() {
    let api = Api::start().await;
    let created = api.create_prompt("Switch").await;
    let v2 = api
        .create_version(&created.prompt_id, json!({ "setAsCurrent": true }))
        .await;
    assert_eq!(v2["isCurrent"], true);
    let prompt = api.prompt(&created.prompt_id).await;
    assert_eq!(prompt["currentVersionId"], v2["id"]);
    assert_eq!(prompt["currentVersion"], v2);
}

#[tokio::test]
async fn creating_a_version_with_set_as_current_false_leaves_the_current_version_alone() {
    let api = Api::start().await;
    let created = api.create_prompt("Stay").await;
    for body in [json!({ "setAsCurrent": false }), json!({})] {
        let v = api.create_version(&created.prompt_id, body).await;
        assert_eq!(v["isCurrent"], false);
    }
    assert_eq!(
        api.prompt(&created.prompt_id).await["currentVersionId"],
        created.version_id.as_str()
    );
    assert_eq!(api.version_numbers(&created.prompt_id).await, vec![3, 2, 1]);
}

#[tokio::test]
async fn version_numbers_are_not_reused_after_a_delete() {
    let api = Api::start().await;
    let created = api.create_prompt("Numbers").await;
    let v2 = id(&api.create_version(&created.prompt_id, json!({})).await);
    ok(
        api.delete(&version_path(&created.prompt_id, &v2)).await,
        200,
    )
    .await;
    let v3 = api.create_version(&created.prompt_id, json!({})).await;
    assert_eq!(v3["versionNumber"], 3);
    assert_eq!(api.version_numbers(&created.prompt_id).await, vec![3, 1]);
}

#[tokio::test]
async fn creating_a_version_on_an_unknown_prompt_is_prompt_not_found() {
    let api = Api::start().await;
    let r = api
        .post(
            &versions_path("prm_0000000000000000"),
            &json!({ "promptText": PROMPT_TEXT, "modelSettings": api.settings() }),
        )
        .await;
    expect_problem(r, 404, "prompt_not_found").await;
}

#[tokio::test]
async fn concurrent_version_creates_get_distinct_increasing_version_numbers() {
    let api = Api::start().await;
    let created = api.create_prompt("Race").await;
    let path = versions_path(&created.prompt_id);
    let body = json!({ "promptText": PROMPT_TEXT, "modelSettings": api.settings() });
    let responses =
        futures::future::join_all((0..20).map(|_| async { api.post(&path, &body).await })).await;
    let mut numbers = Vec::new();
    for r in responses {
        numbers.push(ok(r, 201).await["versionNumber"].as_i64().unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (2..=21).collect::<Vec<_>>());
    let list = ok(api.get(&path).await, 200).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 21);
}

// ── Patch ────────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn patching_a_version_merges_the_given_fields_and_leaves_the_rest() {
    let api = Api::start().await;
    let created = api.create_prompt("Merge").await;
    let path = version_path(&created.prompt_id, &created.version_id);
    let before = api.version(&created.prompt_id, &created.version_id).await;

    let v = ok(
        api.patch(&path, &json!({ "promptText": "New text" })).await,
        200,
    )
    .await;
    assert_eq!(v["promptText"], "New text");
    assert_eq!(v["modelSettings"], before["modelSettings"]);

    let fancy = api.settings_with(json!({ "style": "fancy", "max_tokens": 256 }));
    let v = ok(
        api.patch(
            &path,
            &json!({ "modelSettings": fancy, "versionDescription": "tuned" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(v["promptText"], "New text");
    assert_eq!(v["modelSettings"], fancy);
    assert_eq!(v["modelSettingsJson"], fancy.to_string());
    assert_eq!(v["versionDescription"], "tuned");

    let v = ok(
        api.patch(&path, &json!({ "versionDescription": null }))
            .await,
        200,
    )
    .await;
    assert_eq!(v["versionDescription"], Value::Null);
    assert_eq!(v["promptText"], "New text");
    assert_eq!(v["versionNumber"], 1);
    assert_eq!(v["createdAtUtc"], before["createdAtUtc"]);
    assert_eq!(
        v,
        api.version(&created.prompt_id, &created.version_id).await
    );
}

#[tokio::test]
async fn patching_a_version_returns_200_and_the_version_with_a_new_etag() {
    let api = Api::start().await;
    let created = api.create_prompt("Etag").await;
    let path = version_path(&created.prompt_id, &created.version_id);
    let before = api.version(&created.prompt_id, &created.version_id).await;
    // Even a patch that changes no field gives a fresh token.
    let mut etags = vec![before["etag"].clone()];
    for body in [json!({ "promptText": "changed" }), json!({})] {
        let v = ok(api.patch(&path, &body).await, 200).await;
        assert!(!etags.contains(&v["etag"]), "{v}");
        assert_eq!(
            v["etag"],
            api.version(&created.prompt_id, &created.version_id).await["etag"]
        );
        etags.push(v["etag"].clone());
    }
}

#[tokio::test]
async fn patching_with_the_versions_etag_in_if_match_succeeds() {
    let api = Api::start().await;
    let created = api.create_prompt("Match").await;
    let path = version_path(&created.prompt_id, &created.version_id);
    let etag = api.version(&created.prompt_id, &created.version_id).await["etag"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = ok(
        api.patch_if_match(&path, &json!({ "promptText": "bare" }), Some(&etag))
            .await,
        200,
    )
    .await;
    assert_eq!(v["promptText"], "bare");
    // The quoted form of the new token works too.
    let quoted = format!("\"{}\"", v["etag"].as_str().unwrap());
    let v = ok(
        api.patch_if_match(&path, &json!({ "promptText": "quoted" }), Some(&quoted))
            .await,
        200,
    )
    .await;
    assert_eq!(v["promptText"], "quoted");
}

#[tokio::test]
async fn patching_with_a_stale_etag_is_precondition_failed_and_changes_nothing() {
    let api = Api::start().await;
    let created = api.create_prompt("Stale").await;
    let path = version_path(&created.prompt_id, &created.version_id);
    let stale = api.version(&created.prompt_id, &created.version_id).await["etag"]
        .as_str()
        .unwrap()
        .to_owned();
    let current = ok(
        api.patch(&path, &json!({ "promptText": "theirs" })).await,
        200,
    )
    .await;
    let r = api
        .patch_if_match(&path, &json!({ "promptText": "mine" }), Some(&stale))
        .await;
    expect_problem(r, 412, "precondition_failed").await;
    assert_eq!(
        api.version(&created.prompt_id, &created.version_id).await,
        current
    );
}

#[tokio::test]
async fn patching_with_a_malformed_if_match_is_precondition_failed() {
    let api = Api::start().await;
    let created = api.create_prompt("Malformed").await;
    let path = version_path(&created.prompt_id, &created.version_id);
    let before = api.version(&created.prompt_id, &created.version_id).await;
    for token in ["not-hex", "ABCDEF", "\"\""] {
        let r = api
            .patch_if_match(&path, &json!({ "promptText": "x" }), Some(token))
            .await;
        expect_problem(r, 412, "precondition_failed").await;
    }
    assert_eq!(
        api.version(&created.prompt_id, &created.version_id).await,
        before
    );
}

#[tokio::test]
async fn patching_prompt_text_or_model_settings_to_null_is_invalid_request() {
    let api = Api::start().await;
    let created = api.create_prompt("Required").await;
    let path = version_path(&created.prompt_id, &created.version_id);
    let before = api.version(&created.prompt_id, &created.version_id).await;
    for field in ["promptText", "modelSettings"] {
        let r = api
            .patch(&path, &json!({ field: null, "versionDescription": "x" }))
            .await;
        let problem = expect_problem(r, 400, "invalid_request").await;
        assert_eq!(
            invalid_params(&problem),
            vec![param(field, "required_field_clear")]
        );
    }
    assert_eq!(
        api.version(&created.prompt_id, &created.version_id).await,
        before
    );
}

#[tokio::test]
async fn patching_a_field_a_version_does_not_have_is_invalid_request() {
    let api = Api::start().await;
    let created = api.create_prompt("Unknown field").await;
    let path = version_path(&created.prompt_id, &created.version_id);
    let r = api
        .patch(&path, &json!({ "isCurrent": true, "promptText": "x" }))
        .await;
    let problem = expect_problem(r, 400, "invalid_request").await;
    assert_eq!(
        invalid_params(&problem),
        vec![param("isCurrent", "unknown_field")]
    );
    assert_eq!(
        api.version(&created.prompt_id, &created.version_id).await["promptText"],
        PROMPT_TEXT
    );
}

#[tokio::test]
async fn patching_an_unknown_version_is_version_not_found() {
    let api = Api::start().await;
    let created = api.create_prompt("Missing").await;
    let r = api
        .patch(
            &version_path(&created.prompt_id, "ver_0000000000000000"),
            &json!({ "promptText": "x" }),
        )
        .await;
    expect_problem(r, 404, "version_not_found").await;
}

// ── Delete ───────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn deleting_a_non_current_version_returns_200_and_keeps_the_current_version() {
    let api = Api::start().await;
    let created = api.create_prompt("Prune").await;
    let v2 = id(&api.create_version(&created.prompt_id, json!({})).await);
    let r = api.delete(&version_path(&created.prompt_id, &v2)).await;
    assert_eq!(
        ok(r, 200).await,
        json!({ "promptId": created.prompt_id, "versionId": v2, "status": "deleted" })
    );
    let prompt = api.prompt(&created.prompt_id).await;
    assert_eq!(prompt["currentVersionId"], created.version_id.as_str());
    assert_eq!(api.version_numbers(&created.prompt_id).await, vec![1]);
}

#[tokio::test]
async fn deleting_the_current_version_switches_to_the_lowest_remaining() {
    let api = Api::start().await;
    let created = api.create_prompt("Auto-switch").await;
    let v2 = id(&api.create_version(&created.prompt_id, json!({})).await);
    let v3 = id(&api
        .create_version(&created.prompt_id, json!({ "setAsCurrent": true }))
        .await);
    let r = api.delete(&version_path(&created.prompt_id, &v3)).await;
    // The lowest remaining is version 1, not the next lower one (version 2).
    assert_eq!(
        ok(r, 200).await,
        json!({ "promptId": created.prompt_id, "versionId": v3, "status": "deleted",
                "newCurrentVersionId": created.version_id })
    );
    let prompt = api.prompt(&created.prompt_id).await;
    assert_eq!(prompt["currentVersionId"], created.version_id.as_str());
    assert_eq!(prompt["currentVersionStatus"], "ok");
    assert_eq!(prompt["currentVersion"]["versionNumber"], 1);
    // And once version 1 is deleted as current too, version 2 takes over.
    let r = api
        .delete(&version_path(&created.prompt_id, &created.version_id))
        .await;
    assert_eq!(ok(r, 200).await["newCurrentVersionId"], v2.as_str());
    assert_eq!(
        api.prompt(&created.prompt_id).await["currentVersionId"],
        v2.as_str()
    );
}

#[tokio::test]
async fn deleting_the_only_version_is_cannot_delete_only_version() {
    let api = Api::start().await;
    let created = api.create_prompt("Lonely").await;
    let v2 = id(&api.create_version(&created.prompt_id, json!({})).await);
    ok(
        api.delete(&version_path(&created.prompt_id, &v2)).await,
        200,
    )
    .await;
    // Version 1 is now the only live version (a deleted sibling does not count).
    let r = api
        .delete(&version_path(&created.prompt_id, &created.version_id))
        .await;
    expect_problem(r, 409, "cannot_delete_only_version").await;
    let prompt = api.prompt(&created.prompt_id).await;
    assert_eq!(prompt["currentVersionId"], created.version_id.as_str());
    assert_eq!(prompt["currentVersionStatus"], "ok");
    assert_eq!(api.version_numbers(&created.prompt_id).await, vec![1]);
}

#[tokio::test]
async fn deleted_version_reads_and_writes_are_version_not_found() {
    let api = Api::start().await;
    let created = api.create_prompt("Gone").await;
    let v2 = id(&api.create_version(&created.prompt_id, json!({})).await);
    let path = version_path(&created.prompt_id, &v2);
    ok(api.delete(&path).await, 200).await;
    expect_problem(api.get(&path).await, 404, "version_not_found").await;
    expect_problem(
        api.patch(&path, &json!({ "promptText": "x" })).await,
        404,
        "version_not_found",
    )
    .await;
    expect_problem(api.delete(&path).await, 404, "version_not_found").await;
    assert_eq!(api.version_numbers(&created.prompt_id).await, vec![1]);
}

#[tokio::test]
async fn deleting_a_version_through_another_prompt_is_version_not_found() {
    let api = Api::start().await;
    let a = api.create_prompt("A").await;
    let b = api.create_prompt("B").await;
    api.create_version(&b.prompt_id, json!({})).await;
    let r = api.delete(&version_path(&a.prompt_id, &b.version_id)).await;
    expect_problem(r, 404, "version_not_found").await;
    assert_eq!(api.version_numbers(&b.prompt_id).await, vec![2, 1]);
}
