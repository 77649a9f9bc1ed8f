//! The other client commands, each for people (tables, text) and for machines (`--json`).

use proem_testkit::{Scenario, test_model_id};

use super::support::{Env, PROEM, fails, ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_list_shows_the_catalog_and_json_is_the_api_body() {
    let env = Env::start().await;
    let table = env.ok(&["models", "list"]);
    assert!(table.starts_with("MODEL ID"), "{table}");
    assert!(table.contains(&test_model_id()), "{table}");
    let json = env.json(&["models", "list"]);
    assert_eq!(
        json["recommended_defaults"]["model_id"],
        test_model_id().as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_with_limit_and_cursor_or_fetch_everything_with_all() {
    let env = Env::start().await;
    for name in ["One", "Two", "Three"] {
        env.prompt(name);
    }
    let page = env.json(&["prompts", "list", "--limit", "2"]);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    let rest = env.json(&["prompts", "list", "--limit", "2", "--cursor", &cursor]);
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest.get("nextCursor").is_none());

    let all = env.json(&["prompts", "list", "--limit", "1", "--all"]);
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    assert!(all.get("nextCursor").is_none());

    let out = env.run(&["prompts", "list", "--limit", "2"]);
    let table = ok(&out);
    assert!(table.starts_with("ID"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cursor"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_and_versions_are_authored_from_the_command_line() {
    let env = Env::start().await;
    let prompt = env.prompt("Draft");
    let shown = env.ok(&["prompts", "get", &prompt]);
    assert!(
        shown.contains("Draft") && shown.contains("Summarize the input"),
        "{shown}"
    );

    let patched = env.json(&[
        "prompts",
        "patch",
        &prompt,
        "--name",
        "Final",
        "--abbreviation",
        "FN",
    ]);
    assert_eq!(patched["name"], "Final");
    assert_eq!(patched["abbreviation"], "FN");
    let cleared = env.json(&["prompts", "patch", &prompt, "--clear-abbreviation"]);
    assert!(cleared["abbreviation"].is_null());

    // A new version keeps the current model settings when none are given.
    let v2 = env
        .ok(&[
            "versions",
            "create",
            &prompt,
            "--text",
            "Two bullets.",
            "--version-description",
            "shorter",
        ])
        .trim()
        .to_owned();
    assert!(v2.starts_with("ver_"), "{v2}");
    let listed = env.json(&["versions", "list", &prompt]);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], v2.as_str());
    let v1 = items[1]["id"].as_str().unwrap().to_owned();

    let version = env.json(&["versions", "get", &prompt, &v2]);
    assert_eq!(
        version["modelSettings"]["model_id"],
        test_model_id().as_str()
    );
    let etag = version["etag"].as_str().unwrap().to_owned();
    let patched = env.json(&[
        "versions",
        "patch",
        &prompt,
        &v2,
        "--text",
        "Two short bullets.",
        "--if-match",
        &etag,
    ]);
    assert_eq!(patched["promptText"], "Two short bullets.");
    let stale = env.run(&[
        "versions",
        "patch",
        &prompt,
        &v2,
        "--text",
        "x",
        "--if-match",
        &etag,
    ]);
    fails(&stale, 5, "precondition_failed");

    let switched = env.json(&["prompts", "switch-current", &prompt, &v2]);
    assert_eq!(switched["currentVersionId"], v2.as_str());
    let deleted = env.json(&["prompts", "delete-version", &prompt, &v2]);
    assert_eq!(deleted["newCurrentVersionId"], v1.as_str());

    let table = env.ok(&["versions", "list", &prompt]);
    assert!(table.starts_with('#') && table.contains(&v1), "{table}");

    let gone = env.ok(&["prompts", "delete", &prompt]);
    assert!(gone.is_empty(), "status goes to stderr: {gone}");
    fails(
        &env.run(&["prompts", "get", &prompt]),
        4,
        "prompt_not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_created_listed_patched_and_deleted() {
    let env = Env::start().await;
    let prompt = env.prompt("Examples");
    let record = env
        .ok(&[
            "records", "create", "--prompt", &prompt, "--input", "in", "--output", "out",
        ])
        .trim()
        .to_owned();
    assert!(record.starts_with("rec_"), "{record}");

    // A run saved by auto-finalize is a record too.
    let run = env.run(&["run", &prompt, "--input", "x", "--auto-finalize", "true"]);
    ok(&run);
    let table = env.ok(&["records", "list", "--prompt", &prompt]);
    assert!(
        table.starts_with("ID") && table.contains(&record),
        "{table}"
    );
    assert_eq!(table.lines().count(), 3, "{table}");
    let manual = env.json(&["records", "list", "--prompt", &prompt, "--source", "Manual"]);
    assert_eq!(manual["items"].as_array().unwrap().len(), 1);

    let patched = env.json(&[
        "records", "patch", &record, "--notes", "seed", "--output", "better",
    ]);
    assert_eq!(patched["notes"], "seed");
    assert_eq!(patched["output"], "better");
    let cleared = env.json(&["records", "patch", &record, "--clear-notes"]);
    assert!(cleared["notes"].is_null());

    let image = env.run(&["records", "image", &record, "--output", "x.png"]);
    fails(&image, 4, "no_image_stored");

    env.ok(&["records", "delete", &record]);
    fails(
        &env.run(&["records", "get", &record]),
        4,
        "record_not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revise_from_a_record_and_cancel_an_open_run() {
    let env = Env::start().await;
    let prompt = env.prompt("Revisable");
    let run = env.run(&["run", &prompt, "--input", "x"]);
    ok(&run);
    let err = String::from_utf8_lossy(&run.stderr).into_owned();
    let record = err
        .split_whitespace()
        .find(|w| w.starts_with("rec_"))
        .unwrap_or_else(|| panic!("no record id: {err}"))
        .to_owned();

    env.upstream.push(Scenario::text(["Revised"]));
    let revised = env.run(&["revise", &record, "--instruction", "shorter", "--json"]);
    let lines: Vec<serde_json::Value> = ok(&revised)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let session = &lines[0];
    assert_eq!(session["event"], "run_session");
    assert_eq!(session["data"]["seededFromRecordId"], record.as_str());
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "response.output_text.delta" && l["data"]["delta"] == "Revised")
    );

    let open = env.run(&["run", &prompt, "--input", "y", "--no-accept"]);
    ok(&open);
    let err = String::from_utf8_lossy(&open.stderr).into_owned();
    let run_id = err
        .split_whitespace()
        .find(|w| w.starts_with("run_"))
        .unwrap()
        .to_owned();
    let cancelled = env.json(&["cancel", &run_id]);
    assert_eq!(cancelled["runId"], run_id.as_str());
    let again = env.run(&["finalize", &run_id]);
    assert!(!again.status.success());

    fails(
        &env.run(&["revise", "nope", "--instruction", "x"]),
        2,
        "neither a run id",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_set_auto_finalize_changes_what_a_plain_run_does() {
    let env = Env::start().await;
    let prompt = env.prompt("Defaults");
    let settings = env.json(&["config", "set", "auto-finalize-mcp-runs", "false"]);
    assert_eq!(settings["autoFinalizeMcpRuns"], false);
    let run = env.run(&["run", &prompt, "--input", "x"]);
    ok(&run);
    assert!(String::from_utf8_lossy(&run.stderr).contains("not saved"));
    let human = env.run(&["config", "set", "auto-finalize-mcp-runs", "true"]);
    ok(&human);
    assert!(String::from_utf8_lossy(&human.stderr).contains("= true"));
    fails(
        &env.run(&["config", "set", "auto-finalize-mcp-runs", "maybe"]),
        2,
        "maybe",
    );
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef proem"),
        ("fish", "complete -c proem"),
    ] {
        let out = std::process::Command::new(PROEM)
            .args(["completions", shell])
            .output()
            .unwrap();
        let script = ok(&out);
        assert!(
            script.contains(marker),
            "{shell}: {}",
            &script[..200.min(script.len())]
        );
        assert!(script.contains("finalize"), "{shell}");
    }
}

#[test]
fn help_documents_the_exit_codes_and_the_client_commands() {
    let out = std::process::Command::new(PROEM)
        .arg("--help")
        .output()
        .unwrap();
    let help = ok(&out);
    for expected in [
        "Exit codes:",
        "2  usage",
        "3  authentication",
        "4  not found",
        "5  conflict",
        "6  rate limited",
        "7  server or upstream failure",
        "auth",
        "prompts",
        "run",
        "revise",
        "finalize",
        "records",
        "attachments",
        "completions",
    ] {
        assert!(
            help.contains(expected),
            "`{expected}` not in --help:\n{help}"
        );
    }
    for sub in [
        "run",
        "prompts create",
        "revise",
        "finalize",
        "records patch",
    ] {
        let mut args: Vec<&str> = sub.split(' ').collect();
        args.push("--help");
        let out = std::process::Command::new(PROEM)
            .args(&args)
            .output()
            .unwrap();
        let text = ok(&out);
        assert!(text.contains("--json"), "{sub} --help has no --json");
    }
}
