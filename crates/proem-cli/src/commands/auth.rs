//! `proem auth login|status|logout`: save, inspect and forget the server URL and API key.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use proem_api::me::MeResponse;
use serde_json::json;

use super::{ClientOpts, Ctx};
use crate::client::{Api, Call};
use crate::credentials::{self, Credentials, Source};
use crate::error::CliError;
use crate::output::{Out, Style, relative};

#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: AuthCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Save a server URL and API key (pmk_…) for the other commands. Asks for the key unless
    /// --key is given (or it is piped on stdin); checks it against the server before saving.
    Login {
        /// The API key. Prefer the prompt: a flag lands in your shell history.
        #[arg(long)]
        key: Option<String>,
        /// The server: https://…, or http:// only to localhost, 127.0.0.1 or [::1].
        #[arg(long, env = "PROEM_API_URL", default_value = credentials::DEFAULT_URL)]
        url: String,
    },
    /// Who the key is (user, key, scopes, per-prompt grants, expiry) and its rate-limit state.
    Status,
    /// Forget the saved URL and key.
    Logout,
}

pub async fn run(args: AuthArgs) -> anyhow::Result<()> {
    let out = Out::new(args.opts.json);
    match args.command {
        AuthCommand::Login { key, url } => login(&out, key, &url, args.opts.idempotency_key).await,
        AuthCommand::Status => status(&args.opts).await,
        AuthCommand::Logout => {
            let removed = credentials::delete()?;
            let path = credentials::credentials_path()?;
            if out.json {
                out.json_value(&json!({ "loggedOut": removed }));
            } else if removed {
                out.status(format!("logged out: removed {}", path.display()));
            } else {
                out.status("not logged in: there were no saved credentials");
            }
            if std::env::var_os("PROEM_API_KEY").is_some() {
                out.status("note: PROEM_API_KEY is still set in your environment");
            }
            Ok(())
        }
    }
}

async fn login(
    out: &Out,
    key: Option<String>,
    url: &str,
    pinned: Option<String>,
) -> anyhow::Result<()> {
    // The guard runs before the key is read, let alone sent.
    let url = credentials::check_url(url)?;
    let key = match key {
        Some(k) => k,
        None => read_key()?,
    };
    let key = key.trim().to_owned();
    if key.is_empty() {
        return Err(CliError::usage("no API key given").into());
    }
    if !key.starts_with("pmk_") {
        return Err(CliError::usage("an API key starts with pmk_")
            .with_hint("Create one with `proem admin key create --user EMAIL --scopes read,execute,write`.")
            .into());
    }
    let api = Api::with(url.clone(), key.clone(), pinned)?;
    let me = match api.send(Call::get("/me")).await {
        Ok(answer) => Some(answer.parse::<MeResponse>()?),
        // Authenticated, but without `read`: the key works, it just cannot say who it is.
        Err(e)
            if e.downcast_ref::<CliError>().and_then(CliError::reason_code)
                == Some("scope_required") =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    let path = credentials::save(&Credentials {
        url: url.clone(),
        key,
    })?;
    if out.json {
        out.json_value(&json!({ "url": url, "credentials": path, "me": me }));
        return Ok(());
    }
    match &me {
        Some(me) => out.status(format!(
            "logged in to {url} as {} with key {} ({})",
            me.user_id,
            me.key_id,
            me.scopes.join(", ")
        )),
        None => out.status(format!(
            "logged in to {url} (the key has no `read` scope, so its identity is not shown)"
        )),
    }
    out.status(format!("saved to {}", path.display()));
    Ok(())
}

/// Reads the key: hidden from a terminal, or one line of piped stdin.
fn read_key() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("API key (pmk_…): ").context("cannot read the key");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the key from stdin")?;
    Ok(line)
}

async fn status(opts: &ClientOpts) -> anyhow::Result<()> {
    let resolved = credentials::resolve()?;
    let ctx = Ctx {
        api: Api::new(&resolved, None)?,
        out: Out::new(opts.json),
    };
    let answer = ctx.api.send(Call::get("/me")).await?;
    let me: MeResponse = answer.parse()?;
    let rate = json!({
        "limit": answer.header("x-ratelimit-limit"),
        "remaining": answer.header("x-ratelimit-remaining"),
        "reset": answer.header("x-ratelimit-reset"),
        "bucket": answer.header("x-ratelimit-bucket"),
    });
    if ctx.out.json {
        let mut body: serde_json::Value = answer.parse()?;
        body["apiUrl"] = json!(resolved.url);
        body["rateLimit"] = rate;
        ctx.out.json_value(&body);
        return Ok(());
    }
    let file = credentials::credentials_path()?;
    let out = &ctx.out;
    let field = |label: &str, value: String| {
        out.line(format!(
            "{} {value}",
            out.paint(Style::Dim, &format!("{label:<11}"))
        ));
    };
    field(
        "server",
        format!(
            "{}  ({})",
            resolved.url,
            resolved.url_source.describe("PROEM_API_URL", &file)
        ),
    );
    field(
        "key",
        format!(
            "{} {}  ({})",
            me.key_id,
            if me.key_name.is_empty() {
                String::new()
            } else {
                format!("\"{}\"", me.key_name)
            },
            match resolved.key_source {
                Source::Env => "from $PROEM_API_KEY".to_owned(),
                s => s.describe("PROEM_API_KEY", &file),
            }
        ),
    );
    field("user", me.user_id.clone());
    field("scopes", me.scopes.join(", "));
    field(
        "grants",
        if me.grants.is_empty() {
            "none: the key reaches all of its user's prompts".to_owned()
        } else {
            me.grants.join(", ")
        },
    );
    field(
        "expires",
        match &me.expires_at_utc {
            Some(at) => format!("{} ({at})", relative(at)),
            None => "never".to_owned(),
        },
    );
    let remaining = answer.header("x-ratelimit-remaining").unwrap_or("?");
    let limit = answer.header("x-ratelimit-limit").unwrap_or("?");
    let bucket = answer.header("x-ratelimit-bucket").unwrap_or("");
    let reset = answer
        .header("x-ratelimit-reset")
        .and_then(|r| r.parse::<i64>().ok())
        .map(|r| {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            format!(", resets in {} s", (r - now).max(0))
        })
        .unwrap_or_default();
    field(
        "rate limit",
        format!("{remaining}/{limit} read requests left this minute ({bucket}{reset})"),
    );
    Ok(())
}
