//! The suite's fixture resources (static text and binary, one template), prompts (plain, with
//! arguments, with an embedded resource, with an image) and completions for prompt arguments.

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, CompletionInfo, ContentBlock, EmbeddedResource,
    GetPromptRequestParams, GetPromptResult, Prompt, PromptArgument, PromptMessage,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role,
};
use serde_json::{Value, json};

/// A 1×1 red PNG.
pub const PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

/// Text resource contents with a MIME type.
pub fn text_resource(uri: &str, mime_type: &str, text: &str) -> ResourceContents {
    ResourceContents::text(text, uri).with_mime_type(mime_type)
}

pub fn resources() -> Vec<Resource> {
    vec![
        Resource::new("test://static-text", "Static text")
            .with_description("A fixed text resource")
            .with_mime_type("text/plain"),
        Resource::new("test://static-binary", "Static binary")
            .with_description("A fixed PNG image")
            .with_mime_type("image/png"),
    ]
}

pub fn resource_templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(
            format!("{TEMPLATE_PREFIX}{{id}}{TEMPLATE_SUFFIX}"),
            "Data by id",
        )
        .with_description("JSON naming the id substituted into the URI")
        .with_mime_type("application/json"),
    ]
}

pub fn read(uri: &str) -> Result<ReadResourceResult, McpError> {
    let contents = match uri {
        "test://static-text" => text_resource(
            uri,
            "text/plain",
            "This is the content of the static text resource.",
        ),
        "test://static-binary" => ResourceContents::blob(PNG, uri).with_mime_type("image/png"),
        _ => {
            let id = uri
                .strip_prefix(TEMPLATE_PREFIX)
                .and_then(|rest| rest.strip_suffix(TEMPLATE_SUFFIX))
                .filter(|id| !id.is_empty() && !id.contains('/'))
                .ok_or_else(|| {
                    McpError::resource_not_found(
                        format!("No resource {uri}"),
                        Some(json!({"uri": uri})),
                    )
                })?;
            let data =
                json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
            text_resource(uri, "application/json", &data.to_string())
        }
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

pub fn prompts() -> Vec<Prompt> {
    let required = |name: &str, description: &str| {
        PromptArgument::new(name)
            .with_description(description)
            .with_required(true)
    };
    vec![
        Prompt::new(
            "test_simple_prompt",
            Some("A prompt without arguments"),
            None,
        ),
        Prompt::new(
            "test_prompt_with_arguments",
            Some("A prompt that repeats its two arguments"),
            Some(vec![
                required("arg1", "First test argument"),
                required("arg2", "Second test argument"),
            ]),
        ),
        Prompt::new(
            "test_prompt_with_embedded_resource",
            Some("A prompt that embeds a resource"),
            Some(vec![required(
                "resourceUri",
                "URI of the resource to embed",
            )]),
        ),
        Prompt::new(
            "test_prompt_with_image",
            Some("A prompt that carries an image"),
            None,
        ),
    ]
}

pub fn get_prompt(request: &GetPromptRequestParams) -> Result<GetPromptResult, McpError> {
    let arg = |name: &str| {
        request
            .arguments
            .as_ref()
            .and_then(|a| a.get(name))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let text = |text: String| PromptMessage::new_text(Role::User, text);
    let messages = match request.name.as_str() {
        "test_simple_prompt" => vec![text("This is a simple prompt for testing.".into())],
        "test_prompt_with_arguments" => vec![text(format!(
            "Prompt with arguments: arg1='{}', arg2='{}'",
            arg("arg1"),
            arg("arg2")
        ))],
        "test_prompt_with_embedded_resource" => vec![
            PromptMessage::new(
                Role::User,
                ContentBlock::Resource(EmbeddedResource::new(text_resource(
                    arg("resourceUri"),
                    "text/plain",
                    "Embedded resource content for testing.",
                ))),
            ),
            text("Please process the embedded resource above.".into()),
        ],
        "test_prompt_with_image" => vec![
            PromptMessage::new(Role::User, ContentBlock::image(PNG, "image/png")),
            text("Please analyze the image above.".into()),
        ],
        other => {
            return Err(McpError::invalid_params(
                format!("Unknown prompt: {other}"),
                None,
            ));
        }
    };
    Ok(GetPromptResult::new(messages))
}

/// Completes any argument from a fixed word list, by prefix.
pub fn complete(request: &CompleteRequestParams) -> Result<CompleteResult, McpError> {
    const WORDS: [&str; 5] = ["paris", "park", "party", "test", "testing"];
    let prefix = request.argument.value.as_str();
    let values = WORDS
        .iter()
        .filter(|w| w.starts_with(prefix))
        .map(|w| (*w).to_owned())
        .collect();
    CompletionInfo::new(values)
        .map(CompleteResult::new)
        .map_err(|e| McpError::internal_error(e, None))
}
