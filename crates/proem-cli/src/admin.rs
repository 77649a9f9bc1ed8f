//! `proem admin`: users and keys, straight on the configured database.

use anyhow::{Context, bail};
use proem_core::clock::to_utc_string;
use proem_core::store::{KeyStatus, NewKeySpec, Store};

use crate::cli::{AdminArgs, AdminCommand, KeyCommand, UserCommand};
use crate::serve::{load_config, open_store};

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let config = load_config(&args.server)?;
    let store = open_store(&config).await?;
    let result = match args.command {
        AdminCommand::User { command } => user(&store, command).await,
        AdminCommand::Key { command } => key(&store, command).await,
    };
    store.close().await;
    result
}

async fn user(store: &Store, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create { email, name } => {
            if !email.contains('@') {
                bail!("`{email}` is not an email address");
            }
            let user = store
                .create_user(&email, name.as_deref())
                .await
                .map_err(|e| match e {
                    e if e.is_constraint("users_email_key") => {
                        anyhow::anyhow!("a user with email {email} already exists")
                    }
                    e => e.into(),
                })?;
            println!("{}", user.id);
        }
    }
    Ok(())
}

async fn user_id(store: &Store, email: &str) -> anyhow::Result<String> {
    Ok(store
        .user_by_email(email)
        .await?
        .with_context(|| format!("no user with email {email}; create one with `proem admin user create --email {email}`"))?
        .id)
}

async fn key(store: &Store, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create {
            user,
            scopes,
            name,
            expires_in,
        } => {
            let scopes: Vec<String> = scopes
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            if scopes.is_empty() {
                bail!("--scopes needs at least one scope (read, execute, write, prompts:read, …)");
            }
            if let Some(bad) = scopes.iter().find(|s| !proem_api::scope::is_known_scope(s)) {
                bail!(
                    "unknown scope `{bad}`: use read, execute, write, *, or resource:action such as prompts:read"
                );
            }
            let user_id = user_id(store, &user).await?;
            let expires_at = expires_in
                .map(|d| i64::try_from(d.as_millis()).map(|ms| store.now_ms().saturating_add(ms)))
                .transpose()
                .context("--expires-in is too long")?;
            let (_, plaintext) = store
                .create_key(NewKeySpec {
                    user_id: &user_id,
                    name: &name,
                    scopes: &scopes,
                    expires_at,
                    rotated_from: None,
                })
                .await?;
            println!("{plaintext}");
        }
        KeyCommand::List { user, json } => {
            let user_id = user_id(store, &user).await?;
            let keys = store.list_keys(&user_id).await?;
            let now = store.now_ms();
            if json {
                let rows: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({
                            "id": k.id,
                            "name": k.name,
                            "prefix": k.display_prefix,
                            "scopes": k.scopes,
                            "status": status(k.status(now)),
                            "createdAtUtc": to_utc_string(k.created_at),
                            "lastUsedAtUtc": k.last_used_at.map(to_utc_string),
                            "expiresAtUtc": k.expires_at.map(to_utc_string),
                            "rotatedFrom": k.rotated_from,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<36}  {:<12}  {:<8}  {:<20}  {:<24}  NAME",
                    "ID", "PREFIX", "STATUS", "SCOPES", "EXPIRES"
                );
                for k in &keys {
                    println!(
                        "{:<36}  {:<12}  {:<8}  {:<20}  {:<24}  {}",
                        k.id,
                        k.display_prefix,
                        status(k.status(now)),
                        k.scopes.join(","),
                        k.expires_at
                            .map(to_utc_string)
                            .unwrap_or_else(|| "never".into()),
                        k.name
                    );
                }
            }
        }
        KeyCommand::Rotate { key_id, grace } => {
            let grace_ms = i64::try_from(grace.as_millis()).context("--grace is too long")?;
            let (_, plaintext) = store.rotate_key(&key_id, grace_ms).await?.with_context(|| {
                format!("no active key with id {key_id}; list keys with `proem admin key list --user EMAIL`")
            })?;
            println!("{plaintext}");
        }
        KeyCommand::Grant { key_id, prompt_id } => {
            existing_key(store, &key_id).await?;
            store.grant_prompt(&key_id, &prompt_id).await?;
            eprintln!("{key_id} may now reach {prompt_id}");
        }
        KeyCommand::Ungrant { key_id, prompt_id } => {
            existing_key(store, &key_id).await?;
            if !store.ungrant_prompt(&key_id, &prompt_id).await? {
                bail!("{key_id} has no grant for {prompt_id}");
            }
            if store.key_grants(&key_id).await?.is_empty() {
                eprintln!("{key_id} has no grants left: it now reaches all of its user's prompts");
            }
        }
        KeyCommand::Grants { key_id, json } => {
            existing_key(store, &key_id).await?;
            let grants = store.key_grants(&key_id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&grants)?);
            } else if grants.is_empty() {
                eprintln!("{key_id} is unrestricted: it reaches all of its user's prompts");
            } else {
                for g in grants {
                    println!("{g}");
                }
            }
        }
        KeyCommand::Tools {
            key_id,
            set,
            all,
            none,
            clear,
            json,
        } => {
            existing_key(store, &key_id).await?;
            let change = match (set, all, none, clear) {
                (Some(names), ..) => Some(Some(tool_names(&names)?)),
                (None, true, ..) => Some(Some(vec!["*".to_owned()])),
                (None, false, true, _) => Some(Some(Vec::new())),
                (None, false, false, true) => Some(None),
                (None, false, false, false) => None,
            };
            if let Some(tools) = &change {
                store.set_tool_grants(&key_id, tools.as_deref()).await?;
            }
            let tools = store.tool_grants(&key_id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tools)?);
            } else {
                match &tools {
                    None => eprintln!(
                        "{key_id} has no tool allow-list: it may call every MCP tool its scopes permit"
                    ),
                    Some(t) if t.is_empty() => {
                        eprintln!("{key_id} may call no MCP tool but discovery")
                    }
                    Some(t) => t.iter().for_each(|name| println!("{name}")),
                }
            }
        }
        KeyCommand::Revoke { key_id } => {
            if !store.revoke_key(&key_id).await? {
                bail!(
                    "no key with id {key_id}; list keys with `proem admin key list --user EMAIL`"
                );
            }
            eprintln!("revoked {key_id}");
        }
    }
    Ok(())
}

/// Tool names for `key tools --set`: `proem_` prefixed, core tool names or (with a warning)
/// names a prompt's synthesized tool may have.
fn tool_names(names: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for raw in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let name = if raw == "*" || raw.starts_with(proem_core::mcp::TOOL_PREFIX) {
            raw.to_owned()
        } else {
            format!("{}{raw}", proem_core::mcp::TOOL_PREFIX)
        };
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'*')
        {
            bail!("`{raw}` is not a tool name");
        }
        if name != "*" && !proem_server::MCP_TOOLS.iter().any(|t| t.name == name) {
            eprintln!("note: {name} is not a built-in tool; kept for a prompt's synthesized tool");
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

async fn existing_key(store: &Store, key_id: &str) -> anyhow::Result<()> {
    store.key_by_id(key_id).await?.map(|_| ()).with_context(|| {
        format!("no key with id {key_id}; list keys with `proem admin key list --user EMAIL`")
    })
}

fn status(s: KeyStatus) -> &'static str {
    match s {
        KeyStatus::Active => "active",
        KeyStatus::Revoked => "revoked",
        KeyStatus::Expired => "expired",
    }
}
