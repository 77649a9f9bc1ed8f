//! A record's delta chain and the `turns[]` history synthesized from it (spec "Record DTO
//! turns[]"): turn 0 is the run; each revision delta is a turn; an edit delta, at most one and
//! always last, is the final turn. A turn's `output` is what the next turn saw as its prior
//! context (its `intermediateOutput`), or the record's final output when no turn follows.

use proem_api::records::Turn;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Delta {
    #[serde(rename = "revision", rename_all = "camelCase")]
    Revision {
        instruction: String,
        /// What the model saw as the prior output (the caller's override when one was given).
        intermediate_output: String,
        /// The model's output for this revision.
        output: String,
        model_id: String,
        cost_millicents: i64,
    },
    #[serde(rename = "edit", rename_all = "camelCase")]
    Edit {
        /// The model's last returned output; fixed when the edit is first made.
        intermediate_output: String,
        output: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
    },
}

impl Delta {
    pub fn intermediate_output(&self) -> &str {
        match self {
            Delta::Revision {
                intermediate_output,
                ..
            }
            | Delta::Edit {
                intermediate_output,
                ..
            } => intermediate_output,
        }
    }
}

pub fn synthesize(input: &str, final_output: &str, deltas: &[Delta]) -> Vec<Turn> {
    let output_after = |i: usize| {
        deltas.get(i).map_or_else(
            || final_output.to_owned(),
            |d| d.intermediate_output().to_owned(),
        )
    };
    let mut turns = Vec::with_capacity(deltas.len() + 1);
    turns.push(Turn {
        index: 0,
        kind: "run".into(),
        input: Some(input.to_owned()),
        instruction: None,
        intermediate_output: None,
        output: output_after(0),
        model_id: None,
        cost_milli_cents: None,
        tag: None,
    });
    for (i, d) in deltas.iter().enumerate() {
        turns.push(match d {
            Delta::Revision {
                instruction,
                intermediate_output,
                model_id,
                cost_millicents,
                ..
            } => Turn {
                index: i + 1,
                kind: "revision".into(),
                input: None,
                instruction: Some(instruction.clone()),
                intermediate_output: Some(intermediate_output.clone()),
                output: output_after(i + 1),
                model_id: Some(model_id.clone()),
                cost_milli_cents: Some(*cost_millicents),
                tag: None,
            },
            Delta::Edit {
                intermediate_output,
                output,
                tag,
            } => Turn {
                index: i + 1,
                kind: "edit".into(),
                input: None,
                instruction: None,
                intermediate_output: Some(intermediate_output.clone()),
                output: output.clone(),
                model_id: None,
                cost_milli_cents: None,
                tag: tag.clone(),
            },
        });
    }
    turns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(instruction: &str, seen: &str, output: &str) -> Delta {
        Delta::Revision {
            instruction: instruction.into(),
            intermediate_output: seen.into(),
            output: output.into(),
            model_id: "m".into(),
            cost_millicents: 1234,
        }
    }

    #[test]
    fn the_specs_example_run_revision_edit() {
        let deltas = vec![
            revision("make formal", "X", "Y"),
            Delta::Edit {
                intermediate_output: "Y".into(),
                output: "Y_edited".into(),
                tag: Some("user-edit".into()),
            },
        ];
        let turns = synthesize("Summarize this article: ...", "Y_edited", &deltas);
        let shape: Vec<_> = turns
            .iter()
            .map(|t| {
                (
                    t.index,
                    t.kind.as_str(),
                    t.intermediate_output.as_deref(),
                    t.output.as_str(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, "run", None, "X"),
                (1, "revision", Some("X"), "Y"),
                (2, "edit", Some("Y"), "Y_edited"),
            ]
        );
        assert_eq!(
            turns[0].input.as_deref(),
            Some("Summarize this article: ...")
        );
        assert_eq!(turns[1].instruction.as_deref(), Some("make formal"));
        assert_eq!(turns[1].cost_milli_cents, Some(1234));
        assert_eq!(turns[2].tag.as_deref(), Some("user-edit"));
    }

    #[test]
    fn a_one_shot_record_has_only_the_run_turn_with_the_final_output() {
        let turns = synthesize("in", "out", &[]);
        assert_eq!(turns.len(), 1);
        assert_eq!(turns[0].output, "out");
    }

    #[test]
    fn an_intermediate_output_override_shows_as_the_previous_turns_output() {
        let turns = synthesize("in", "Z", &[revision("shorter", "X (edited by me)", "Z")]);
        assert_eq!(turns[0].output, "X (edited by me)");
        assert_eq!(turns[1].output, "Z");
    }
}
