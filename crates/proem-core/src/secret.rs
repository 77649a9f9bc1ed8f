//! Secrets in configuration are references (`env::OPENAI_API_KEY`), never literal values in a
//! file, and never printed: `Debug` shows the reference only.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A reference to a secret, resolved when it is used.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(String);

impl SecretRef {
    pub fn new(reference: impl Into<String>) -> Self {
        Self(reference.into())
    }

    /// The value the reference points at: `env::NAME` reads the environment variable NAME.
    pub fn resolve(&self) -> Result<String, String> {
        match self.0.strip_prefix("env::") {
            Some(var) => std::env::var(var).map_err(|_| {
                format!(
                    "secret reference `{}`: environment variable {var} is not set",
                    self.0
                )
            }),
            None => Err(format!(
                "secret reference `{}` is not of the form env::VARIABLE",
                self.0
            )),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_secrets_are_refused() {
        assert!(SecretRef::new("sk-live-123").resolve().is_err());
    }

    #[test]
    fn env_references_resolve_from_the_environment() {
        // PATH is set in every test environment.
        assert!(SecretRef::new("env::PATH").resolve().is_ok());
        assert!(
            SecretRef::new("env::PROEM_TEST_SURELY_UNSET_VAR")
                .resolve()
                .is_err()
        );
    }
}
