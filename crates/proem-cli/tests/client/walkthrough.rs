//! The end-to-end sequence: login → create from manifest → run (streamed) → revise →
//! finalize with tag → records get shows the turns → attachments round-trip.

use proem_testkit::{Scenario, test_model_id};

use super::support::{Env, mode, ok, write};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_manifest_run_revise_finalize_records_and_attachments() {
    let env = Env::start().await;

    // Login saves the URL and key, readable by the user alone.
    let login = env
        .bare()
        .args(["auth", "login", "--url", &env.server.url, "--key", &env.key])
        .output()
        .unwrap();
    ok(&login);
    let credentials = env.config_dir().join("credentials.json");
    assert_eq!(mode(&credentials), 0o600);

    // Create from a manifest; the attachment is uploaded after the prompt exists.
    write(
        env.dir.path(),
        "examples.txt",
        "Input: a long article.\nOutput: three bullets.\n",
    );
    let manifest = format!(
        "name: Article summarizer\n\
         promptText: |\n  Summarize the input in three bullets.\n\
         modelSettings:\n  model_id: {}\n  parameters:\n    style: plain\n\
         attachments:\n  - type: text\n    file: ./examples.txt\n",
        test_model_id()
    );
    let manifest = write(env.dir.path(), "prompt.yaml", &manifest);
    let created = env
        .bare()
        .args([
            "prompts",
            "create",
            "--manifest",
            manifest.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let prompt = ok(&created).trim().to_owned();
    assert!(prompt.starts_with("prm_"), "{prompt}");
    assert!(String::from_utf8_lossy(&created.stderr).contains("attached examples.txt"));

    // Run, streamed, kept open (--no-accept): output on stdout, ids on stderr, an artifact.
    env.upstream
        .push(Scenario::text(["- Proem", " is", " a workspace"]));
    let run = env
        .bare()
        .args([
            "run",
            &prompt,
            "--input",
            "Proem is a prompt workspace.",
            "--no-accept",
        ])
        .output()
        .unwrap();
    assert_eq!(ok(&run), "- Proem is a workspace\n");
    let status = String::from_utf8_lossy(&run.stderr).into_owned();
    let run_id = status
        .split_whitespace()
        .find(|w| w.starts_with("run_"))
        .unwrap_or_else(|| panic!("no run id in: {status}"))
        .to_owned();
    assert!(status.contains("not saved"), "{status}");
    let artifact = env.config_dir().join("runs").join(format!("{run_id}.json"));
    assert_eq!(mode(&artifact), 0o600);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&artifact).unwrap()).unwrap();
    assert_eq!(saved["state"], "Active");
    assert_eq!(saved["output"], "- Proem is a workspace");
    // The upstream saw the input.
    let sent = env.upstream.requests().last().unwrap().body.to_string();
    assert!(sent.contains("Proem is a prompt workspace."), "{sent}");

    // Revise the open run.
    env.upstream
        .push(Scenario::text(["- Proem", " is", " a prompt workspace."]));
    let revised = env
        .bare()
        .args([
            "revise",
            &run_id,
            "--instruction",
            "make it formal",
            "--no-accept",
        ])
        .output()
        .unwrap();
    assert_eq!(ok(&revised), "- Proem is a prompt workspace.\n");

    // Finalize with an edit and a tag; the record id is stdout.
    let finalized = env
        .bare()
        .args([
            "finalize",
            &run_id,
            "--final-text",
            "- Proem is a self-hosted prompt workspace.",
            "--tag",
            "Name what it is",
            "--notes",
            "walkthrough",
        ])
        .output()
        .unwrap();
    let record = ok(&finalized).trim().to_owned();
    assert!(record.starts_with("rec_"), "{record}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&artifact).unwrap()).unwrap();
    assert_eq!(saved["state"], "Finalized");
    assert_eq!(saved["recordId"], record.as_str());

    // records get shows the turns: run, revision, edit with its tag.
    let shown = ok(&env
        .bare()
        .args(["records", "get", &record])
        .output()
        .unwrap());
    assert!(shown.contains("turns (3)"), "{shown}");
    assert!(shown.contains("[0] run"), "{shown}");
    assert!(shown.contains("[1] revision: make it formal"), "{shown}");
    assert!(shown.contains("[2] edit [tag: Name what it is]"), "{shown}");
    assert!(shown.contains("notes: walkthrough"), "{shown}");
    let json = ok(&env
        .bare()
        .args(["records", "get", &record, "--json"])
        .output()
        .unwrap());
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let kinds: Vec<&str> = json["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["run", "revision", "edit"]);
    assert_eq!(
        json["finalCopiedOutput"],
        "- Proem is a self-hosted prompt workspace."
    );

    // Attachments round-trip: list, download, add, delete.
    let listed = ok(&env
        .bare()
        .args(["attachments", "list", &prompt])
        .output()
        .unwrap());
    assert!(listed.contains("examples.txt"), "{listed}");
    let list: serde_json::Value = serde_json::from_str(&ok(&env
        .bare()
        .args(["attachments", "list", &prompt, "--json"])
        .output()
        .unwrap()))
    .unwrap();
    let first = list["items"][0]["id"].as_str().unwrap().to_owned();
    let copy = env.path("copy.txt");
    ok(&env
        .bare()
        .args(["attachments", "get", &first, copy.to_str().unwrap()])
        .output()
        .unwrap());
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        "Input: a long article.\nOutput: three bullets.\n"
    );
    let other = write(env.dir.path(), "style.md", "# Style\nShort sentences.\n");
    let added = ok(&env
        .bare()
        .args([
            "attachments",
            "add",
            &prompt,
            other.to_str().unwrap(),
            "--type",
            "text",
        ])
        .output()
        .unwrap());
    let added = added.trim().to_owned();
    assert!(added.starts_with("att_"), "{added}");
    ok(&env
        .bare()
        .args(["attachments", "delete", &added])
        .output()
        .unwrap());
    let listed = ok(&env
        .bare()
        .args(["attachments", "list", &prompt])
        .output()
        .unwrap());
    assert!(
        listed.contains("examples.txt") && !listed.contains("style.md"),
        "{listed}"
    );

    // Logout forgets the credentials; the next command says how to log in.
    ok(&env.bare().args(["auth", "logout"]).output().unwrap());
    assert!(!credentials.exists());
    let after = env.bare().args(["prompts", "list"]).output().unwrap();
    assert_eq!(after.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&after.stderr).contains("proem auth login"));
}
