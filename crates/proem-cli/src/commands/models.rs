//! `proem models list`: the live model catalog, whose `model_id` goes into a prompt's
//! `modelSettings`.

use clap::{Args, Subcommand};
use proem_api::models::ModelsResponse;

use super::{ClientOpts, Ctx};
use crate::client::Call;
use crate::output::{Style, cost};

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the models this server can run, with their ids, modalities, parameters and prices.
    /// The recommended model is marked with *; its settings paste into a manifest's
    /// modelSettings.
    List,
}

pub async fn run(args: ModelsArgs) -> anyhow::Result<()> {
    let ctx = Ctx::connect(&args.opts)?;
    match args.command {
        ModelsCommand::List => list(&ctx).await,
    }
}

async fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let answer = ctx.send_printing(Call::get("/models")).await?;
    if ctx.out.json {
        return Ok(());
    }
    let catalog: ModelsResponse = answer.parse()?;
    let recommended = catalog
        .recommended_defaults
        .as_ref()
        .map(|r| r.model_id.as_str());
    let rows: Vec<Vec<String>> = catalog
        .models
        .iter()
        .map(|m| {
            let mark = if Some(m.model_id.as_str()) == recommended {
                "*"
            } else {
                ""
            };
            vec![
                format!("{}{mark}", m.model_id),
                m.display_name.clone(),
                m.provider.clone(),
                format!(
                    "{} → {}",
                    m.input_modalities.join("+"),
                    m.output_modalities.join("+")
                ),
                m.parameters.keys().cloned().collect::<Vec<_>>().join(", "),
                format!(
                    "{} / {} per Mtok",
                    cost(m.costs.input_millicents_per_mtok),
                    cost(m.costs.output_millicents_per_mtok)
                ),
            ]
        })
        .collect();
    if rows.is_empty() {
        ctx.out.status(
            "no models: configure a provider (see `proem config print-default`) or set OPENAI_API_KEY / ANTHROPIC_API_KEY for the server",
        );
        return Ok(());
    }
    ctx.out.table(
        &[
            "MODEL ID",
            "NAME",
            "PROVIDER",
            "MODALITIES",
            "PARAMETERS",
            "PRICE (in / out)",
        ],
        &rows,
    );
    if let Some(defaults) = &catalog.recommended_defaults {
        ctx.out.status(format!(
            "{} recommended: modelSettings = {}",
            ctx.out.err_paint(Style::Bold, "*"),
            serde_json::to_string(defaults)?
        ));
    }
    Ok(())
}
