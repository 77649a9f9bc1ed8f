//! JSON Schemas of the tools, generated from the Rust types: a params struct's doc comment is the
//! tool's description and its field docs describe the arguments; the output type's schema,
//! alongside the problem document a failure carries, is the `outputSchema`. Subschemas are inlined
//! (no `$ref`), which every MCP client reads. Only the `format`s JSON Schema 2020-12 defines are
//! kept: schemars names Rust's number types (`uint16`, `int64`, `double`, …), which validators
//! such as the TypeScript SDK's warn about and ignore.

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

/// The formats of JSON Schema 2020-12 (Validation, section 7.3).
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Drops every `format` JSON Schema does not define from `schema` and its subschemas. An
/// unsigned type keeps its constraint as `minimum: 0`, which schemars writes beside `uint*`.
fn standard_formats(schema: &mut JsonObject) {
    let format = schema.get("format").and_then(Value::as_str);
    if let Some(format) = format.filter(|f| !STANDARD_FORMATS.contains(f)) {
        let unsigned = format.starts_with("uint");
        schema.remove("format");
        if unsigned {
            schema.entry("minimum").or_insert(json!(0));
        }
    }
    // Only where a keyword holds subschemas: `const`, `default` and `examples` hold instance
    // data, whose `format` fields are not keywords.
    for (keyword, value) in schema.iter_mut() {
        match (keyword.as_str(), value) {
            (
                "properties" | "patternProperties" | "$defs" | "dependentSchemas",
                Value::Object(named),
            ) => named.values_mut().for_each(subschema),
            ("anyOf" | "oneOf" | "allOf" | "prefixItems", Value::Array(list)) => {
                list.iter_mut().for_each(subschema);
            }
            (
                "items"
                | "additionalProperties"
                | "not"
                | "if"
                | "then"
                | "else"
                | "contains"
                | "propertyNames"
                | "unevaluatedItems"
                | "unevaluatedProperties",
                value,
            ) => subschema(value),
            _ => {}
        }
    }
}

fn subschema(value: &mut Value) {
    if let Value::Object(schema) = value {
        standard_formats(schema);
    }
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
    standard_formats(&mut map);
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
    let mut schema = object(json!({
        "type": "object",
        "anyOf": [Value::Object(success), Value::Object(problem)],
    }));
    standard_formats(&mut schema);
    schema
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

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

    /// Numbers and a timestamp.
    #[derive(Serialize, JsonSchema)]
    struct Numbers {
        port: u16,
        level: Option<u8>,
        total: i64,
        ratio: f64,
        #[schemars(extend("format" = "date-time"))]
        at: String,
        /// A property named like the keyword is a property, not a keyword.
        format: String,
    }

    #[test]
    fn only_json_schema_formats_are_kept_and_unsigned_types_keep_minimum_zero() {
        let schema = output::<Numbers>();
        let numbers = &schema["anyOf"][0]["properties"];
        for name in ["port", "level", "total", "ratio"] {
            assert!(numbers[name].get("format").is_none(), "{name}: {numbers}");
        }
        assert_eq!(numbers["port"]["minimum"], 0);
        assert_eq!(numbers["level"]["minimum"], 0);
        assert!(numbers["total"].get("minimum").is_none());
        assert_eq!(numbers["at"]["format"], "date-time");
        assert_eq!(numbers["format"]["type"], "string");
        let status = &schema["anyOf"][1]["properties"]["status"];
        assert_eq!(status["minimum"], 0);
        assert!(status.get("format").is_none(), "{status}");
    }
}
