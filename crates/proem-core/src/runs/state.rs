//! The run-session state machine (spec "Run lifecycle", reason-code table). Every move is a
//! compare-and-set in the store; this table says which moves exist and what each illegal one
//! answers.
//!
//! ```text
//!  start ─► Running ──turn ok──► Active ──finalize──► Finalizing ──ok──► Finalized
//!              │  ▲                 │  ▲                   │                 │
//!   first turn │  └────revise───────┘  └──failed (retry)───┘   reopen (revise/amend)
//!     failed   ▼                    │                                         │
//!           Failed        cancel ─► Abandoned      TTL ─► Expired ◄───────────┘
//! ```
//!
//! Choices where the spec's text disagrees with itself: revising or finalizing an Expired, Failed
//! or Abandoned session answers the specific `session_expired` / `session_failed` /
//! `session_abandoned`; cancelling a session that already ended (Finalized, Expired, Failed)
//! answers `run_already_terminal`, and cancelling an Abandoned one again succeeds (idempotent).

use proem_api::ReasonCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    Active,
    Running,
    Finalizing,
    Finalized,
    Expired,
    Failed,
    Abandoned,
}

impl RunState {
    pub const ALL: [RunState; 7] = [
        RunState::Active,
        RunState::Running,
        RunState::Finalizing,
        RunState::Finalized,
        RunState::Expired,
        RunState::Failed,
        RunState::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Active => "Active",
            RunState::Running => "Running",
            RunState::Finalizing => "Finalizing",
            RunState::Finalized => "Finalized",
            RunState::Expired => "Expired",
            RunState::Failed => "Failed",
            RunState::Abandoned => "Abandoned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No move leaves these.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Expired | RunState::Failed | RunState::Abandoned
        )
    }

    /// Sessions that still pin their prompt, version and attachments.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            RunState::Active | RunState::Running | RunState::Finalizing
        )
    }
}

/// What a caller or the run task asks of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `/revise` (reopens a Finalized session).
    Revise,
    /// `/finalize` on an Active session, or an amend that reopens a Finalized one.
    Finalize,
    /// `DELETE /runs/{id}`.
    Cancel,
    /// The upstream call of a turn succeeded and the turn is stored.
    TurnCompleted,
    /// The upstream call failed: the first turn fails the session, a revision returns it to Active.
    TurnFailed { first_turn: bool },
    /// The record was written.
    FinalizeDone,
    /// Writing the record failed; the session goes back to Active so finalize can be retried.
    FinalizeFailed,
    /// The sliding TTL ran out.
    Expire,
}

/// The state after `command`, or the reason code that refuses it.
pub fn next(state: RunState, command: Command) -> Result<RunState, ReasonCode> {
    use Command as C;
    use RunState as S;
    let ended = |s: S| match s {
        S::Expired => ReasonCode::SessionExpired,
        S::Failed => ReasonCode::SessionFailed,
        _ => ReasonCode::SessionAbandoned,
    };
    match (command, state) {
        (C::Revise | C::Finalize, S::Active | S::Finalized) => Ok(if command == C::Revise {
            S::Running
        } else {
            S::Finalizing
        }),
        (C::Revise | C::Finalize, S::Running | S::Finalizing) => Err(ReasonCode::SessionBusy),
        (C::Revise | C::Finalize, s) => Err(ended(s)),

        (C::Cancel, S::Active | S::Running | S::Abandoned) => Ok(S::Abandoned),
        (C::Cancel, S::Finalizing) => Err(ReasonCode::SessionBusy),
        (C::Cancel, S::Finalized | S::Expired | S::Failed) => Err(ReasonCode::RunAlreadyTerminal),

        (C::TurnCompleted, S::Running) => Ok(S::Active),
        (C::TurnFailed { first_turn: true }, S::Running) => Ok(S::Failed),
        (C::TurnFailed { first_turn: false }, S::Running) => Ok(S::Active),
        (C::TurnCompleted | C::TurnFailed { .. }, _) => Err(ReasonCode::SessionNotActive),

        (C::FinalizeDone, S::Finalizing) => Ok(S::Finalized),
        (C::FinalizeFailed, S::Finalizing) => Ok(S::Active),
        (C::FinalizeDone | C::FinalizeFailed, _) => Err(ReasonCode::SessionNotActive),

        (C::Expire, S::Active | S::Finalized | S::Running | S::Finalizing) => Ok(S::Expired),
        (C::Expire, s) => Err(ended(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMANDS: [Command; 9] = [
        Command::Revise,
        Command::Finalize,
        Command::Cancel,
        Command::TurnCompleted,
        Command::TurnFailed { first_turn: true },
        Command::TurnFailed { first_turn: false },
        Command::FinalizeDone,
        Command::FinalizeFailed,
        Command::Expire,
    ];

    /// A small deterministic generator, so the property test needs no extra crate.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % n
        }
    }

    #[test]
    fn random_command_sequences_keep_the_invariants() {
        let mut rng = Lcg(0x5eed);
        for _ in 0..2_000 {
            let mut state = RunState::Running;
            for _ in 0..40 {
                let command = COMMANDS[rng.next(COMMANDS.len())];
                match next(state, command) {
                    Ok(after) => {
                        // Terminal states are left only by cancelling an Abandoned session again.
                        if state.is_terminal() {
                            assert_eq!(
                                (state, command, after),
                                (RunState::Abandoned, Command::Cancel, RunState::Abandoned)
                            );
                        }
                        // Only a completed finalize produces Finalized.
                        if after == RunState::Finalized {
                            assert_eq!(
                                (state, command),
                                (RunState::Finalizing, Command::FinalizeDone)
                            );
                        }
                        // Only the run task moves a session out of Running, except cancel and TTL.
                        if state == RunState::Running {
                            assert!(matches!(
                                command,
                                Command::TurnCompleted
                                    | Command::TurnFailed { .. }
                                    | Command::Cancel
                                    | Command::Expire
                            ));
                        }
                        state = after;
                    }
                    Err(code) => {
                        // Every refusal is a 409 the caller can act on.
                        assert_eq!(code.status(), 409, "{state:?} {command:?} → {code}");
                    }
                }
            }
        }
    }

    #[test]
    fn revise_reopens_a_finalized_session() {
        assert_eq!(
            next(RunState::Finalized, Command::Revise),
            Ok(RunState::Running)
        );
    }

    #[test]
    fn busy_sessions_answer_session_busy() {
        for s in [RunState::Running, RunState::Finalizing] {
            assert_eq!(next(s, Command::Revise), Err(ReasonCode::SessionBusy));
            assert_eq!(next(s, Command::Finalize), Err(ReasonCode::SessionBusy));
        }
    }

    #[test]
    fn ended_sessions_answer_their_own_code() {
        assert_eq!(
            next(RunState::Expired, Command::Revise),
            Err(ReasonCode::SessionExpired)
        );
        assert_eq!(
            next(RunState::Failed, Command::Finalize),
            Err(ReasonCode::SessionFailed)
        );
        assert_eq!(
            next(RunState::Abandoned, Command::Revise),
            Err(ReasonCode::SessionAbandoned)
        );
    }

    #[test]
    fn cancel_is_idempotent_and_refused_once_the_run_ended() {
        assert_eq!(
            next(RunState::Active, Command::Cancel),
            Ok(RunState::Abandoned)
        );
        assert_eq!(
            next(RunState::Abandoned, Command::Cancel),
            Ok(RunState::Abandoned)
        );
        for s in [RunState::Finalized, RunState::Expired, RunState::Failed] {
            assert_eq!(
                next(s, Command::Cancel),
                Err(ReasonCode::RunAlreadyTerminal)
            );
        }
    }

    #[test]
    fn a_late_turn_on_a_moved_session_is_session_not_active() {
        assert_eq!(
            next(RunState::Abandoned, Command::TurnCompleted),
            Err(ReasonCode::SessionNotActive)
        );
        assert_eq!(
            next(RunState::Active, Command::FinalizeDone),
            Err(ReasonCode::SessionNotActive)
        );
    }

    #[test]
    fn state_names_round_trip() {
        for s in RunState::ALL {
            assert_eq!(RunState::parse(s.as_str()), Some(s));
        }
    }
}
