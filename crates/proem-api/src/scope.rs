//! Key scopes and the one table that decides what they grant.
//!
//! Two vocabularies name the same permissions: the spec's coarse scopes (`read`, `execute`,
//! `write`, checked literally: an execute-only key cannot list prompts) and resource scopes in the
//! `resource:action` form with wildcards (`prompts:read`, `records:*`, `*`). Every route needs one
//! [`Permission`]; [`PERMISSIONS`] says which coarse scope and which resource scope grant it, so both
//! forms decide through the same row.

use std::fmt;

/// A coarse scope of the spec ("Authentication").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Read,
    Execute,
    Write,
}

impl Scope {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Execute => "execute",
            Scope::Write => "write",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route needs. One variant per (resource, action) pair the API exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    PromptsRead,
    PromptsWrite,
    AttachmentsRead,
    AttachmentsWrite,
    RecordsRead,
    RecordsWrite,
    RunsRead,
    RunsExecute,
    ModelsRead,
    SettingsRead,
    SettingsWrite,
    ActivityRead,
}

/// One row of the mapping table.
pub struct PermissionRow {
    pub permission: Permission,
    /// The spec scope that grants it.
    pub scope: Scope,
    /// The resource scope that grants it, `resource:action`.
    pub resource_scope: &'static str,
}

/// The mapping table. Record mutations and runs are `execute` in the spec ("Execute (execute
/// scope)" lists PATCH/DELETE /records); their resource form is `records:write`.
pub const PERMISSIONS: &[PermissionRow] = &[
    row(Permission::PromptsRead, Scope::Read, "prompts:read"),
    row(Permission::PromptsWrite, Scope::Write, "prompts:write"),
    row(Permission::AttachmentsRead, Scope::Read, "attachments:read"),
    row(
        Permission::AttachmentsWrite,
        Scope::Write,
        "attachments:write",
    ),
    row(Permission::RecordsRead, Scope::Read, "records:read"),
    row(Permission::RecordsWrite, Scope::Execute, "records:write"),
    row(Permission::RunsRead, Scope::Read, "runs:read"),
    row(Permission::RunsExecute, Scope::Execute, "runs:execute"),
    row(Permission::ModelsRead, Scope::Read, "models:read"),
    row(Permission::SettingsRead, Scope::Read, "settings:read"),
    row(Permission::SettingsWrite, Scope::Write, "settings:write"),
    row(Permission::ActivityRead, Scope::Read, "activity:read"),
];

const fn row(permission: Permission, scope: Scope, resource_scope: &'static str) -> PermissionRow {
    PermissionRow {
        permission,
        scope,
        resource_scope,
    }
}

impl Permission {
    /// This permission's row of [`PERMISSIONS`].
    pub fn row(self) -> &'static PermissionRow {
        // Every variant has a row; the test `every_permission_has_one_row` keeps it so.
        PERMISSIONS
            .iter()
            .find(|r| r.permission == self)
            .unwrap_or(&PERMISSIONS[0])
    }

    /// The coarse scope that grants this permission.
    pub fn scope(self) -> Scope {
        self.row().scope
    }

    /// The resource scope that grants this permission, e.g. `prompts:read`.
    pub fn resource_scope(self) -> &'static str {
        self.row().resource_scope
    }

    /// Whether a key holding `granted` (as stored: coarse, resource or wildcard scopes) may use it.
    pub fn is_granted_by<S: AsRef<str>>(self, granted: &[S]) -> bool {
        let row = self.row();
        let (resource, _) = row
            .resource_scope
            .split_once(':')
            .unwrap_or((row.resource_scope, ""));
        granted.iter().any(|g| {
            let g = g.as_ref();
            g == "*"
                || g == row.scope.as_str()
                || g == row.resource_scope
                || g.strip_suffix(":*") == Some(resource)
        })
    }
}

/// Whether `scope` is a scope string a key may hold: a coarse scope, `*`, a resource scope of the
/// table, or a `resource:*` wildcard over a resource of the table.
pub fn is_known_scope(scope: &str) -> bool {
    if scope == "*"
        || [Scope::Read, Scope::Execute, Scope::Write]
            .iter()
            .any(|s| s.as_str() == scope)
    {
        return true;
    }
    PERMISSIONS.iter().any(|r| {
        r.resource_scope == scope
            || r.resource_scope.split_once(':').map(|(res, _)| res) == scope.strip_suffix(":*")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Permission] = &[
        Permission::PromptsRead,
        Permission::PromptsWrite,
        Permission::AttachmentsRead,
        Permission::AttachmentsWrite,
        Permission::RecordsRead,
        Permission::RecordsWrite,
        Permission::RunsRead,
        Permission::RunsExecute,
        Permission::ModelsRead,
        Permission::SettingsRead,
        Permission::SettingsWrite,
        Permission::ActivityRead,
    ];

    #[test]
    fn every_permission_has_one_row() {
        for p in ALL {
            assert_eq!(
                PERMISSIONS.iter().filter(|r| r.permission == *p).count(),
                1,
                "{p:?}"
            );
        }
        assert_eq!(PERMISSIONS.len(), ALL.len());
    }

    #[test]
    fn coarse_scopes_are_checked_literally() {
        assert!(!Permission::PromptsRead.is_granted_by(&["execute"]));
        assert!(!Permission::PromptsRead.is_granted_by(&["write"]));
        assert!(Permission::PromptsRead.is_granted_by(&["read"]));
        assert!(Permission::RunsExecute.is_granted_by(&["execute"]));
        assert!(!Permission::RunsExecute.is_granted_by(&["read", "write"]));
    }

    #[test]
    fn coarse_and_resource_forms_decide_identically() {
        for r in PERMISSIONS {
            let resource = r
                .resource_scope
                .split_once(':')
                .map(|(x, _)| x)
                .unwrap_or_default();
            let wildcard = format!("{resource}:*");
            for granted in [r.scope.as_str(), r.resource_scope, wildcard.as_str(), "*"] {
                assert!(
                    r.permission.is_granted_by(&[granted]),
                    "{granted} grants {:?}",
                    r.permission
                );
            }
            for other in PERMISSIONS.iter().filter(|o| o.scope != r.scope) {
                assert!(!r.permission.is_granted_by(&[other.scope.as_str()]));
            }
        }
    }

    #[test]
    fn resource_scope_does_not_leak_to_other_resources() {
        assert!(!Permission::RecordsRead.is_granted_by(&["prompts:read", "prompts:*"]));
        assert!(!Permission::PromptsWrite.is_granted_by(&["prompts:read"]));
    }

    #[test]
    fn known_scopes_are_validated() {
        for ok in [
            "read",
            "execute",
            "write",
            "*",
            "prompts:read",
            "prompts:*",
            "records:write",
        ] {
            assert!(is_known_scope(ok), "{ok}");
        }
        for bad in [
            "",
            "admin",
            "prompts",
            "prompts:delete",
            "nope:*",
            "READ",
            "*:*",
        ] {
            assert!(!is_known_scope(bad), "{bad}");
        }
    }
}
