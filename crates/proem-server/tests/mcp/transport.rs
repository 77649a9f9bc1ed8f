//! The transport's edges: authentication and its challenge, the protected-resource metadata,
//! sessions bound to their key, Host and Origin checks, protocol versions, the tool list and the
//! guide resources.

use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ProtocolVersion, ReadResourceRequestParams,
};
use rmcp::service::{ClientLifecycleMode, serve_client_with_lifecycle};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use super::support::Fixture;
use super::synthesized::expose;

#[tokio::test]
async fn mcp_without_a_key_is_401_with_a_resource_metadata_challenge() {
    let f = Fixture::new().await;
    let response = f
        .server
        .http
        .post(f.mcp_url())
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert_eq!(
        challenge,
        format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            f.server.url
        )
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason_code"], "key_unauthorized");
}

#[tokio::test]
async fn a_revoked_or_bogus_key_is_401_too() {
    let f = Fixture::new().await;
    let raw = f.raw("pmk_not_a_real_key");
    let response = raw
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn protected_resource_metadata_is_open_and_names_the_mcp_endpoint() {
    let f = Fixture::new().await;
    let response = f
        .server
        .http
        .get(f.server.at("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["resource"], format!("{}/mcp", f.server.url));
    assert_eq!(doc["authorization_servers"], json!([]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    assert_eq!(doc["scopes_supported"], json!(["read", "execute", "write"]));
}

#[tokio::test]
async fn a_session_is_bound_to_the_key_that_created_it() {
    let f = Fixture::new().await;
    let mut owner = f.raw(&f.key);
    owner.initialize("2025-11-25").await;
    let sid = owner.session.clone().unwrap();
    let other_key = f.key_with(&["read", "execute", "write"]).await;
    let mut intruder = f.raw(&other_key);
    intruder.session = Some(sid.clone());
    let response = intruder
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason_code"], "mcp_session_not_owned");
    // The owner still uses it.
    let messages = owner.request(1, "tools/list", json!({})).await;
    assert!(messages.last().unwrap()["result"]["tools"].is_array());
}

#[tokio::test]
async fn a_foreign_origin_is_403_and_a_local_origin_passes() {
    let f = Fixture::new().await;
    let raw = f.raw(&f.key);
    let init = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    });
    let foreign = raw
        .post(&init)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let local = raw
        .post(&init)
        .header(
            "origin",
            format!("http://127.0.0.1:{}", f.server.addr.port()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 200);
}

#[tokio::test]
async fn a_foreign_host_is_403() {
    let f = Fixture::new().await;
    let response = f
        .raw(&f.key)
        .post(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }))
        .header("host", "rebound.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn configured_hosts_and_origins_are_allowed() {
    let f = Fixture::with(|c| {
        c.mcp.allowed_hosts.push("proem.internal".into());
        c.mcp.allowed_origins.push("https://app.example:443".into());
    })
    .await;
    let response = f
        .raw(&f.key)
        .post(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }))
        .header("host", "proem.internal")
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn protocol_versions_2025_03_26_to_2025_11_25_are_negotiated_as_asked() {
    let f = Fixture::new().await;
    for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let mut raw = f.raw(&f.key);
        let init = raw.initialize(version).await;
        assert_eq!(init["result"]["protocolVersion"], version);
        assert!(raw.session.is_some(), "{version} runs in a session");
        let tools = raw.request(1, "tools/list", json!({})).await;
        assert!(
            !tools.last().unwrap()["result"]["tools"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    // An older client is offered the newest version with a handshake.
    let mut raw = f.raw(&f.key);
    let init = raw.initialize("2024-11-05").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
}

#[tokio::test]
async fn the_stateless_2026_07_28_protocol_lists_and_calls_tools() {
    let f = Fixture::new().await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(f.mcp_url()).auth_header(f.key.clone()),
    );
    let info = ClientConfig::new(ClientCapabilities::default(), Implementation::new("t", "1"));
    let client = serve_client_with_lifecycle(
        info,
        transport,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "proem_get_catalog"));
    let result = client
        .call_tool(rmcp::model::CallToolRequestParams::new("proem_get_catalog"))
        .await
        .unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert!(result.structured_content.unwrap()["models"].is_array());
}

#[tokio::test]
async fn initialize_offers_tools_with_list_changed_resources_and_instructions() {
    let f = Fixture::new().await;
    let mut raw = f.raw(&f.key);
    let init = raw.initialize("2025-11-25").await;
    let result = &init["result"];
    assert_eq!(result["capabilities"]["tools"]["listChanged"], true);
    assert!(result["capabilities"]["resources"].is_object());
    assert_eq!(result["serverInfo"]["name"], "proem");
    assert!(
        result["instructions"]
            .as_str()
            .unwrap()
            .contains("proem_get_catalog")
    );
}

#[tokio::test]
async fn every_tool_is_listed_with_input_and_output_schemas_and_annotations() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let tools = client.tools().await;
    assert_eq!(tools.len(), proem_server::MCP_TOOLS.len());
    for def in proem_server::MCP_TOOLS {
        let tool = tools
            .iter()
            .find(|t| t.name == def.name)
            .unwrap_or_else(|| panic!("{} is not listed", def.name));
        assert_eq!(tool.input_schema["type"], "object", "{}", def.name);
        let output = tool.output_schema.as_ref().unwrap();
        assert_eq!(output["type"], "object");
        assert_eq!(output["anyOf"].as_array().unwrap().len(), 2);
        let annotations = tool.annotations.as_ref().unwrap();
        assert_eq!(annotations.read_only_hint, Some(def.hints.read_only));
        assert!(!serde_json::to_string(tool).unwrap().contains("$ref"));
    }
    let run = tools.iter().find(|t| t.name == "proem_run_prompt").unwrap();
    assert_eq!(run.input_schema["required"], json!(["promptId"]));
    assert!(run.description.as_deref().unwrap().contains("autoFinalize"));
}

/// The formats JSON Schema 2020-12 defines (Validation, section 7.3).
const JSON_SCHEMA_FORMATS: &[&str] = &[
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

/// Every `format` in `schema` outside instance data, with where it is.
fn formats(schema: &Value, at: &str, found: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("format", Value::String(format)) => found.push(format!("{at}: {format}")),
                    ("const" | "default" | "enum" | "examples", _) => {}
                    _ => formats(value, &format!("{at}/{key}"), found),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                formats(item, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn tool_schemas_use_only_formats_json_schema_defines() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Formats").await;
    let synthesized = expose(&f, &prompt).await;
    let tools = client.tools().await;
    assert!(tools.iter().any(|t| t.name == synthesized));
    let mut found = Vec::new();
    for tool in &tools {
        let input = Value::Object((*tool.input_schema).clone());
        formats(&input, &format!("{} input", tool.name), &mut found);
        let output = Value::Object((**tool.output_schema.as_ref().unwrap()).clone());
        formats(&output, &format!("{} output", tool.name), &mut found);
    }
    let odd: Vec<&String> = found
        .iter()
        .filter(|f| {
            !JSON_SCHEMA_FORMATS
                .iter()
                .any(|s| f.ends_with(&format!(": {s}")))
        })
        .collect();
    assert!(
        odd.is_empty(),
        "formats JSON Schema does not define: {odd:#?}"
    );
    // The unsigned constraint survives as a minimum (the problem document's `status` is a u16).
    let get = tools.iter().find(|t| t.name == "proem_get_prompt").unwrap();
    let output = get.output_schema.as_ref().unwrap();
    assert_eq!(output["anyOf"][1]["properties"]["status"]["minimum"], 0);
}

#[tokio::test]
async fn the_guides_are_resources() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let list = client.service.list_resources(None).await.unwrap();
    let uris: Vec<&str> = list.resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        vec!["proem://docs/quickstart", "proem://docs/agent-guide"]
    );
    let guide = client
        .service
        .read_resource(ReadResourceRequestParams::new("proem://docs/agent-guide"))
        .await
        .unwrap();
    let text = serde_json::to_value(&guide.contents[0]).unwrap();
    let text = text["text"].as_str().unwrap();
    for topic in [
        "proem_get_catalog",
        "autoFinalize",
        "proem_revise_run",
        "generalizable",
        "idempotency-key",
    ] {
        assert!(text.contains(topic), "the agent guide covers {topic}");
    }
    let missing = client
        .service
        .read_resource(ReadResourceRequestParams::new("proem://docs/nope"))
        .await;
    assert!(missing.is_err());
}

#[tokio::test]
async fn a_deleted_session_is_forgotten() {
    let f = Fixture::new().await;
    let mut raw = f.raw(&f.key);
    raw.initialize("2025-11-25").await;
    let sid = raw.session.clone().unwrap();
    let deleted = f
        .server
        .http
        .delete(f.mcp_url())
        .bearer_auth(&f.key)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let after = raw
        .post(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 404);
}
