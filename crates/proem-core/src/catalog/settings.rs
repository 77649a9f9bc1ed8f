//! Model settings as prompts store them — `{ "model_id": …, "parameters": { … } }` — and their
//! validation against the catalog (spec "Catalog enforcement"): unknown or retired model, missing
//! `parameters`, unknown parameter, out-of-enum or out-of-range value are each named in
//! `invalid_params` of one `invalid_model_settings` rejection.

use proem_api::ReasonCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Catalog, Model, ParamKind};
use crate::Rejection;

/// The most bytes a model-settings document may take (spec "Field caps").
pub const MODEL_SETTINGS_CAP: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSettings {
    pub model_id: String,
    pub parameters: Map<String, Value>,
}

/// Checks `raw` (the request's `modelSettings`) and returns it typed, with the model it names.
pub fn validate_model_settings<'c>(
    catalog: &'c Catalog,
    raw: &Value,
    field: &str,
) -> Result<(ModelSettings, &'c Model), Rejection> {
    if raw.to_string().len() > MODEL_SETTINGS_CAP {
        return Err(Rejection::new(
            ReasonCode::FieldTooLarge,
            "modelSettings is larger than 64 KB.",
        )
        .with_param(field, "too_large"));
    }
    let reject = |name: String, reason: &str, detail: String| {
        Rejection::new(ReasonCode::InvalidModelSettings, detail).with_param(name, reason)
    };
    let Some(object) = raw.as_object() else {
        return Err(reject(
            field.to_owned(),
            "invalid_type",
            "modelSettings must be an object { model_id, parameters }.".to_owned(),
        ));
    };
    let model_id = object.get("model_id").and_then(Value::as_str).unwrap_or("");
    let Some(model) = catalog.model(model_id) else {
        return Err(reject(
            format!("{field}.model_id"),
            "unknown_or_inactive_model",
            format!("The model_id `{model_id}` is not in the catalog, or it has been retired."),
        ));
    };
    let Some(parameters) = object.get("parameters").and_then(Value::as_object) else {
        return Err(reject(
            format!("{field}.parameters"),
            "required",
            "modelSettings needs a `parameters` object (it may be empty).".to_owned(),
        ));
    };
    if let Some(extra) = object
        .keys()
        .find(|k| *k != "model_id" && *k != "parameters")
    {
        return Err(reject(
            format!("{field}.{extra}"),
            "unknown_field",
            format!(
                "modelSettings has only model_id and parameters; `{extra}` belongs inside parameters."
            ),
        ));
    }
    let mut problems = Vec::new();
    for (name, value) in parameters {
        let path = format!("{field}.parameters.{name}");
        let Some(spec) = model.config.parameters.get(name) else {
            problems.push((path, "unknown_parameter"));
            continue;
        };
        let number = value.as_f64();
        let reason = match spec.kind {
            ParamKind::Enum => match value.as_str() {
                Some(v) if spec.values.iter().any(|allowed| allowed == v) => None,
                Some(_) => Some("not_in_enum"),
                None => Some("invalid_type"),
            },
            ParamKind::Boolean => (!value.is_boolean()).then_some("invalid_type"),
            ParamKind::Integer if !(value.is_i64() || value.is_u64()) => Some("invalid_type"),
            ParamKind::Number if number.is_none() => Some("invalid_type"),
            ParamKind::Integer | ParamKind::Number => {
                let n = number.unwrap_or(0.0);
                (spec.min.is_some_and(|min| n < min) || spec.max.is_some_and(|max| n > max))
                    .then_some("out_of_range")
            }
        };
        if let Some(reason) = reason {
            problems.push((path, reason));
        }
    }
    if !problems.is_empty() {
        let mut rejection = Rejection::new(
            ReasonCode::InvalidModelSettings,
            format!("Some parameters do not fit the schema of {model_id}."),
        );
        for (name, reason) in problems {
            rejection = rejection.with_param(name, reason);
        }
        return Err(rejection);
    }
    Ok((
        ModelSettings {
            model_id: model_id.to_owned(),
            parameters: parameters.clone(),
        },
        model,
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn catalog() -> Catalog {
        Catalog::new(&BTreeMap::new(), &|v| {
            (v == "OPENAI_API_KEY").then(|| "k".into())
        })
    }

    fn id() -> String {
        catalog().recommended.unwrap()
    }

    fn reasons(e: Rejection) -> Vec<(String, String)> {
        assert_eq!(e.code, ReasonCode::InvalidModelSettings);
        e.invalid_params
            .into_iter()
            .map(|p| (p.name, p.reason))
            .collect()
    }

    #[test]
    fn recommended_defaults_validate() {
        let c = catalog();
        for m in c.models() {
            let settings = json!({"model_id": m.model_id, "parameters": m.config.recommended});
            validate_model_settings(&c, &settings, "modelSettings").unwrap();
        }
    }

    #[test]
    fn unknown_model_is_named() {
        let e = validate_model_settings(
            &catalog(),
            &json!({"model_id": "nope_1", "parameters": {}}),
            "modelSettings",
        )
        .unwrap_err();
        assert_eq!(
            reasons(e),
            vec![(
                "modelSettings.model_id".into(),
                "unknown_or_inactive_model".into()
            )]
        );
    }

    #[test]
    fn missing_parameters_is_named() {
        let e = validate_model_settings(&catalog(), &json!({"model_id": id()}), "modelSettings")
            .unwrap_err();
        assert_eq!(
            reasons(e),
            vec![("modelSettings.parameters".into(), "required".into())]
        );
    }

    #[test]
    fn each_bad_parameter_is_named() {
        let settings = json!({"model_id": id(), "parameters": {
            "reasoning_effort": "xtreme", "max_output_tokens": 1, "verbosity": 3, "seed": 1
        }});
        let mut got =
            reasons(validate_model_settings(&catalog(), &settings, "modelSettings").unwrap_err());
        got.sort();
        assert_eq!(
            got,
            vec![
                (
                    "modelSettings.parameters.max_output_tokens".into(),
                    "out_of_range".into()
                ),
                (
                    "modelSettings.parameters.reasoning_effort".into(),
                    "not_in_enum".into()
                ),
                (
                    "modelSettings.parameters.seed".into(),
                    "unknown_parameter".into()
                ),
                (
                    "modelSettings.parameters.verbosity".into(),
                    "invalid_type".into()
                ),
            ]
        );
    }

    #[test]
    fn oversized_settings_are_field_too_large() {
        let big = "x".repeat(MODEL_SETTINGS_CAP);
        let e = validate_model_settings(
            &catalog(),
            &json!({"model_id": big, "parameters": {}}),
            "modelSettings",
        )
        .unwrap_err();
        assert_eq!(e.code, ReasonCode::FieldTooLarge);
    }
}
