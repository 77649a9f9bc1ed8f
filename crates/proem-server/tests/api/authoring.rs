//! A small client for the prompt, version and model endpoints, shared by the authoring tests
//! (`models`, `model_settings`, `prompts`, `versions`, `description_modes`, `caps`).

use proem_core::Config;
use proem_testkit::TestServer;
use serde_json::{Value, json};

pub const PROMPTS: &str = "/api/v2/public/prompts";
pub const MODELS: &str = "/api/v2/public/models";
pub const PROMPT_TEXT: &str = "Summarize the input in three bullets.";

/// A server and one user's read+write key.
pub struct Api {
    pub server: TestServer,
    pub key: String,
}

/// What `POST /prompts` answered.
pub struct Created {
    pub prompt_id: String,
    pub version_id: String,
}

impl Api {
    /// A server whose rate limits are out of the way: these tests count behaviour, not requests.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let server = TestServer::start_with(|c| {
            c.rate_limits.read_per_key = 10_000;
            c.rate_limits.read_per_user = 10_000;
            adjust(c);
        })
        .await;
        let (_, key) = server.user_with_key(&["read", "write"]).await;
        Self { server, key }
    }

    /// Another user's read+write key on the same server.
    pub async fn stranger(&self) -> String {
        self.server.user_with_key(&["read", "write"]).await.1
    }

    /// `{ "model_id": <test model>, "parameters": {} }`
    pub fn settings(&self) -> Value {
        self.server.model_settings()
    }

    /// The test model's settings with these parameters.
    pub fn settings_with(&self, parameters: Value) -> Value {
        json!({ "model_id": proem_testkit::test_model_id(), "parameters": parameters })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.server
            .http
            .request(method, self.server.at(path))
            .header("x-api-key", &self.key)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::PUT, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A merge patch (`application/merge-patch+json`).
    pub async fn patch(&self, path: &str, body: &Value) -> reqwest::Response {
        self.patch_if_match(path, body, None).await
    }

    pub async fn patch_if_match(
        &self,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .request(reqwest::Method::PATCH, path)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string());
        if let Some(token) = if_match {
            request = request.header("if-match", token);
        }
        request.send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::DELETE, path)
            .send()
            .await
            .unwrap()
    }

    /// Creates a prompt with the test model's empty settings.
    pub async fn create_prompt(&self, name: &str) -> Created {
        let body = ok(
            self.post(
                PROMPTS,
                &json!({ "name": name, "promptText": PROMPT_TEXT, "modelSettings": self.settings() }),
            )
            .await,
            201,
        )
        .await;
        Created {
            prompt_id: body["promptId"].as_str().unwrap().to_owned(),
            version_id: body["currentVersionId"].as_str().unwrap().to_owned(),
        }
    }

    /// Appends a version with `extra` merged into a minimal body; returns the version.
    pub async fn create_version(&self, prompt_id: &str, extra: Value) -> Value {
        let mut body = json!({ "promptText": PROMPT_TEXT, "modelSettings": self.settings() });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        ok(self.post(&versions_path(prompt_id), &body).await, 201).await
    }

    pub async fn prompt(&self, prompt_id: &str) -> Value {
        ok(self.get(&prompt_path(prompt_id)).await, 200).await
    }

    pub async fn version(&self, prompt_id: &str, version_id: &str) -> Value {
        ok(self.get(&version_path(prompt_id, version_id)).await, 200).await
    }

    /// The ids on the first page of `GET /prompts`.
    pub async fn prompt_ids(&self) -> Vec<String> {
        ids(&ok(self.get(PROMPTS).await, 200).await)
    }

    /// The version numbers on the first page of `GET /prompts/{id}/versions`.
    pub async fn version_numbers(&self, prompt_id: &str) -> Vec<i64> {
        let list = ok(self.get(&versions_path(prompt_id)).await, 200).await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["versionNumber"].as_i64().unwrap())
            .collect()
    }
}

pub fn prompt_path(prompt_id: &str) -> String {
    format!("{PROMPTS}/{prompt_id}")
}

pub fn versions_path(prompt_id: &str) -> String {
    format!("{PROMPTS}/{prompt_id}/versions")
}

pub fn version_path(prompt_id: &str, version_id: &str) -> String {
    format!("{PROMPTS}/{prompt_id}/versions/{version_id}")
}

/// Asserts the status (showing the body when it differs) and returns the JSON body.
pub async fn ok(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// The `id` of each item of a list page.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The problem's `invalid_params` as (name, reason) pairs, in order.
pub fn invalid_params(problem: &Value) -> Vec<(String, String)> {
    problem["invalid_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// One (name, reason) pair, for comparing with [`invalid_params`].
pub fn param(name: &str, reason: &str) -> (String, String) {
    (name.to_owned(), reason.to_owned())
}
