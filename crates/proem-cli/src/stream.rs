//! Reading a run's SSE stream (spec "SSE protocol"): output deltas go to stdout the moment they
//! arrive, status to stderr; under `--json` every event is one `{"event", "data"}` line and
//! nothing else is printed on stdout. A spinner waits on stderr (terminal only) until the first
//! token. The terminal event decides the outcome: `run_completed` (then maybe
//! `record_finalized`), `run_failed`, or `run_replayed`. An image run's inline base64 never
//! reaches the terminal: people see only text deltas, and `--json` lines leave it out.

use std::io::Write as _;
use std::path::PathBuf;

use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use proem_api::{Problem, ReasonCode};
use serde_json::{Value, json};

use crate::client::Call;
use crate::commands::Ctx;
use crate::error::{CliError, Exit};
use crate::images;
use crate::output::{Style, cost};

/// What a run's stream said.
#[derive(Debug, Default)]
pub struct Outcome {
    pub run_id: Option<String>,
    pub turn_index: Option<u64>,
    pub model_id: Option<String>,
    pub output: String,
    pub cost_millicents: Option<i64>,
    pub completed: bool,
    /// `run_completed.imageCount`: the images this turn made.
    pub image_count: u64,
    pub record_id: Option<String>,
    /// `run_failed`: reason code and message.
    pub failed: Option<(String, String)>,
    /// `record_finalize_failed`: reason code and whether a manual finalize may work.
    pub finalize_failed: Option<(String, bool)>,
    /// `run_replayed` payload.
    pub replayed: Option<Value>,
}

/// Sends a run-producing call and follows its stream to the end.
pub async fn follow(ctx: &Ctx, call: Call, waiting: &str) -> anyhow::Result<Outcome> {
    let mut spinner = ctx.out.spinner(waiting);
    let response = match ctx.api.open(call.streamed()).await {
        Ok(r) => r,
        Err(e) => {
            spinner.stop().await;
            return Err(e);
        }
    };
    let mut events = response.bytes_stream().eventsource();
    let mut outcome = Outcome::default();
    let mut first_token = true;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                spinner.stop().await;
                end_output_line(ctx, &outcome);
                return Err(broken(&outcome, &stream_error(&e)).into());
            }
        };
        let mut data: Value =
            serde_json::from_str(&event.data).unwrap_or_else(|_| Value::String(event.data.clone()));
        // Nothing below reads an image payload; the bytes are fetched by index (--output-dir).
        images::strip_payloads(&mut data);
        if ctx.out.json && !images::is_partial_image(&event.event) {
            let line = json!({ "event": event.event, "data": data });
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        }
        let text = |name: &str| data[name].as_str().map(str::to_owned);
        match event.event.as_str() {
            "run_session" => {
                outcome.run_id = text("runId");
                outcome.turn_index = data["turnIndex"].as_u64();
                outcome.model_id = text("modelId");
            }
            "response.output_text.delta" => {
                let delta = data["delta"].as_str().unwrap_or_default();
                if first_token {
                    first_token = false;
                    spinner.stop().await;
                }
                if !ctx.out.json {
                    let mut stdout = std::io::stdout().lock();
                    let _ = stdout.write_all(delta.as_bytes());
                    let _ = stdout.flush();
                }
                outcome.output.push_str(delta);
            }
            "run_completed" => {
                outcome.completed = true;
                outcome.cost_millicents = data["costMilliCents"].as_i64();
                outcome.turn_index = data["turnIndex"].as_u64().or(outcome.turn_index);
                outcome.image_count = data["imageCount"].as_u64().unwrap_or(0);
            }
            "run_failed" => {
                outcome.failed = Some((
                    text("reasonCode").unwrap_or_else(|| "internal_error".into()),
                    text("message").unwrap_or_default(),
                ));
                outcome.cost_millicents = data["costMilliCents"].as_i64();
            }
            "record_finalized" => outcome.record_id = text("recordId"),
            "record_finalize_failed" => {
                outcome.finalize_failed = Some((
                    text("reasonCode").unwrap_or_default(),
                    data["retryable"].as_bool().unwrap_or(false),
                ));
            }
            "run_replayed" => {
                outcome.run_id = text("runId").or(outcome.run_id);
                outcome.record_id = text("recordId");
                outcome.replayed = Some(data);
            }
            // client_hint, record_finalize_skipped and relayed upstream events need no action.
            _ => {}
        }
    }
    spinner.stop().await;
    end_output_line(ctx, &outcome);
    Ok(outcome)
}

/// Ends the streamed output with a newline, so the shell prompt starts on its own line.
fn end_output_line(ctx: &Ctx, outcome: &Outcome) {
    if !ctx.out.json && !outcome.output.is_empty() && !outcome.output.ends_with('\n') {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout);
        let _ = stdout.flush();
    }
}

/// Why the stream could not be read, without the unparsed input a parse error carries (it may be
/// a slice of an image's base64).
fn stream_error(e: &eventsource_stream::EventStreamError<reqwest::Error>) -> String {
    use eventsource_stream::EventStreamError as E;
    match e {
        E::Utf8(_) => "the stream is not UTF-8".to_owned(),
        E::Parser(_) => "the stream is not valid server-sent events".to_owned(),
        E::Transport(e) => e.to_string(),
    }
}

fn broken(outcome: &Outcome, why: &str) -> CliError {
    let hint = match &outcome.run_id {
        Some(run) => format!(
            "The run goes on on the server: check it with `proem finalize {run}` once it is done, or start again."
        ),
        None => "Start the run again.".to_owned(),
    };
    CliError::new(
        Exit::Server,
        format!("the run's stream broke off before it finished: {why}"),
    )
    .with_hint(hint)
}

/// Prints the outcome's status lines (human mode) and what became of its images (`saved`: the
/// paths `--output-dir` wrote, None without it), and turns a failed, replayed or unfinished
/// stream into the error that sets the exit code.
pub fn conclude(ctx: &Ctx, outcome: &Outcome, saved: Option<&[PathBuf]>) -> anyhow::Result<()> {
    conclude_inner(ctx, outcome, saved).map_err(|mut e| {
        e.in_stream = true;
        e.into()
    })
}

fn conclude_inner(ctx: &Ctx, outcome: &Outcome, saved: Option<&[PathBuf]>) -> Result<(), CliError> {
    let out = &ctx.out;
    let run = outcome.run_id.as_deref().unwrap_or("?");
    if let Some((code, message)) = &outcome.failed {
        return Err(run_failed(code, message, outcome));
    }
    if let Some(replayed) = &outcome.replayed {
        let state = replayed["state"].as_str().unwrap_or("unknown");
        let hint = replayed["hint"].as_str().unwrap_or_default();
        let mut e = CliError::new(
            Exit::Conflict,
            format!(
                "replayed_state_unknown: this Idempotency-Key already started {run} (state then: {state})"
            ),
        );
        e.problem = Some(Box::new(synthetic(
            "replayed_state_unknown",
            409,
            &format!("This Idempotency-Key already started {run}; its state then was {state}."),
            if hint.is_empty() {
                "Use a new --idempotency-key to start a new run, or continue this one with proem revise / proem finalize."
            } else {
                hint
            },
        )));
        return Err(e);
    }
    if !outcome.completed {
        return Err(broken(outcome, "no run_completed or run_failed event"));
    }
    if !out.json {
        out.field("run", run);
        // A run that auto-finalizes reports record_finalized before its stream ends.
        match (&outcome.record_id, &outcome.finalize_failed) {
            (Some(record), _) => out.field("record", record),
            (None, Some(_)) => {}
            (None, None) => out.field(
                "record",
                format!(
                    "not saved: revise with `proem revise {run} --instruction …`, save with `proem finalize {run}`"
                ),
            ),
        }
        if let Some(c) = outcome.cost_millicents {
            out.field("cost", cost(c));
        }
    }
    images::report(ctx, outcome, saved);
    if let Some((code, retryable)) = &outcome.finalize_failed {
        let hint = if *retryable {
            format!("The output is safe in {run}: save it with `proem finalize {run}`.")
        } else {
            format!("The output is in {run}, but it could not be saved as a record.")
        };
        let mut e = CliError::new(
            Exit::Server,
            format!("the run completed but saving its record failed: {code}"),
        );
        e.problem = Some(Box::new(synthetic(
            code,
            500,
            "The run completed but the chained finalize failed.",
            &hint,
        )));
        if !out.json {
            out.status(out.err_paint(Style::Yellow, "the record was not saved"));
        }
        return Err(e);
    }
    Ok(())
}

fn run_failed(code: &str, message: &str, outcome: &Outcome) -> CliError {
    let known = ReasonCode::from_code(code);
    let hint = known.map(|c| c.action_hint()).unwrap_or(
        "Retry the run; if it keeps failing, check the server's provider configuration.",
    );
    let detail = if message.is_empty() {
        known
            .map(|c| c.title().to_owned())
            .unwrap_or_else(|| "The run failed.".to_owned())
    } else {
        message.to_owned()
    };
    let mut e = CliError::new(Exit::Server, format!("run_failed: {code}: {detail}"));
    let mut problem = synthetic(
        code,
        known.map(ReasonCode::status).unwrap_or(502),
        &format!("run_failed: {detail}"),
        hint,
    );
    if let Some(run) = &outcome.run_id {
        problem.request_id = run.clone();
    }
    e.problem = Some(Box::new(problem));
    e
}

/// A problem document for an in-stream failure, so it prints like any other error.
fn synthetic(code: &str, status: u16, detail: &str, hint: &str) -> Problem {
    Problem {
        type_url: format!("/problems/{code}"),
        title: String::new(),
        status,
        detail: detail.to_owned(),
        reason_code: code.to_owned(),
        action_hint: hint.to_owned(),
        request_id: String::new(),
        invalid_params: Vec::new(),
    }
}
