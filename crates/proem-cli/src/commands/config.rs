//! `proem config set`: your persistent settings on the server (`PATCH /settings`).

use clap::{Args, ValueEnum};
use proem_api::records::Settings;
use reqwest::Method;
use serde_json::json;

use super::{ClientOpts, Ctx};
use crate::client::Call;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Setting {
    /// Whether runs are saved as records when the call does not say (default true).
    AutoFinalizeMcpRuns,
}

/// Change one of your settings on the server.
#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[arg(value_enum)]
    pub setting: Setting,
    #[arg(value_name = "true|false", action = clap::ArgAction::Set)]
    pub value: bool,
}

pub async fn set(args: SetArgs) -> anyhow::Result<()> {
    let ctx = Ctx::connect(&args.opts)?;
    let body = match args.setting {
        Setting::AutoFinalizeMcpRuns => json!({ "autoFinalizeMcpRuns": args.value }),
    };
    let answer = ctx
        .send_printing(Call::new(Method::PATCH, "/settings").merge_patch(body))
        .await?;
    if !ctx.out.json {
        let settings: Settings = answer.parse()?;
        ctx.out.status(format!(
            "auto-finalize-mcp-runs = {}: runs {} saved as records unless a call says otherwise",
            settings.auto_finalize_mcp_runs,
            if settings.auto_finalize_mcp_runs {
                "are"
            } else {
                "are not"
            }
        ));
    }
    Ok(())
}
