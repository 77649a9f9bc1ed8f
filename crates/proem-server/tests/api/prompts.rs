//! Prompts (spec "Endpoints"; v1.3 changelog): list newest first with a cursor, read with the
//! current version, create with the first version, merge-patch `name` and `abbreviation`, switch
//! the current version, soft-delete.

use serde_json::{Value, json};

use super::authoring::{
    Api, PROMPT_TEXT, PROMPTS, ids, invalid_params, ok, param, prompt_path, version_path,
    versions_path,
};
use super::support::expect_problem;

fn keys(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn is_utc_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.ends_with('Z')
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

// ── List ─────────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn listing_prompts_returns_the_newest_first() {
    let api = Api::start().await;
    let a = api.create_prompt("First").await.prompt_id;
    let b = api.create_prompt("Second").await.prompt_id;
    let c = api.create_prompt("Third").await.prompt_id;
    assert_eq!(api.prompt_ids().await, vec![c, b, a]);
}

#[tokio::test]
async fn listing_prompts_follows_next_cursor_until_it_is_absent() {
    let api = Api::start().await;
    let mut created = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        created.push(api.create_prompt(name).await.prompt_id);
    }
    created.reverse();
    let mut seen = Vec::new();
    let mut path = format!("{PROMPTS}?limit=2");
    let mut pages = 0;
    loop {
        let page = ok(api.get(&path).await, 200).await;
        pages += 1;
        seen.extend(ids(&page));
        match page.get("nextCursor") {
            Some(cursor) => {
                path = format!("{PROMPTS}?limit=2&cursor={}", cursor.as_str().unwrap());
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
}

#[tokio::test]
async fn list_items_are_the_slim_prompt_dto() {
    let api = Api::start().await;
    let created = api.create_prompt("Slim").await;
    let page = ok(api.get(PROMPTS).await, 200).await;
    assert_eq!(keys(&page), vec!["items"]);
    let item = &page["items"][0];
    assert_eq!(
        keys(item),
        vec![
            "abbreviation",
            "createdAtUtc",
            "currentVersionId",
            "description",
            "exposeAsMcpTool",
            "id",
            "mcpToolName",
            "name",
            "outputModality",
            "updatedAtUtc",
        ]
    );
    assert_eq!(item["id"], created.prompt_id.as_str());
    assert_eq!(item["name"], "Slim");
    assert_eq!(item["abbreviation"], Value::Null);
    assert_eq!(item["currentVersionId"], created.version_id.as_str());
    assert_eq!(item["description"], Value::Null);
    assert_eq!(item["outputModality"], "text");
    assert_eq!(item["exposeAsMcpTool"], false);
    assert_eq!(item["mcpToolName"], Value::Null);
    assert!(is_utc_timestamp(&item["createdAtUtc"]), "{item}");
    assert!(is_utc_timestamp(&item["updatedAtUtc"]), "{item}");
}

#[tokio::test]
async fn listing_prompts_shows_only_the_callers_own() {
    let api = Api::start().await;
    api.create_prompt("Mine").await;
    let stranger = api.stranger().await;
    let r = api
        .server
        .http
        .get(api.server.at(PROMPTS))
        .header("x-api-key", stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(ok(r, 200).await, json!({ "items": [] }));
}

// ── Get ──────────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn getting_a_prompt_includes_its_current_version_with_status_ok() {
    let api = Api::start().await;
    let created = api.create_prompt("Detailed").await;
    let prompt = api.prompt(&created.prompt_id).await;
    assert_eq!(prompt["id"], created.prompt_id.as_str());
    assert_eq!(prompt["name"], "Detailed");
    assert_eq!(prompt["currentVersionId"], created.version_id.as_str());
    assert_eq!(prompt["currentVersionStatus"], "ok");
    assert_eq!(prompt["outputModality"], "text");
    assert_eq!(prompt["exposeAsMcpTool"], false);
    assert_eq!(prompt["mcpToolName"], Value::Null);
    let current = &prompt["currentVersion"];
    assert_eq!(current["id"], created.version_id.as_str());
    assert_eq!(current["promptId"], created.prompt_id.as_str());
    assert_eq!(current["versionNumber"], 1);
    assert_eq!(current["promptText"], PROMPT_TEXT);
    assert_eq!(current["modelSettings"], api.settings());
    assert_eq!(current["isCurrent"], true);
    assert_eq!(
        *current,
        api.version(&created.prompt_id, &created.version_id).await
    );
}

#[tokio::test]
async fn getting_an_unknown_prompt_is_prompt_not_found() {
    let api = Api::start().await;
    let r = api.get(&prompt_path("prm_0000000000000000")).await;
    expect_problem(r, 404, "prompt_not_found").await;
}

#[tokio::test]
async fn another_users_prompt_is_prompt_not_found() {
    let api = Api::start().await;
    let created = api.create_prompt("Private").await;
    let stranger = api.stranger().await;
    let r = api
        .server
        .http
        .get(api.server.at(&prompt_path(&created.prompt_id)))
        .header("x-api-key", stranger)
        .send()
        .await
        .unwrap();
    expect_problem(r, 404, "prompt_not_found").await;
}

// ── Create ───────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn creating_a_prompt_returns_201_with_location_and_the_first_version() {
    let api = Api::start().await;
    let r = api
        .post(
            PROMPTS,
            &json!({ "name": "New", "promptText": PROMPT_TEXT, "modelSettings": api.settings(),
                     "abbreviation": "NEW", "versionDescription": "first cut" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let body = ok(r, 201).await;
    let prompt_id = body["promptId"].as_str().unwrap();
    let version_id = body["currentVersionId"].as_str().unwrap();
    assert_eq!(
        body,
        json!({ "promptId": prompt_id, "currentVersionId": version_id, "versionNumber": 1 })
    );
    assert_eq!(location, prompt_path(prompt_id));
    let prompt = ok(api.get(&location).await, 200).await;
    assert_eq!(prompt["name"], "New");
    assert_eq!(prompt["abbreviation"], "NEW");
    assert_eq!(prompt["currentVersion"]["versionDescription"], "first cut");
    assert_eq!(api.version_numbers(prompt_id).await, vec![1]);
}

#[tokio::test]
async fn creating_a_prompt_trims_the_name() {
    let api = Api::start().await;
    let created = api.create_prompt("  Padded name \n").await;
    assert_eq!(api.prompt(&created.prompt_id).await["name"], "Padded name");
}

#[tokio::test]
async fn creating_a_prompt_with_a_description_is_invalid_request() {
    let api = Api::start().await;
    let r = api
        .post(
            PROMPTS,
            &json!({ "name": "Old client", "promptText": PROMPT_TEXT,
                     "modelSettings": api.settings(), "description": "v1.2 field" }),
        )
        .await;
    let problem = expect_problem(r, 400, "invalid_request").await;
    assert_eq!(
        invalid_params(&problem),
        vec![param("description", "unknown_field")]
    );
    assert_eq!(api.prompt_ids().await, Vec::<String>::new());
}

#[tokio::test]
async fn creating_a_prompt_without_a_required_field_is_invalid_request_naming_it() {
    let api = Api::start().await;
    for missing in ["name", "promptText", "modelSettings"] {
        let mut body =
            json!({ "name": "N", "promptText": PROMPT_TEXT, "modelSettings": api.settings() });
        body.as_object_mut().unwrap().remove(missing);
        let problem = expect_problem(api.post(PROMPTS, &body).await, 400, "invalid_request").await;
        assert_eq!(invalid_params(&problem), vec![param(missing, "required")]);
    }
    assert_eq!(api.prompt_ids().await, Vec::<String>::new());
}

// ── Patch ────────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn patching_a_prompt_sets_name_and_abbreviation() {
    let api = Api::start().await;
    let created = api.create_prompt("Before").await;
    let path = prompt_path(&created.prompt_id);
    let patched = ok(
        api.patch(&path, &json!({ "name": "After", "abbreviation": "AFT" }))
            .await,
        200,
    )
    .await;
    assert_eq!(patched["name"], "After");
    assert_eq!(patched["abbreviation"], "AFT");
    assert_eq!(patched["currentVersionStatus"], "ok");
    let stored = api.prompt(&created.prompt_id).await;
    assert_eq!(stored, patched);
}

#[tokio::test]
async fn patching_a_prompt_leaves_absent_keys_untouched_and_null_clears() {
    let api = Api::start().await;
    let created = api.create_prompt("Keep").await;
    let path = prompt_path(&created.prompt_id);
    ok(api.patch(&path, &json!({ "abbreviation": "K" })).await, 200).await;
    let untouched = ok(api.patch(&path, &json!({})).await, 200).await;
    assert_eq!(untouched["name"], "Keep");
    assert_eq!(untouched["abbreviation"], "K");
    let cleared = ok(
        api.patch(&path, &json!({ "abbreviation": null })).await,
        200,
    )
    .await;
    assert_eq!(cleared["name"], "Keep");
    assert_eq!(cleared["abbreviation"], Value::Null);
}

#[tokio::test]
async fn patching_a_prompts_name_to_null_is_invalid_request() {
    let api = Api::start().await;
    let created = api.create_prompt("Named").await;
    let path = prompt_path(&created.prompt_id);
    let r = api
        .patch(&path, &json!({ "name": null, "abbreviation": "X" }))
        .await;
    let problem = expect_problem(r, 400, "invalid_request").await;
    assert_eq!(
        invalid_params(&problem),
        vec![param("name", "required_field_clear")]
    );
    let prompt = api.prompt(&created.prompt_id).await;
    assert_eq!(prompt["name"], "Named");
    assert_eq!(prompt["abbreviation"], Value::Null);
}

#[tokio::test]
async fn patching_prompt_fields_other_than_name_and_abbreviation_is_invalid_request() {
    let api = Api::start().await;
    let created = api.create_prompt("Strict").await;
    let path = prompt_path(&created.prompt_id);
    let before = api.prompt(&created.prompt_id).await;
    for field in [
        "description",
        "promptText",
        "modelSettings",
        "currentVersionId",
        "exposeAsMcpTool",
    ] {
        let r = api
            .patch(&path, &json!({ "name": "Changed", field: "x" }))
            .await;
        let problem = expect_problem(r, 400, "invalid_request").await;
        assert_eq!(
            invalid_params(&problem),
            vec![param(field, "unknown_field")],
            "{field}"
        );
    }
    assert_eq!(api.prompt(&created.prompt_id).await, before);
}

#[tokio::test]
async fn patching_an_unknown_prompt_is_prompt_not_found() {
    let api = Api::start().await;
    let r = api
        .patch(
            &prompt_path("prm_0000000000000000"),
            &json!({ "name": "x" }),
        )
        .await;
    expect_problem(r, 404, "prompt_not_found").await;
}

// ── Current version ──────────────────────────────────────────────────────────────────────────

fn current_version_path(prompt_id: &str) -> String {
    format!("{}/current-version", prompt_path(prompt_id))
}

#[tokio::test]
async fn switching_the_current_version_returns_the_stored_current_version_id() {
    let api = Api::start().await;
    let created = api.create_prompt("Switch").await;
    let v2 = api.create_version(&created.prompt_id, json!({})).await;
    let v2 = v2["id"].as_str().unwrap();
    let r = api
        .put(
            &current_version_path(&created.prompt_id),
            &json!({ "versionId": v2 }),
        )
        .await;
    assert_eq!(
        ok(r, 200).await,
        json!({ "promptId": created.prompt_id, "currentVersionId": v2 })
    );
    let prompt = api.prompt(&created.prompt_id).await;
    assert_eq!(prompt["currentVersionId"], v2);
    assert_eq!(prompt["currentVersion"]["id"], v2);
    assert_eq!(prompt["currentVersion"]["isCurrent"], true);
    let v1 = api.version(&created.prompt_id, &created.version_id).await;
    assert_eq!(v1["isCurrent"], false);
}

#[tokio::test]
async fn switching_to_an_unknown_version_is_version_not_found_and_changes_nothing() {
    let api = Api::start().await;
    let created = api.create_prompt("Switch").await;
    let other = api.create_prompt("Other").await;
    let path = current_version_path(&created.prompt_id);
    for version_id in ["ver_0000000000000000", other.version_id.as_str()] {
        let r = api.put(&path, &json!({ "versionId": version_id })).await;
        expect_problem(r, 404, "version_not_found").await;
    }
    assert_eq!(
        api.prompt(&created.prompt_id).await["currentVersionId"],
        created.version_id.as_str()
    );
}

#[tokio::test]
async fn switching_to_a_deleted_version_is_version_not_found() {
    let api = Api::start().await;
    let created = api.create_prompt("Switch").await;
    let v2 = api.create_version(&created.prompt_id, json!({})).await;
    let v2 = v2["id"].as_str().unwrap();
    ok(api.delete(&version_path(&created.prompt_id, v2)).await, 200).await;
    let r = api
        .put(
            &current_version_path(&created.prompt_id),
            &json!({ "versionId": v2 }),
        )
        .await;
    expect_problem(r, 404, "version_not_found").await;
    assert_eq!(
        api.prompt(&created.prompt_id).await["currentVersionId"],
        created.version_id.as_str()
    );
}

#[tokio::test]
async fn switching_without_a_version_id_is_invalid_request() {
    let api = Api::start().await;
    let created = api.create_prompt("Switch").await;
    let r = api
        .put(&current_version_path(&created.prompt_id), &json!({}))
        .await;
    let problem = expect_problem(r, 400, "invalid_request").await;
    assert_eq!(
        invalid_params(&problem),
        vec![param("versionId", "required")]
    );
}

// ── Delete ───────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn deleting_a_prompt_returns_its_id_and_status_deleted() {
    let api = Api::start().await;
    let created = api.create_prompt("Doomed").await;
    let r = api.delete(&prompt_path(&created.prompt_id)).await;
    assert_eq!(
        ok(r, 200).await,
        json!({ "promptId": created.prompt_id, "status": "deleted" })
    );
}

#[tokio::test]
async fn deleting_a_deleted_prompt_again_returns_the_same_200() {
    let api = Api::start().await;
    let created = api.create_prompt("Doomed").await;
    let path = prompt_path(&created.prompt_id);
    let first = ok(api.delete(&path).await, 200).await;
    let second = ok(api.delete(&path).await, 200).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn deleted_prompt_and_its_versions_read_as_prompt_not_found() {
    let api = Api::start().await;
    let created = api.create_prompt("Doomed").await;
    ok(api.delete(&prompt_path(&created.prompt_id)).await, 200).await;
    for path in [
        prompt_path(&created.prompt_id),
        versions_path(&created.prompt_id),
        version_path(&created.prompt_id, &created.version_id),
    ] {
        expect_problem(api.get(&path).await, 404, "prompt_not_found").await;
    }
}

#[tokio::test]
async fn deleted_prompt_refuses_writes_with_prompt_not_found() {
    let api = Api::start().await;
    let created = api.create_prompt("Doomed").await;
    let (pid, vid) = (&created.prompt_id, &created.version_id);
    ok(api.delete(&prompt_path(pid)).await, 200).await;
    let body = json!({ "promptText": PROMPT_TEXT, "modelSettings": api.settings() });
    let refused = [
        api.patch(&prompt_path(pid), &json!({ "name": "x" })).await,
        api.post(&versions_path(pid), &body).await,
        api.put(&current_version_path(pid), &json!({ "versionId": vid }))
            .await,
        api.patch(&version_path(pid, vid), &json!({ "promptText": "x" }))
            .await,
        api.delete(&version_path(pid, vid)).await,
    ];
    for r in refused {
        expect_problem(r, 404, "prompt_not_found").await;
    }
}

#[tokio::test]
async fn deleted_prompt_leaves_the_list() {
    let api = Api::start().await;
    let kept = api.create_prompt("Kept").await;
    let doomed = api.create_prompt("Doomed").await;
    ok(api.delete(&prompt_path(&doomed.prompt_id)).await, 200).await;
    assert_eq!(api.prompt_ids().await, vec![kept.prompt_id]);
}

#[tokio::test]
async fn deleting_an_unknown_or_another_users_prompt_is_prompt_not_found() {
    let api = Api::start().await;
    let r = api.delete(&prompt_path("prm_0000000000000000")).await;
    expect_problem(r, 404, "prompt_not_found").await;
    let created = api.create_prompt("Mine").await;
    let stranger = api.stranger().await;
    let r = api
        .server
        .http
        .delete(api.server.at(&prompt_path(&created.prompt_id)))
        .header("x-api-key", stranger)
        .send()
        .await
        .unwrap();
    expect_problem(r, 404, "prompt_not_found").await;
    assert_eq!(
        api.prompt(&created.prompt_id).await["currentVersionStatus"],
        "ok"
    );
}

#[tokio::test]
async fn concurrent_deletes_of_one_prompt_all_return_the_same_200() {
    let api = Api::start().await;
    let created = api.create_prompt("Raced").await;
    let path = prompt_path(&created.prompt_id);
    let responses =
        futures::future::join_all((0..20).map(|_| async { api.delete(&path).await })).await;
    for r in responses {
        assert_eq!(
            ok(r, 200).await,
            json!({ "promptId": created.prompt_id, "status": "deleted" })
        );
    }
    assert_eq!(api.prompt_ids().await, Vec::<String>::new());
}
