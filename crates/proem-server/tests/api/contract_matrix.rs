//! The authorization matrix: every route of `proem_server::ROUTES` × every kind of caller that must
//! be refused gives the documented status and reason code, and no refused caller ever gets a 2xx.
//! Iterating the route table means a new route is covered the day it is added (the matrix panics
//! on a route it cannot fill).

use proem_api::scope::Scope;
use proem_server::{Access, ROUTES, RouteDef};
use proem_testkit::{FakeUpstream, Scenario, TestServer};
use serde_json::{Value, json};

use super::contract_support::{
    PROMPTS, current_version, get, ids, json_with, key_expiring, key_with_id, prompt_body,
};

/// The callers that must not get through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoKey,
    Revoked,
    Expired,
    /// A key of another user, with every scope.
    OtherUser,
    /// A key of the owner holding every scope but the one the route needs.
    LacksScope,
    /// A key of the owner, with every scope, restricted to another of the owner's prompts.
    RestrictedElsewhere,
}

const CALLERS: &[Caller] = &[
    Caller::NoKey,
    Caller::Revoked,
    Caller::Expired,
    Caller::OtherUser,
    Caller::LacksScope,
    Caller::RestrictedElsewhere,
];

/// What object a route resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `/prompts/{id}…`: one of the owner's prompts.
    Prompt,
    /// `/attachments/{id}`: an attachment on one of the owner's prompts.
    Attachment,
    /// `/runs/{id}…`: a run of one of the owner's prompts.
    Run,
    /// `/records/{id}…`: a record of one of the owner's prompts.
    Record,
    /// `POST /records`: the owner's prompt is named in the body.
    PromptInBody,
    /// Lists, creation, the catalog, settings, activity: the caller's own data, no single prompt.
    Own,
}

fn target(route: &RouteDef) -> Target {
    let p = route.path;
    if p.contains("/prompts/{id}") {
        Target::Prompt
    } else if p.contains("/attachments/{id}") {
        Target::Attachment
    } else if p.contains("/runs/{id}") {
        Target::Run
    } else if p.contains("/records/{id}") {
        Target::Record
    } else if route.method == "POST" && p.ends_with("/records") {
        Target::PromptInBody
    } else {
        let params = p.matches('{').count();
        let key_param = usize::from(p.contains("{key_id}"));
        assert_eq!(
            params, key_param,
            "{route:?}: a path parameter the matrix cannot fill"
        );
        Target::Own
    }
}

/// The documented refusal, or `None` where the combination does not apply.
fn expected(route: &RouteDef, caller: Caller) -> Option<(u16, &'static str)> {
    match caller {
        // Authentication comes before everything else, session-only routes included.
        Caller::NoKey | Caller::Revoked | Caller::Expired => {
            return Some((401, "key_unauthorized"));
        }
        _ if route.access == Access::SessionOnly => return Some((403, "api_key_not_permitted")),
        Caller::LacksScope => return Some((403, "scope_required")),
        Caller::OtherUser | Caller::RestrictedElsewhere => {}
    }
    match (target(route), caller) {
        // Another user's object answers exactly like a missing one.
        (Target::Prompt | Target::PromptInBody, Caller::OtherUser) => {
            Some((404, "prompt_not_found"))
        }
        (Target::Attachment, Caller::OtherUser) => Some((404, "attachment_not_found")),
        (Target::Run, Caller::OtherUser) => Some((404, "run_not_found")),
        (Target::Record, Caller::OtherUser) => Some((404, "record_not_found")),
        // Routes without a prompt act on the caller's own data: another user's key or a
        // restricted key is entitled to them (lists are checked for leaks below).
        (Target::Own, _) => None,
        // Everything that resolves to one of the owner's prompts re-checks the grant list.
        (_, _) => Some((403, "grant_required")),
    }
}

/// The owner's world and a key for every caller.
struct World {
    owner_key: String,
    owner_key_id: String,
    prompt: String,
    other_prompt: String,
    version: String,
    attachment: String,
    run: String,
    record: String,
    revoked: String,
    expired: String,
    stranger: String,
    restricted: String,
    /// Keys of the owner lacking one coarse scope: without read, without write, without execute.
    lacking: [(Scope, String); 3],
}

/// A server whose provider points at `upstream`, with limits no matrix run reaches.
async fn server_with(upstream: &FakeUpstream) -> TestServer {
    let base_url = upstream.base_url();
    TestServer::start_with(|c| {
        for p in c.providers.values_mut() {
            p.base_url = base_url.clone();
        }
        c.rate_limits.read_per_key = 10_000;
        c.rate_limits.read_per_user = 10_000;
        c.rate_limits.execute_per_key = 10_000;
        c.rate_limits.execute_per_user = 10_000;
    })
    .await
}

/// `POST path` with the owner's key.
async fn post(server: &TestServer, key: &str, path: &str, body: Value) -> reqwest::Response {
    server
        .http
        .post(server.at(path))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn world(server: &TestServer, upstream: &FakeUpstream) -> World {
    let (owner, _) = server.user_with_key(&["*"]).await;
    let (owner_key_id, owner_key) = key_with_id(server, &owner, &["*"]).await;
    let prompt = server.create_prompt(&owner_key, "guarded").await;
    let other_prompt = server.create_prompt(&owner_key, "granted elsewhere").await;
    let body = json!({"promptText": "v2", "modelSettings": server.model_settings()});
    let r = post(
        server,
        &owner_key,
        &format!("{PROMPTS}/{prompt}/versions"),
        body,
    )
    .await;
    let version = json_with(r, 201).await["id"].as_str().unwrap().to_owned();
    let body = json!({"filename": "notes.txt", "base64": "aGVsbG8K", "type": "text"});
    let r = post(
        server,
        &owner_key,
        &format!("{PROMPTS}/{prompt}/attachments"),
        body,
    )
    .await;
    let attachment = json_with(r, 201).await["id"].as_str().unwrap().to_owned();
    // A run left active, and a manual record.
    upstream.push(Scenario::text(["fine"]));
    let path = format!("{PROMPTS}/{prompt}/run?autoFinalize=false");
    let body = json!({"userInput": "an article", "stream": true});
    let r = post(server, &owner_key, &path, body).await;
    assert_eq!(r.status(), 200);
    let events = r.text().await.unwrap();
    let run = events
        .split("\"runId\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no runId in {events}"))
        .to_owned();
    let body = json!({"promptId": prompt, "input": "in", "output": "out"});
    let r = post(server, &owner_key, "/api/v2/public/records", body).await;
    let record = json_with(r, 201).await["id"].as_str().unwrap().to_owned();

    let (revoked_id, revoked) = key_with_id(server, &owner, &["*"]).await;
    server.state.store().revoke_key(&revoked_id).await.unwrap();
    let past = server.clock.now_ms() - 1;
    let (_, expired) = key_expiring(server, &owner, &["*"], Some(past)).await;
    let (_, stranger) = server.user_with_key(&["*"]).await;
    let (restricted_id, restricted) = key_with_id(server, &owner, &["*"]).await;
    server
        .state
        .store()
        .grant_prompt(&restricted_id, &other_prompt)
        .await
        .unwrap();
    let lacking = [
        (
            Scope::Read,
            key_with_id(server, &owner, &["write", "execute"]).await.1,
        ),
        (
            Scope::Write,
            key_with_id(server, &owner, &["read", "execute"]).await.1,
        ),
        (
            Scope::Execute,
            key_with_id(server, &owner, &["read", "write"]).await.1,
        ),
    ];
    World {
        owner_key,
        owner_key_id,
        prompt,
        other_prompt,
        version,
        attachment,
        run,
        record,
        revoked,
        expired,
        stranger,
        restricted,
        lacking,
    }
}

impl World {
    fn key(&self, route: &RouteDef, caller: Caller) -> Option<&str> {
        Some(match caller {
            Caller::NoKey => return None,
            Caller::Revoked => &self.revoked,
            Caller::Expired => &self.expired,
            Caller::OtherUser => &self.stranger,
            Caller::RestrictedElsewhere => &self.restricted,
            Caller::LacksScope => match route.access {
                Access::Key(permission) => self
                    .lacking
                    .iter()
                    .find(|(scope, _)| *scope == permission.scope())
                    .map(|(_, key)| key.as_str())
                    .unwrap(),
                Access::SessionOnly => &self.lacking[0].1,
            },
        })
    }

    /// The route's path under `/api`, filled with the owner's real objects.
    fn path(&self, route: &RouteDef) -> String {
        let id = match target(route) {
            Target::Attachment => &self.attachment,
            Target::Run => &self.run,
            Target::Record => &self.record,
            _ => &self.prompt,
        };
        format!("/api{}", route.path)
            .replace("{id}", id)
            .replace("{vid}", &self.version)
            .replace("{n}", "0")
            .replace("{key_id}", &self.owner_key_id)
    }

    /// A valid body for the route, so a refusal is never a body error.
    fn body(&self, server: &TestServer, route: &RouteDef) -> Option<Value> {
        let path = route.path;
        Some(match route.method.as_str() {
            "GET" | "DELETE" => return None,
            "POST" if path == "/v2/public/prompts" => prompt_body(server, "intruder"),
            "POST" if path == "/v2/public/records" => {
                json!({"promptId": self.prompt, "input": "intruder", "output": "intruder"})
            }
            "POST" if path.ends_with("/versions") => {
                json!({"promptText": "intruder", "modelSettings": server.model_settings()})
            }
            "POST" if path.ends_with("/attachments") => {
                json!({"filename": "evil.txt", "base64": "aGVsbG8K", "type": "text"})
            }
            "POST" if path.ends_with("/run") => json!({"userInput": "intruder", "stream": true}),
            "POST" if path.ends_with("/revise") => {
                json!({"instruction": "intruder", "stream": true})
            }
            "POST" if path.ends_with("/finalize") => json!({"notes": "intruder"}),
            "POST" if path.ends_with("/grants") => json!({"promptId": self.prompt}),
            "POST" if path.ends_with("/mcp-toggle") => json!({"expose": true}),
            "POST" if path.ends_with("/mcp-rename") => return None,
            "PUT" if path.ends_with("/current-version") => json!({"versionId": self.version}),
            "PATCH" if path.ends_with("{vid}") => json!({"versionDescription": "intruder"}),
            "PATCH" if path == "/v2/public/settings" => json!({"autoFinalizeMcpRuns": false}),
            "PATCH" if path.starts_with("/v2/public/records/") => json!({"notes": "intruder"}),
            "PATCH" if path.contains("/prompts/{id}") => json!({"name": "intruder"}),
            _ => panic!("{route:?}: no body known for this route"),
        })
    }
}

#[tokio::test]
async fn every_route_refuses_every_unauthorized_caller_with_the_documented_code() {
    let upstream = FakeUpstream::start().await;
    let server = server_with(&upstream).await;
    let w = world(&server, &upstream).await;
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for route in ROUTES {
        for &caller in CALLERS {
            let mut req = server
                .http
                .request(route.method.clone(), server.at(&w.path(route)));
            if let Some(key) = w.key(route, caller) {
                req = req.header("x-api-key", key);
            }
            if let Some(body) = w.body(&server, route) {
                req = req.json(&body);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let bytes = r.bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let Some((want_status, want_code)) = expected(route, caller) else {
                // Own-data routes: whatever the caller gets, it must not show the owner's
                // objects.
                assert!(status < 500, "{route:?} {caller:?}: {status} {body}");
                if route.method == "GET" && route.path == "/v2/public/prompts" {
                    let listed = ids(&body);
                    assert!(!listed.contains(&w.prompt), "{caller:?} lists {listed:?}");
                }
                if route.method == "GET" && route.path == "/v2/public/records" {
                    let listed = ids(&body);
                    assert!(!listed.contains(&w.record), "{caller:?} lists {listed:?}");
                }
                continue;
            };
            checked += 1;
            if (200..300).contains(&status) {
                mismatches.push(format!(
                    "{route:?} {caller:?}: UNAUTHORIZED {status} {body}"
                ));
            } else if status != want_status || body["reason_code"] != want_code {
                mismatches.push(format!(
                    "{route:?} {caller:?}: want {want_status} {want_code}, got {status} {}",
                    body["reason_code"]
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(checked >= ROUTES.len() * 4, "{checked} checks");

    // Session-only routes refuse even the owner's all-scope key.
    for route in ROUTES.iter().filter(|r| r.access == Access::SessionOnly) {
        let mut req = server
            .http
            .request(route.method.clone(), server.at(&w.path(route)))
            .header("x-api-key", &w.owner_key);
        if let Some(body) = w.body(&server, route) {
            req = req.json(&body);
        }
        let body = json_with(req.send().await.unwrap(), 403).await;
        assert_eq!(body["reason_code"], "api_key_not_permitted", "{route:?}");
    }

    // Nothing was changed by the refused callers.
    let owner_get = |path: String| {
        let (server, key) = (&server, &w.owner_key);
        async move { json_with(get(server, key, &path).await, 200).await }
    };
    let prompt = owner_get(format!("{PROMPTS}/{}", w.prompt)).await;
    assert_eq!(prompt["name"], "guarded");
    assert_eq!(prompt["exposeAsMcpTool"], false);
    assert_ne!(
        current_version(&server, &w.owner_key, &w.prompt).await,
        w.version
    );
    let versions = owner_get(format!("{PROMPTS}/{}/versions", w.prompt)).await;
    assert_eq!(ids(&versions).len(), 2);
    let attachment = format!("/api/v2/public/attachments/{}", w.attachment);
    assert_eq!(get(&server, &w.owner_key, &attachment).await.status(), 200);
    let other = owner_get(format!("{PROMPTS}/{}", w.other_prompt)).await;
    assert_eq!(other["name"], "granted elsewhere");
    let grants = server.state.store().key_grants(&w.owner_key_id).await;
    assert!(grants.unwrap().is_empty());
    let record = owner_get(format!("/api/v2/public/records/{}", w.record)).await;
    assert_eq!(record["notes"], Value::Null);
    let run = owner_get(format!("/api/v2/public/runs/{}", w.run)).await;
    assert_eq!(run["turnCount"], 1);
    assert_eq!(run["finalizedRecordId"], Value::Null);
    assert_eq!(
        upstream.requests().len(),
        1,
        "only the owner's run reached the model"
    );
}
