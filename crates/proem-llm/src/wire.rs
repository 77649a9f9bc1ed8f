//! Wire pieces shared by the providers: the request a provider module prepares, serializers that
//! write images and parameters straight into the body without intermediate copies, the
//! synthesized `response.output_text.delta` frame, and usage.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::{Event, Frame, LlmError, Target};

/// A request ready to send (and to send again on a retry: the body is shared, not copied).
pub(crate) struct Prepared {
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Prepared {
    /// `{base_url}{path}` with the JSON body; `Content-Type` and `Accept` set.
    pub fn new(target: &Target, path: &str, body: &impl Serialize) -> Result<Self, LlmError> {
        let base = target.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(LlmError::InvalidBaseUrl);
        }
        let body = serde_json::to_vec(body).map_err(|err| LlmError::Protocol {
            // Only a parameter value that is not JSON-representable can get here.
            detail: format!("the request body could not be encoded ({err})"),
            charged: false,
        })?;
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        Ok(Self {
            url: format!("{base}{path}"),
            headers,
            body: Bytes::from(body),
        })
    }

    /// Adds the key under `name`, marked sensitive so no `Debug` of the headers prints it.
    pub fn secret_header(
        &mut self,
        name: HeaderName,
        prefix: &str,
        key: &str,
    ) -> Result<(), LlmError> {
        let mut value =
            HeaderValue::try_from(format!("{prefix}{key}")).map_err(|_| LlmError::InvalidApiKey)?;
        value.set_sensitive(true);
        self.headers.insert(name, value);
        Ok(())
    }
}

/// Body fields the provider modules write themselves; a parameter of the same name would make a
/// duplicate key, so it is dropped.
const RESERVED: &[&str] = &[
    "model",
    "input",
    "instructions",
    "messages",
    "system",
    "stream",
    "stream_options",
];

/// The catalog parameters a provider did not map, flattened into the body as top-level fields.
/// Unset (`null`) values are left out.
pub(crate) struct ExtraParams<'a> {
    pub map: &'a serde_json::Map<String, serde_json::Value>,
    /// Parameters the provider already mapped elsewhere.
    pub mapped: &'a [&'a str],
}

impl Serialize for ExtraParams<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.map {
            if value.is_null()
                || self.mapped.contains(&key.as_str())
                || RESERVED.contains(&key.as_str())
            {
                continue;
            }
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A non-null parameter.
pub(crate) fn param<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    map.get(name).filter(|v| !v.is_null())
}

/// `data:<mime>;base64,<data>`, base64-encoded while it is written into the body.
pub(crate) struct DataUrl<'a> {
    pub mime_type: &'a str,
    pub data: &'a [u8],
}

impl Serialize for DataUrl<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!(
            "data:{};base64,{}",
            self.mime_type,
            Base64Display::new(self.data, &STANDARD)
        ))
    }
}

/// Raw bytes as standard base64, encoded while written.
pub(crate) struct Base64<'a>(pub &'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Base64Display::new(self.0, &STANDARD))
    }
}

pub(crate) const DELTA_EVENT: &str = "response.output_text.delta";

/// Numbers synthesized deltas and names their output item, for upstreams that speak another
/// protocol than the Responses API. The frame's JSON is written by hand around the escaped text:
/// everything before `delta` is the same for every frame of a turn and is written once.
pub(crate) struct DeltaSynth {
    item_id: String,
    /// `{"type":…,"item_id":…,"output_index":0,"content_index":0,"delta":`, once named.
    head: String,
    sequence: u64,
}

impl DeltaSynth {
    pub fn new() -> Self {
        Self {
            item_id: String::new(),
            head: String::new(),
            sequence: 0,
        }
    }

    /// Names the output item after the upstream's message id (`msg_` prefixed if it is not).
    pub fn set_item_id(&mut self, upstream_id: &str) {
        if !self.item_id.is_empty() || upstream_id.is_empty() {
            return;
        }
        self.item_id = if upstream_id.starts_with("msg_") {
            upstream_id.to_owned()
        } else {
            format!("msg_{upstream_id}")
        };
    }

    /// The `Delta` event for `text`: one allocation for the text, one for the frame's JSON.
    pub fn delta(&mut self, text: &str) -> Event {
        if self.head.is_empty() {
            if self.item_id.is_empty() {
                self.item_id = local_item_id();
            }
            self.head = format!(
                r#"{{"type":"{DELTA_EVENT}","item_id":{},"output_index":0,"content_index":0,"delta":"#,
                json_string(&self.item_id)
            );
        }
        let mut data = Vec::with_capacity(self.head.len() + text.len() + 40);
        data.extend_from_slice(self.head.as_bytes());
        // Writing a string or an integer into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut data, text);
        data.extend_from_slice(br#","sequence_number":"#);
        let _ = serde_json::to_writer(&mut data, &self.sequence);
        data.push(b'}');
        self.sequence += 1;
        Event::Delta {
            text: text.to_owned(),
            frame: Frame {
                event: Cow::Borrowed(DELTA_EVENT),
                // serde_json writes UTF-8 only.
                data: String::from_utf8(data).unwrap_or_default(),
            },
        }
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    // Serializing a string cannot fail.
    serde_json::to_string(text).unwrap_or_default()
}

/// An item id for an upstream that gave no message id: unique within the process, which is all a
/// client needs to group the deltas of one run.
fn local_item_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    format!("msg_proem{nanos:x}{n:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthesized_delta_has_the_responses_shape() {
        let mut synth = DeltaSynth::new();
        synth.set_item_id("chatcmpl-7");
        let Event::Delta { text, frame } = synth.delta("Hi \"there\"") else {
            panic!("not a delta");
        };
        assert_eq!(text, "Hi \"there\"");
        assert_eq!(frame.event, "response.output_text.delta");
        assert_eq!(
            frame.data,
            r#"{"type":"response.output_text.delta","item_id":"msg_chatcmpl-7","output_index":0,"content_index":0,"delta":"Hi \"there\"","sequence_number":0}"#
        );
        let Event::Delta { frame, .. } = synth.delta("!") else {
            panic!("not a delta");
        };
        assert!(frame.data.ends_with(r#""sequence_number":1}"#));
    }

    #[test]
    fn data_url_is_encoded_in_place() {
        let url = serde_json::to_string(&DataUrl {
            mime_type: "image/png",
            data: &[0, 1, 2, 3],
        })
        .unwrap();
        assert_eq!(url, "\"data:image/png;base64,AAECAw==\"");
    }

    #[test]
    fn extra_params_skip_nulls_mapped_and_reserved_keys() {
        let map = serde_json::json!({"temperature": 0.5, "max_tokens": null, "stream": false, "reasoning_effort": "low"});
        let map = map.as_object().cloned().unwrap();
        let text = serde_json::to_string(&ExtraParams {
            map: &map,
            mapped: &["reasoning_effort"],
        })
        .unwrap();
        assert_eq!(text, r#"{"temperature":0.5}"#);
    }
}
