//! Phone numbers: the one rule by which the CRM stores a phone and the pipeline turns a phone
//! on an event into an identifier. Both must give the same text for the same input, or a phone
//! the CRM accepts never joins the profile of the person who sent it.

use crate::events::WorkspaceId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// Most digits of a phone number with its country code (ITU-T E.164).
pub const MAX_DIGITS: usize = 15;
/// Fewest digits of a phone number with its country code: E.164 sets no minimum, but the
/// shortest numbers in service (Niue, Tokelau: a 3-digit code and 4 digits) have 7.
pub const MIN_DIGITS: usize = 7;

/// A country calling code (ITU-T E.164): 1 for North America, 44 for the UK, 49 for Germany.
/// A workspace's default applies to numbers written without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct CallingCode(u16);

impl CallingCode {
    /// North America (NANP): the default of a workspace that has not chosen one.
    pub const NORTH_AMERICA: CallingCode = CallingCode(1);

    /// A calling code of 1 to 3 digits.
    pub fn new(code: u16) -> Result<CallingCode, PhoneError> {
        if (1..=999).contains(&code) {
            Ok(CallingCode(code))
        } else {
            Err(PhoneError::CallingCode)
        }
    }

    /// The code as a number.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl Default for CallingCode {
    fn default() -> Self {
        CallingCode::NORTH_AMERICA
    }
}

impl TryFrom<u16> for CallingCode {
    type Error = PhoneError;
    fn try_from(code: u16) -> Result<Self, PhoneError> {
        CallingCode::new(code)
    }
}

impl From<CallingCode> for u16 {
    fn from(c: CallingCode) -> u16 {
        c.0
    }
}

impl FromStr for CallingCode {
    type Err = PhoneError;
    /// Reads `44` or `+44`.
    fn from_str(s: &str) -> Result<Self, PhoneError> {
        let digits = s.trim().trim_start_matches('+');
        if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::CallingCode);
        }
        CallingCode::new(digits.parse().map_err(|_| PhoneError::CallingCode)?)
    }
}

impl fmt::Display for CallingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// Per workspace, the calling code its phones written without one take: a workspace setting
/// that the CRM applies when it stores a phone and the pipeline when it decodes an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneCountries(BTreeMap<WorkspaceId, CallingCode>);

impl PhoneCountries {
    /// The calling code of `workspace`: North America's for a workspace not listed or an event
    /// that names none, as before the setting existed.
    pub fn of(&self, workspace: Option<WorkspaceId>) -> CallingCode {
        workspace
            .and_then(|w| self.0.get(&w).copied())
            .unwrap_or_default()
    }
}

impl FromIterator<(WorkspaceId, CallingCode)> for PhoneCountries {
    fn from_iter<I: IntoIterator<Item = (WorkspaceId, CallingCode)>>(iter: I) -> Self {
        PhoneCountries(iter.into_iter().collect())
    }
}

/// Why a text is not a phone number; the message is what a form shows under the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PhoneError {
    /// Nothing but spaces.
    #[error("Enter a phone number.")]
    Empty,
    /// Letters or other symbols.
    #[error("Phone numbers may contain only digits, spaces and + - ( ) . /")]
    Characters,
    /// Too few or too many digits, or a country code that starts with 0.
    #[error(
        "This does not look like a phone number: with its country code it has 7 to 15 digits."
    )]
    Shape,
    /// One digit repeated (`+1 111 111 1111`): a form filler, not a person.
    #[error("This looks like a placeholder, not a phone number.")]
    Placeholder,
    /// A default country code outside 1–999.
    #[error("A country calling code has 1 to 3 digits, e.g. 1, 44 or 49.")]
    CallingCode,
}

/// A phone number in E.164 form (`+4915112345678`). Numbers written with `+` or `00` carry
/// their country code; any other number is national and takes `default_country`, without its
/// trunk prefix (`030 1234567` in Germany, `1 555 123 4567` in North America). Spaces and
/// `- ( ) . /` are ignored.
pub fn normalize(raw: &str, default_country: CallingCode) -> Result<String, PhoneError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(PhoneError::Empty);
    }
    let mut plus = false;
    let mut digits = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '+' if i == 0 => plus = true,
            '0'..='9' => digits.push(c),
            ' ' | '-' | '(' | ')' | '.' | '/' => {}
            _ => return Err(PhoneError::Characters),
        }
    }
    let full = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else {
        // The trunk prefix dialled inside a country is not part of the number: `0` in most
        // places, and in North America a `1` before the ten digits.
        let national = digits.strip_prefix('0').unwrap_or(&digits);
        let national = match national.strip_prefix('1') {
            Some(rest) if default_country == CallingCode::NORTH_AMERICA && rest.len() == 10 => rest,
            _ => national,
        };
        format!("{}{national}", default_country.get())
    };
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&full.len()) || full.starts_with('0') {
        return Err(PhoneError::Shape);
    }
    if full.bytes().all(|b| b == full.as_bytes()[0]) {
        return Err(PhoneError::Placeholder);
    }
    Ok(format!("+{full}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: u16) -> CallingCode {
        CallingCode::new(c).unwrap()
    }

    #[test]
    fn international_numbers_keep_their_country_code() {
        let us = CallingCode::NORTH_AMERICA;
        assert_eq!(normalize("+44 20 7946-0958", us).unwrap(), "+442079460958");
        assert_eq!(
            normalize("0049 (151) 1234567", us).unwrap(),
            "+491511234567"
        );
        assert_eq!(
            normalize(" +683 4002 ", us).unwrap(),
            "+6834002",
            "7 digits"
        );
    }

    #[test]
    fn national_numbers_take_the_default_country_without_the_trunk_prefix() {
        let de = code(49);
        assert_eq!(normalize("030 12345678", de).unwrap(), "+493012345678");
        assert_eq!(normalize("30/12345678", de).unwrap(), "+493012345678");
        let us = CallingCode::NORTH_AMERICA;
        assert_eq!(normalize("(555) 123-4567", us).unwrap(), "+15551234567");
        assert_eq!(normalize("1 555 123 4567", us).unwrap(), "+15551234567");
        assert_eq!(
            normalize("555 1234", us).unwrap(),
            "+15551234",
            "a local number"
        );
    }

    #[test]
    fn what_is_not_a_phone_number_says_why() {
        let us = CallingCode::NORTH_AMERICA;
        assert_eq!(normalize("  ", us), Err(PhoneError::Empty));
        assert_eq!(
            normalize("+1 555 CALL NOW", us),
            Err(PhoneError::Characters)
        );
        assert_eq!(normalize("555+1234", us), Err(PhoneError::Characters));
        assert_eq!(normalize("+12", us), Err(PhoneError::Shape));
        assert_eq!(normalize("+0 555 1234", us), Err(PhoneError::Shape));
        assert_eq!(normalize("+1234567890123456", us), Err(PhoneError::Shape));
        assert_eq!(
            normalize("+1 111 111 1111", us),
            Err(PhoneError::Placeholder)
        );
    }

    #[test]
    fn calling_codes_have_one_to_three_digits() {
        assert_eq!("+44".parse::<CallingCode>(), Ok(code(44)));
        assert_eq!("1".parse::<CallingCode>(), Ok(CallingCode::NORTH_AMERICA));
        for bad in ["", "0", "1000", "4x", "+"] {
            assert_eq!(
                bad.parse::<CallingCode>(),
                Err(PhoneError::CallingCode),
                "{bad}"
            );
        }
        assert_eq!(CallingCode::default(), CallingCode::NORTH_AMERICA);
        assert_eq!(code(353).to_string(), "+353");
    }

    #[test]
    fn a_workspace_without_a_setting_takes_north_america() {
        let ws = WorkspaceId(uuid::Uuid::from_u128(1));
        let countries: PhoneCountries = [(ws, code(49))].into_iter().collect();
        assert_eq!(countries.of(Some(ws)), code(49));
        let other = WorkspaceId(uuid::Uuid::from_u128(2));
        assert_eq!(countries.of(Some(other)), CallingCode::NORTH_AMERICA);
        assert_eq!(countries.of(None), CallingCode::NORTH_AMERICA);
    }
}
