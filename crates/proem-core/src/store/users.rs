//! Users: the owners of every object. Created by operators (`proem admin user create`).

use super::{Store, StoreError, StoreResult};
use crate::ids;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub created_at: i64,
}

type UserRow = (String, String, Option<String>, i64);

fn user((id, email, name, created_at): UserRow) -> User {
    User {
        id,
        email,
        name,
        created_at,
    }
}

/// Emails compare case-insensitively and without surrounding whitespace.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Store {
    /// Creates a user. An email already in use is `StoreError::Constraint("users_email_key")`.
    pub async fn create_user(&self, email: &str, name: Option<&str>) -> StoreResult<User> {
        let user = User {
            id: ids::new_id(ids::USER),
            email: normalize_email(email),
            name: name.map(str::to_owned),
            created_at: self.now_ms(),
        };
        sqlx::query("INSERT INTO users (id, email, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.name)
            .bind(user.created_at)
            .execute(self.writer())
            .await
            .map_err(|e| match StoreError::from(e) {
                // SQLite names the column, PostgreSQL the constraint; one name for callers.
                e if e.is_constraint("email") => StoreError::Constraint("users_email_key".into()),
                e => e,
            })?;
        Ok(user)
    }

    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as("SELECT id, email, name, created_at FROM users WHERE email = $1")
                .bind(normalize_email(email))
                .fetch_optional(self.reader())
                .await?;
        Ok(row.map(user))
    }

    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as("SELECT id, email, name, created_at FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(self.reader())
                .await?;
        Ok(row.map(user))
    }
}
