//! JSON Schemas of the tools, generated from the Rust types: a params struct's doc comment is the
//! tool's description and its field docs describe the arguments; the output type's schema,
//! alongside the problem document a failure carries, is the `outputSchema`. Subschemas are inlined
//! (no `$ref`), which every MCP client reads.

use proem_api::Problem;
use rmcp::model::JsonObject;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

fn settings() -> SchemaSettings {
    SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    })
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// The input schema of a tool taking `P`, without its description (that is the tool's).
pub fn input<P: JsonSchema>() -> JsonObject {
    let schema = settings()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<P>();
    let mut map = object(schema.to_value());
    map.remove("title");
    map.remove("description");
    map.entry("type").or_insert_with(|| json!("object"));
    map.entry("properties").or_insert_with(|| json!({}));
    map
}

/// The doc comment of `P`: the description of the tool that takes it.
pub fn description<P: JsonSchema>() -> String {
    let schema = settings()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<P>();
    schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The output schema of a tool returning `O`: an object that is either `O` or, when `isError`
/// is true, the problem document.
pub fn output<O: JsonSchema>() -> JsonObject {
    let mut generator = settings().for_serialize().into_generator();
    let mut success = object(generator.root_schema_for::<O>().to_value());
    success.remove("title");
    let mut problem = object(generator.root_schema_for::<Problem>().to_value());
    problem.remove("title");
    problem.insert(
        "description".to_owned(),
        json!("The problem document of a failed call (isError: true): reason_code says what happened, action_hint what to do next."),
    );
    object(json!({
        "type": "object",
        "anyOf": [Value::Object(success), Value::Object(problem)],
    }))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    /// Fetch a widget.
    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[expect(dead_code, reason = "only the schema is used")]
    struct Params {
        /// The widget's id.
        widget_id: String,
        /// How many.
        limit: Option<i64>,
    }

    #[test]
    fn input_schemas_are_inline_objects_with_field_docs() {
        let schema = input::<Params>();
        assert_eq!(schema["type"], "object");
        assert_eq!(
            schema["properties"]["widgetId"]["description"],
            "The widget's id."
        );
        assert_eq!(schema["required"], json!(["widgetId"]));
        assert_eq!(schema["additionalProperties"], false);
        assert!(!schema.contains_key("description"));
        assert!(!schema.contains_key("$schema"));
        assert_eq!(description::<Params>(), "Fetch a widget.");
    }

    #[test]
    fn output_schemas_admit_the_value_or_a_problem() {
        let schema = output::<proem_api::prompts::PromptCreated>();
        assert_eq!(schema["type"], "object");
        let any = schema["anyOf"].as_array().unwrap();
        assert_eq!(any.len(), 2);
        assert!(any[0]["properties"]["promptId"].is_object());
        assert!(any[1]["properties"]["reason_code"].is_object());
        assert!(!serde_json::to_string(&schema).unwrap().contains("$ref"));
    }
}
