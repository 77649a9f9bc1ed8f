//! A server wired to a fake LLM upstream, and helpers to drive runs and read their SSE.

use proem_core::catalog::ProviderKind;
use proem_testkit::{FakeUpstream, TestServer};
use serde_json::{Value, json};

pub struct RunFixture {
    pub server: TestServer,
    pub upstream: FakeUpstream,
    pub key: String,
    pub user_id: String,
    pub prompt: String,
}

/// One SSE event: its name and JSON data.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub data: Value,
}

pub fn parse_sse(text: &str) -> Vec<Sse> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = Some(e.trim().to_owned());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            Some(Sse {
                event: event?,
                data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
            })
        })
        .collect()
}

pub fn names(events: &[Sse]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.event.as_str())
        .filter(|e| !e.starts_with("response.") || *e == "response.output_text.delta")
        .collect()
}

pub fn find<'a>(events: &'a [Sse], name: &str) -> &'a Value {
    &events
        .iter()
        .find(|e| e.event == name)
        .unwrap_or_else(|| panic!("no {name} in {events:?}"))
        .data
}

pub fn text_of(events: &[Sse]) -> String {
    events
        .iter()
        .filter(|e| e.event == "response.output_text.delta")
        .map(|e| e.data["delta"].as_str().unwrap().to_owned())
        .collect()
}

impl RunFixture {
    pub async fn new() -> Self {
        Self::with(ProviderKind::OpenaiChat, |_| {}).await
    }

    pub async fn with(kind: ProviderKind, adjust: impl FnOnce(&mut proem_core::Config)) -> Self {
        let upstream = FakeUpstream::start().await;
        let base_url = upstream.base_url();
        let server = TestServer::start_with(|c| {
            for p in c.providers.values_mut() {
                p.base_url = base_url.clone();
                p.kind = kind;
            }
            c.rate_limits.read_per_key = 100_000;
            c.rate_limits.read_per_user = 100_000;
            c.rate_limits.execute_per_key = 100_000;
            c.rate_limits.execute_per_user = 100_000;
            adjust(c);
        })
        .await;
        let (user, key) = server.user_with_key(&["read", "execute", "write"]).await;
        let prompt = server.create_prompt(&key, "Summarizer").await;
        Self {
            server,
            upstream,
            key,
            user_id: user.id,
            prompt,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.at(&format!("/api/v2/public{path}"))
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.server
            .http
            .post(self.url(path))
            .header("x-api-key", &self.key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_with_key(
        &self,
        path: &str,
        body: Value,
        idempotency_key: &str,
    ) -> reqwest::Response {
        self.server
            .http
            .post(self.url(path))
            .header("x-api-key", &self.key)
            .header("idempotency-key", idempotency_key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.server
            .http
            .get(self.url(path))
            .header("x-api-key", &self.key)
            .send()
            .await
            .unwrap()
    }

    /// POST a streaming endpoint and read the whole stream.
    pub async fn stream(&self, path: &str, body: Value) -> Vec<Sse> {
        let r = self.post(path, body).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        parse_sse(&r.text().await.unwrap())
    }

    /// Runs the prompt with `body` merged over `{"userInput": "an article", "stream": true}`.
    pub async fn run(&self, extra: Value) -> Vec<Sse> {
        let mut body = json!({"userInput": "an article", "stream": true});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.stream(&format!("/prompts/{}/run", self.prompt), body)
            .await
    }

    /// A run left Active (no auto-finalize); returns its id.
    pub async fn active_run(&self) -> String {
        let events = self.run(json!({"autoFinalize": false})).await;
        find(&events, "run_completed")["runId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn revise(&self, run_id: &str, extra: Value) -> Vec<Sse> {
        let mut body = json!({"instruction": "make it formal", "stream": true});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.stream(&format!("/runs/{run_id}/revise"), body).await
    }

    pub async fn finalize(&self, run_id: &str, body: Value) -> reqwest::Response {
        self.post(&format!("/runs/{run_id}/finalize"), body).await
    }

    /// `PATCH /records/{id}` with a merge-patch body.
    pub async fn patch_record(&self, id: &str, body: Value) -> reqwest::Response {
        self.server
            .http
            .patch(self.url(&format!("/records/{id}")))
            .header("x-api-key", &self.key)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub async fn run_state(&self, run_id: &str) -> Value {
        let r = self.get(&format!("/runs/{run_id}")).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}
