//! Image-output runs from the command line (spec "SSE protocol" image notes, "CLI run
//! --output-dir"): `--output-dir` saves the images a turn made, byte for byte; `records image`
//! reads them back from the record; and the stream's inline base64 never reaches the terminal.

use std::path::Path;

use base64::Engine as _;
use proem_testkit::Scenario;
use serde_json::Value;

use super::support::{Env, ok, stderr};

/// A PNG as the fake model makes it: the magic bytes (enough for the server's sniffing), a
/// marker, and a few KB of filler so its base64 is as conspicuous as a real image's.
fn png(marker: &str) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(marker.as_bytes());
    bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(31) % 251) as u8));
    bytes
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Queues a model answer of one line of text and `images`.
fn queue(env: &Env, text: &str, images: &[&[u8]]) {
    env.upstream
        .push(Scenario::text([text]).with_images(images.iter().map(|i| i.to_vec().into())));
}

/// Asserts that no trace of an image's base64 is in `text`: neither its start, common to every
/// PNG, nor any of it.
fn assert_no_base64(text: &str, images: &[&[u8]]) {
    assert!(!text.contains("iVBORw0KGgo"), "base64 of a PNG: {text}");
    for image in images {
        assert!(
            !text.contains(&b64(image)[40..120]),
            "an image's base64: {text}"
        );
    }
}

/// The `--json` lines of a stream.
fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn event<'a>(events: &'a [Value], name: &str) -> &'a Value {
    &events
        .iter()
        .find(|e| e["event"] == name)
        .unwrap_or_else(|| panic!("no {name} in {events:?}"))["data"]
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_output_dir_saves_the_exact_image_bytes_the_model_made() {
    let env = Env::images().await;
    let prompt = env.prompt("Cats");
    let (a, b) = (png("first"), png("second"));
    queue(&env, "A cat", &[&a, &b]);
    // DIR does not exist yet: it is created.
    let dir = env.path("out/cats");
    let out = env.run(&[
        "run",
        &prompt,
        "--input",
        "draw a cat",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    let stdout = ok(&out);
    let err = stderr(&out);
    assert_eq!(stdout.trim(), "A cat");

    let run = dir
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find_map(|name| name.strip_suffix("-0-0.png").map(str::to_owned))
        .unwrap_or_else(|| panic!("no <runId>-0-0.png in {}", dir.display()));
    assert!(run.starts_with("run_"), "{run}");
    let (first, second) = (
        dir.join(format!("{run}-0-0.png")),
        dir.join(format!("{run}-0-1.png")),
    );
    assert_eq!(read(&first), a);
    assert_eq!(read(&second), b);
    // Each saved path is printed.
    for path in [&first, &second] {
        assert!(err.contains(path.to_str().unwrap()), "{err}");
    }
    assert_no_base64(&format!("{stdout}{err}"), &[&a, &b]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_json_lists_the_saved_images_and_leaves_out_the_inline_base64() {
    let env = Env::images().await;
    let prompt = env.prompt("Cats");
    let a = png("json");
    queue(&env, "A cat", &[&a]);
    let dir = env.path("json-out");
    let stdout = env.ok(&[
        "run",
        &prompt,
        "--input",
        "draw a cat",
        "--output-dir",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert_no_base64(&stdout, &[&a]);
    let events = events(&stdout);
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert!(names.contains(&"client_hint"), "{names:?}");
    // Partial images are dropped; the finished item keeps its shape, its result nulled.
    assert!(
        !names.iter().any(|n| n.contains("partial_image")),
        "{names:?}"
    );
    let done = events
        .iter()
        .find(|e| e["data"]["item"]["type"] == "image_generation_call")
        .unwrap_or_else(|| panic!("no image item in {names:?}"));
    assert_eq!(done["data"]["item"]["result"], Value::Null);
    assert_eq!(event(&events, "run_completed")["imageCount"], 1);

    let saved = event(&events, "images_saved");
    let run = event(&events, "run_session")["runId"].as_str().unwrap();
    assert_eq!(saved["runId"], run);
    let expected = dir.join(format!("{run}-0-0.png"));
    assert_eq!(saved["savedImages"], serde_json::json!([expected]));
    assert_eq!(read(&expected), a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_image_after_finalize_returns_the_bytes_of_every_turn() {
    let env = Env::images().await;
    let prompt = env.prompt("Cats");
    let (a, b) = (png("cat"), png("formal cat"));
    queue(&env, "A cat", &[&a]);
    let events = events(&env.ok(&["run", &prompt, "--input", "a cat", "--json"]));
    let record = event(&events, "record_finalized")["recordId"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = event(&events, "run_session")["runId"]
        .as_str()
        .unwrap()
        .to_owned();

    // A revision saved with --output-dir is named after its turn, and re-finalizes the record.
    queue(&env, "Edited", &[&b]);
    let dir = env.path("revised");
    let out = env.run(&[
        "revise",
        &run,
        "--instruction",
        "make it formal",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert_no_base64(&format!("{}{}", ok(&out), stderr(&out)), &[&a, &b]);
    assert_eq!(read(&dir.join(format!("{run}-1-0.png"))), b);

    let shown = env.json(&["records", "get", &record]);
    assert_eq!(shown["imageCount"], 2);
    assert_eq!(shown["outputText"], Value::Null);
    for (index, expected) in [&a, &b].into_iter().enumerate() {
        let file = env.path(&format!("record-{index}.png"));
        let out = env.run(&[
            "records",
            "image",
            &record,
            "--index",
            &index.to_string(),
            "--output",
            file.to_str().unwrap(),
        ]);
        assert!(stderr(&out).contains("wrote"), "{}", stderr(&out));
        ok(&out);
        assert_eq!(&read(&file), expected);
    }
    // Piped stdout takes the raw bytes.
    let piped = env.run(&["records", "image", &record, "--index", "1", "--output", "-"]);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(piped.stdout, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_run_without_output_dir_says_how_to_fetch_its_images() {
    let env = Env::images().await;
    let prompt = env.prompt("Cats");
    let a = png("unsaved");
    queue(&env, "A cat", &[&a]);
    let out = env.run(&["run", &prompt, "--input", "a cat"]);
    let stdout = ok(&out);
    let err = stderr(&out);
    assert_eq!(stdout.trim(), "A cat");
    assert!(err.contains("1 made by this turn, not saved"), "{err}");
    assert!(err.contains("--output-dir DIR"), "{err}");
    assert!(err.contains("proem records image rec_"), "{err}");
    assert_no_base64(&format!("{stdout}{err}"), &[&a]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_and_revise_help_explain_output_dir() {
    let env = Env::start().await;
    for command in ["run", "revise"] {
        let help = env.ok(&[command, "--help"]);
        assert!(help.contains("--output-dir <DIR>"), "{help}");
        assert!(help.contains("<runId>-<turnIndex>-<n>"), "{help}");
        assert!(help.contains("savedImages"), "{help}");
    }
}
