//! The images of an image-output run (spec "SSE protocol", image notes): `--output-dir` of
//! `proem run` and `proem revise` saves the ones the turn made, fetched from
//! `GET /runs/{runId}/images/{n}` once the stream ends in `run_completed`; and the base64 copies
//! the stream relays inline are kept off the terminal.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use serde_json::{Value, json};

use crate::client::Call;
use crate::commands::{Ctx, seg};
use crate::stream::Outcome;

/// Where `proem run` and `proem revise` save the images the model makes.
#[derive(Debug, Clone, Args)]
pub struct OutputDirArgs {
    /// Save the images this turn makes (image-output prompts) into DIR.
    ///
    /// DIR is created if missing; each image is written as <runId>-<turnIndex>-<n>.<png|jpg|webp>
    /// and its path printed on stderr (under --json, an `images_saved` line whose `savedImages`
    /// lists the paths). Without it the images stay on the server: `proem records image <rec_…>
    /// --index N --output FILE` fetches one from the record. Under --json the stream's inline
    /// base64 copies of the images are always left out (partial_image events dropped, image
    /// `result` and `partial_image_b64` fields set to null).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

/// Fetches each image of the outcome's turn into `dir`, pushing every path written onto `saved`,
/// so the ones written before a failure are still reported. Nothing to do unless the run
/// completed with images.
pub async fn save(
    ctx: &Ctx,
    outcome: &Outcome,
    dir: &Path,
    saved: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let (Some(run_id), Some(turn)) = (&outcome.run_id, outcome.turn_index) else {
        return Ok(());
    };
    if !outcome.completed || outcome.failed.is_some() || outcome.image_count == 0 {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for n in 0..outcome.image_count {
        // The run's images are its latest turn's (spec): this turn's, as the stream just ended.
        let call = Call::get(format!("/runs/{}/images/{n}", seg(run_id)));
        let answer = ctx.api.send(call).await?;
        let ext = extension(answer.header("content-type"));
        let path = dir.join(format!("{}-{turn}-{n}.{ext}", seg(run_id)));
        std::fs::write(&path, &answer.body)
            .with_context(|| format!("cannot write {}", path.display()))?;
        saved.push(path);
    }
    Ok(())
}

/// Says what became of the turn's images: with `--output-dir` the paths saved (under `--json`
/// one `images_saved` line); without, when there are images, how to get them (stderr).
pub fn report(ctx: &Ctx, outcome: &Outcome, saved: Option<&[PathBuf]>) {
    let out = &ctx.out;
    if out.json {
        if let Some(paths) = saved {
            let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            let data = json!({
                "runId": outcome.run_id,
                "turnIndex": outcome.turn_index,
                "imageCount": outcome.image_count,
                "savedImages": paths,
            });
            out.json_value(&json!({ "event": "images_saved", "data": data }));
        }
        return;
    }
    match saved {
        Some(paths) if paths.is_empty() && outcome.image_count == 0 => {
            out.field("images", "none made by this turn");
        }
        Some(paths) => {
            for path in paths {
                out.field("image", path.display().to_string());
            }
        }
        None if outcome.image_count > 0 => {
            let n = outcome.image_count;
            let fetch = match (&outcome.record_id, outcome.turn_index) {
                (Some(record), Some(0)) => {
                    format!("`proem records image {record} --index N --output FILE` (N from 0)")
                }
                // A record's index counts every turn's images; this turn's are the last n.
                (Some(record), _) => format!(
                    "`proem records image {record} --index N --output FILE` (this turn's are the last {n})"
                ),
                (None, _) => format!(
                    "`proem records image <rec_…> --index N --output FILE` once `proem finalize {}` saved them",
                    outcome.run_id.as_deref().unwrap_or("<run_…>")
                ),
            };
            out.field(
                "images",
                format!(
                    "{n} made by this turn, not saved: fetch with {fetch}, or add --output-dir DIR"
                ),
            );
        }
        None => {}
    }
}

/// A file extension for an image's `Content-Type` (the server stores PNG, JPEG or WebP).
fn extension(content_type: Option<&str>) -> &'static str {
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        _ => "bin",
    }
}

/// A relayed frame that only previews an image (`response.image_generation_call.partial_image`):
/// as large as the image itself and never printed (the stream's `client_hint` asks for this).
pub fn is_partial_image(event: &str) -> bool {
    event.starts_with("response.image_generation_call.partial_image")
}

/// Sets the base64 image payloads of a relayed frame to null, wherever they are nested: every
/// `partial_image_b64`, and the `result` of each `image_generation_call` item
/// (`response.output_item.done`, `response.completed`). Each is tens of KB to megabytes.
pub fn strip_payloads(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("image_generation_call")
                && let Some(result) = map.get_mut("result")
            {
                *result = Value::Null;
            }
            if let Some(partial) = map.get_mut("partial_image_b64") {
                *partial = Value::Null;
            }
            map.values_mut().for_each(strip_payloads);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_payloads),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_follow_the_content_type() {
        assert_eq!(extension(Some("image/png")), "png");
        assert_eq!(extension(Some("image/jpeg")), "jpg");
        assert_eq!(extension(Some("Image/WebP; q=1")), "webp");
        assert_eq!(extension(None), "bin");
    }

    #[test]
    fn image_payloads_are_blanked_wherever_they_are_nested() {
        let mut done = json!({"type": "response.output_item.done", "item": {
            "type": "image_generation_call", "id": "ig_1", "result": "iVBORw0KGgo="}});
        strip_payloads(&mut done);
        assert_eq!(done["item"]["result"], Value::Null);
        assert_eq!(done["item"]["id"], "ig_1");

        let mut completed = json!({"response": {"output": [
            {"type": "message", "content": [{"type": "output_text", "text": "A cat"}]},
            {"type": "image_generation_call", "result": "iVBORw0KGgo="},
        ]}});
        strip_payloads(&mut completed);
        assert_eq!(completed["response"]["output"][1]["result"], Value::Null);
        assert_eq!(
            completed["response"]["output"][0]["content"][0]["text"],
            "A cat"
        );

        let mut partial = json!({"partial_image_b64": "iVBORw0KGgo=", "partial_image_index": 0});
        strip_payloads(&mut partial);
        assert_eq!(partial["partial_image_b64"], Value::Null);
        assert!(is_partial_image(
            "response.image_generation_call.partial_image"
        ));
    }
}
