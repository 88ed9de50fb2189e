//! The credential of a machine caller, read from `Authorization` in one place for every face
//! that takes one (the gateway's write keys, the Data Router's integration tokens, the REST
//! API's bearer tokens).

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// What an `Authorization` header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// HTTP Basic: the user name and password (empty when the decoded text has no `:`).
    Basic { user: String, password: String },
    /// A bearer token.
    Bearer(String),
}

impl Authorization {
    /// Reads the header; `None` when it is absent, of another scheme, or not decodable.
    pub fn from_headers(headers: &HeaderMap) -> Option<Authorization> {
        let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
        if let Some(token) = value.strip_prefix("Bearer ") {
            return Some(Authorization::Bearer(token.trim().to_string()));
        }
        let decoded = STANDARD.decode(value.strip_prefix("Basic ")?.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = match text.split_once(':') {
            Some((user, password)) => (user.to_string(), password.to_string()),
            None => (text, String::new()),
        };
        Some(Authorization::Basic { user, password })
    }

    /// The Basic user name, or the bearer token: where Segment's SDKs put the write key
    /// (`writeKey:`).
    pub fn user_or_token(self) -> String {
        match self {
            Authorization::Basic { user, .. } => user,
            Authorization::Bearer(token) => token,
        }
    }

    /// The Basic password (the user name when there is none), or the bearer token: where
    /// systems with a user-and-password field put an API token.
    pub fn password_or_token(self) -> String {
        match self {
            Authorization::Basic { user, password } if password.is_empty() => user,
            Authorization::Basic { password, .. } => password,
            Authorization::Bearer(token) => token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn read(value: &str) -> Option<Authorization> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        Authorization::from_headers(&headers)
    }

    fn basic(text: &str) -> String {
        format!("Basic {}", STANDARD.encode(text))
    }

    #[test]
    fn a_segment_write_key_is_the_basic_user_name() {
        let auth = read(&basic("wk_abc:")).unwrap();
        assert_eq!(
            auth,
            Authorization::Basic {
                user: "wk_abc".into(),
                password: String::new()
            }
        );
        assert_eq!(auth.clone().user_or_token(), "wk_abc");
        assert_eq!(auth.password_or_token(), "wk_abc");
        assert_eq!(read(&basic("wk_abc")).unwrap().user_or_token(), "wk_abc");
    }

    #[test]
    fn a_token_in_the_password_wins_over_the_user_name() {
        let auth = read(&basic("shop@example.com:pulse_token")).unwrap();
        assert_eq!(auth.clone().password_or_token(), "pulse_token");
        assert_eq!(auth.user_or_token(), "shop@example.com");
    }

    #[test]
    fn a_bearer_token_is_trimmed_and_other_schemes_are_none() {
        assert_eq!(
            read("Bearer  tok ").unwrap(),
            Authorization::Bearer("tok".into())
        );
        assert_eq!(read("Basic not base64!"), None);
        assert_eq!(read("Digest x"), None);
        assert_eq!(Authorization::from_headers(&HeaderMap::new()), None);
    }
}
