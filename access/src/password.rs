//! Argon2id password hashes; hashing runs on the blocking pool because it is deliberately slow.

use crate::AccessError;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// Hashes a password with Argon2id and a random salt (PHC string format).
pub async fn hash_password(password: &str) -> Result<String, AccessError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AccessError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| AccessError::Hashing(e.to_string()))?
}

/// Checks a password against a stored PHC hash; a malformed hash never verifies.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let password = password.to_owned();
    let hash = hash.to_owned();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let h = hash_password("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h).await);
        assert!(!verify_password("correct horse batterY", &h).await);
        assert!(!verify_password("x", "not-a-hash").await);
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let a = hash_password("same password!").await.unwrap();
        let b = hash_password("same password!").await.unwrap();
        assert_ne!(a, b);
    }
}
