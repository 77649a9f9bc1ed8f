//! The suite's fixture tools: each content type, an error result, logging and progress during a
//! call, sampling and elicitation requests back to the client, a JSON Schema 2020-12 input schema,
//! and the SSE polling tool.

use std::time::Duration;

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientResult, ContentBlock, CreateMessageRequestParams,
    ElicitRequest, ElicitRequestParams, ElicitResult, JsonObject, LoggingLevel,
    ProgressNotificationParam, SamplingMessage, ServerRequest, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Value, json};

use super::Fixtures;
use super::catalog::{PNG, text_resource};

/// A one-frame silent WAV.
const WAV: &str =
    "UklGRjQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YRAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The pause between the steps of the logging, progress and reconnection tools, so the client
/// sees several notifications arrive over time rather than in one burst.
const STEP: Duration = Duration::from_millis(50);

/// Every fixture tool with its input schema.
pub fn list() -> Vec<Tool> {
    let no_args = || schema(json!({"type": "object", "properties": {}}));
    let one_string = |name: &str, description: &str| {
        schema(json!({
            "type": "object",
            "properties": {name: {"type": "string", "description": description}},
            "required": [name],
        }))
    };
    vec![
        Tool::new("test_simple_text", "Returns one text block", no_args()),
        Tool::new("test_image_content", "Returns a PNG image", no_args()),
        Tool::new("test_audio_content", "Returns a WAV clip", no_args()),
        Tool::new(
            "test_embedded_resource",
            "Returns an embedded resource",
            no_args(),
        ),
        Tool::new(
            "test_multiple_content_types",
            "Returns text, an image and a resource",
            no_args(),
        ),
        Tool::new(
            "test_tool_with_logging",
            "Logs three messages while it runs",
            no_args(),
        ),
        Tool::new(
            "test_error_handling",
            "Always fails with a tool error",
            no_args(),
        ),
        Tool::new(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100",
            no_args(),
        ),
        Tool::new(
            "test_sampling",
            "Asks the client's LLM to answer a prompt",
            one_string("prompt", "The prompt to send to the LLM"),
        ),
        Tool::new(
            "test_elicitation",
            "Asks the user for a username and an email",
            one_string("message", "The message to show the user"),
        ),
        Tool::new(
            "test_elicitation_sep1034_defaults",
            "Elicits fields that all have defaults (SEP-1034)",
            no_args(),
        ),
        Tool::new(
            "test_elicitation_sep1330_enums",
            "Elicits the five enum shapes (SEP-1330)",
            no_args(),
        ),
        Tool::new(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features",
            schema(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "type": "object",
                        "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
                    },
                },
                "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
                "additionalProperties": false,
            })),
        ),
        Tool::new(
            "test_reconnection",
            "Answers after a pause, for SSE polling",
            no_args(),
        ),
    ]
}

fn schema(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// Runs the tool `request` names.
pub async fn call(
    fixtures: &Fixtures,
    request: CallToolRequestParams,
    ctx: RequestContext<RoleServer>,
) -> Result<CallToolResult, McpError> {
    let args = request.arguments.unwrap_or_default();
    let arg = |name: &str| args.get(name).and_then(Value::as_str).unwrap_or_default();
    let done = |text: &str| Ok(CallToolResult::success(vec![ContentBlock::text(text)]));
    match &*request.name {
        "test_simple_text" => done("This is a simple text response for testing."),
        "test_image_content" => Ok(CallToolResult::success(vec![ContentBlock::image(
            PNG,
            "image/png",
        )])),
        "test_audio_content" => Ok(CallToolResult::success(vec![ContentBlock::audio(
            WAV,
            "audio/wav",
        )])),
        "test_embedded_resource" => Ok(CallToolResult::success(vec![ContentBlock::resource(
            text_resource(
                "test://embedded-resource",
                "text/plain",
                "This is an embedded resource content.",
            ),
        )])),
        "test_multiple_content_types" => Ok(CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(PNG, "image/png"),
            ContentBlock::resource(text_resource(
                "test://mixed-content-resource",
                "application/json",
                r#"{"test":"data","value":123}"#,
            )),
        ])),
        "test_tool_with_logging" => {
            for (i, message) in [
                "Tool execution started",
                "Tool processing data",
                "Tool execution completed",
            ]
            .into_iter()
            .enumerate()
            {
                if i > 0 {
                    tokio::time::sleep(STEP).await;
                }
                fixtures.log(&ctx.peer, LoggingLevel::Info, message).await;
            }
            done("Logging test completed")
        }
        "test_error_handling" => Ok(CallToolResult::error(vec![ContentBlock::text(
            "This tool intentionally returns an error for testing",
        )])),
        "test_tool_with_progress" => {
            let token = ctx.meta.get_progress_token();
            for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(STEP).await;
                }
                if let Some(token) = &token {
                    let note =
                        ProgressNotificationParam::new(token.clone(), progress).with_total(100.0);
                    // A client that went away misses the step; the result still arrives.
                    let _ = ctx.peer.notify_progress(note).await;
                }
            }
            done("Progress test completed")
        }
        "test_sampling" => {
            let params = CreateMessageRequestParams::new(
                vec![SamplingMessage::user_text(arg("prompt"))],
                100,
            );
            match ctx.peer.create_message(params).await {
                Ok(reply) => {
                    let text = reply.message.content.first().and_then(|c| c.as_text());
                    let text = text.map_or("(no text)", |t| t.text.as_str());
                    done(&format!("LLM response: {text}"))
                }
                Err(e) => failed(&format!("Sampling failed: {e}")),
            }
        }
        "test_elicitation" => {
            let schema = json!({
                "type": "object",
                "properties": {
                    "username": {"type": "string", "description": "User's response"},
                    "email": {"type": "string", "description": "User's email address"},
                },
                "required": ["username", "email"],
            });
            elicit(&ctx, arg("message"), schema, "User response").await
        }
        "test_elicitation_sep1034_defaults" => {
            let schema = json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "User name", "default": "John Doe"},
                    "age": {"type": "integer", "description": "User age", "default": 30},
                    "score": {"type": "number", "description": "User score", "default": 95.5},
                    "status": {
                        "type": "string",
                        "description": "User status",
                        "enum": ["active", "inactive", "pending"],
                        "default": "active",
                    },
                    "verified": {"type": "boolean", "description": "Verified", "default": true},
                },
            });
            let message = "Please review these values (each has a default)";
            elicit(&ctx, message, schema, "Elicitation completed").await
        }
        "test_elicitation_sep1330_enums" => {
            let titled = |label: &str| {
                json!([
                    {"const": "value1", "title": format!("First {label}")},
                    {"const": "value2", "title": format!("Second {label}")},
                    {"const": "value3", "title": format!("Third {label}")},
                ])
            };
            let schema = json!({
                "type": "object",
                "properties": {
                    "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                    "titledSingle": {"type": "string", "oneOf": titled("Option")},
                    "legacyEnum": {
                        "type": "string",
                        "enum": ["opt1", "opt2", "opt3"],
                        "enumNames": ["Option One", "Option Two", "Option Three"],
                    },
                    "untitledMulti": {
                        "type": "array",
                        "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                    },
                    "titledMulti": {"type": "array", "items": {"anyOf": titled("Choice")}},
                },
            });
            elicit(&ctx, "Pick some options", schema, "Elicitation completed").await
        }
        "json_schema_2020_12_tool" => done(&format!("Hello, {}!", arg("name"))),
        // rmcp gives a handler no handle on its own POST stream, so this tool cannot close it
        // mid-call; it answers on that stream after a pause and the suite records that.
        "test_reconnection" => {
            tokio::time::sleep(2 * STEP).await;
            done("Reconnection test completed")
        }
        other => Err(McpError::invalid_params(
            format!("Unknown tool: {other}"),
            None,
        )),
    }
}

fn failed(text: &str) -> Result<CallToolResult, McpError> {
    Ok(CallToolResult::error(vec![ContentBlock::text(text)]))
}

/// Sends a form `elicitation/create` with `schema` and reports the user's answer after `label`.
async fn elicit(
    ctx: &RequestContext<RoleServer>,
    message: &str,
    schema: Value,
    label: &str,
) -> Result<CallToolResult, McpError> {
    let params: ElicitRequestParams = serde_json::from_value(json!({
        "mode": "form",
        "message": message,
        "requestedSchema": schema,
    }))
    .map_err(|e| McpError::internal_error(format!("fixture schema: {e}"), None))?;
    let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
    match ctx.peer.send_request(request).await {
        Ok(ClientResult::ElicitResult(ElicitResult {
            action, content, ..
        })) => {
            let action = serde_json::to_value(action).unwrap_or_default();
            let content = content.unwrap_or_default();
            Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                "{label}: action={action}, content={content}"
            ))]))
        }
        Ok(_) => failed("Elicitation failed: the client answered with another result"),
        Err(e) => failed(&format!("Elicitation failed: {e}")),
    }
}
