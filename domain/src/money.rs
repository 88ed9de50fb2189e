//! Money: amounts are kept as integer minor units of their currency, and the number of minor
//! digits is the currency's ISO 4217 exponent (0 for the yen, 3 for the dinars, 2 for most).
//! Every crate that turns a decimal amount into minor units, or back, goes through here.

use thiserror::Error;

/// Decimal places of a currency's minor unit (ISO 4217); 2 unless known otherwise.
pub fn currency_exponent(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "HUF" | "XOF" | "XAF" | "UGX" | "PYG" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "IQD" | "LYD" => 3,
        _ => 2,
    }
}

/// Why a decimal amount has no value in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// Not a decimal number (letters, two points, nothing at all).
    #[error("is not an amount")]
    NotAnAmount,
    /// More digits after the point than the currency's minor unit has.
    #[error("has more than {exponent} decimals for {currency}")]
    TooManyDecimals { currency: String, exponent: u32 },
    /// Beyond what 64-bit minor units hold.
    #[error("is too large")]
    TooLarge,
}

/// Parses a plain decimal amount (`"-12.5"`, `"1500"`, `".75"`) into minor units of
/// `currency`, refusing digits the currency does not have (`"1.5"` yen, `"1.2345"` dinar).
/// Grouping and currency symbols are the caller's to strip: what they look like depends on
/// where the amount came from.
pub fn parse_minor(raw: &str, currency: &str) -> Result<i64, MoneyError> {
    let exponent = currency_exponent(currency);
    let s = raw.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if (whole.is_empty() && frac.is_empty())
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(MoneyError::NotAnAmount);
    }
    if frac.len() > exponent as usize {
        return Err(MoneyError::TooManyDecimals {
            currency: currency.to_string(),
            exponent,
        });
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| MoneyError::TooLarge)?
    };
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        // At most `exponent` (≤ 3) digits, so the padded fraction always parses.
        format!("{frac:0<width$}", width = exponent as usize)
            .parse()
            .map_err(|_| MoneyError::NotAnAmount)?
    };
    let minor = whole
        .checked_mul(10i64.pow(exponent))
        .and_then(|w| w.checked_add(frac))
        .ok_or(MoneyError::TooLarge)?;
    Ok(if negative { -minor } else { minor })
}

/// Formats minor units as a decimal amount with the currency, e.g. `1234.50 EUR`.
pub fn format_money(minor: i64, currency: &str) -> String {
    let digits = currency_exponent(currency);
    if digits == 0 {
        return format!("{minor} {currency}");
    }
    let base = 10u64.pow(digits);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$} {currency}",
        abs / base,
        abs % base,
        width = digits as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yen_amount_has_no_minor_digits() {
        assert_eq!(parse_minor("1500", "JPY"), Ok(1500));
        assert_eq!(parse_minor("1500.", "JPY"), Ok(1500));
        assert_eq!(
            parse_minor("1500.5", "JPY"),
            Err(MoneyError::TooManyDecimals {
                currency: "JPY".into(),
                exponent: 0
            })
        );
        assert_eq!(parse_minor("1000", "KRW"), Ok(1000));
        assert_eq!(format_money(1500, "JPY"), "1500 JPY");
    }

    #[test]
    fn a_dinar_amount_has_three_minor_digits() {
        assert_eq!(parse_minor("1.5", "KWD"), Ok(1500));
        assert_eq!(parse_minor("12.345", "BHD"), Ok(12345));
        assert_eq!(parse_minor("0.001", "OMR"), Ok(1));
        let err = parse_minor("1.2345", "JOD").unwrap_err();
        assert_eq!(err.to_string(), "has more than 3 decimals for JOD");
        assert_eq!(format_money(12345, "BHD"), "12.345 BHD");
    }

    #[test]
    fn most_currencies_have_two_minor_digits() {
        assert_eq!(parse_minor("89.00", "USD"), Ok(8900));
        assert_eq!(parse_minor("49.5", "EUR"), Ok(4950));
        assert_eq!(parse_minor("7", "GBP"), Ok(700));
        assert_eq!(parse_minor(".75", "GBP"), Ok(75));
        assert_eq!(parse_minor("-3.10", "GBP"), Ok(-310));
        assert!(parse_minor("1.999", "USD").is_err());
        assert_eq!(format_money(-123450, "EUR"), "-1234.50 EUR");
        assert_eq!(format_money(-5, "USD"), "-0.05 USD");
    }

    #[test]
    fn junk_and_overflow_are_not_amounts() {
        for junk in ["", " ", ".", "-", "abc", "1.2.3", "1,5", "+1", "1e3", "--1"] {
            assert_eq!(
                parse_minor(junk, "USD"),
                Err(MoneyError::NotAnAmount),
                "{junk:?}"
            );
        }
        assert_eq!(
            parse_minor("99999999999999999999", "USD"),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            parse_minor("92233720368547758.07", "USD"),
            Ok(i64::MAX),
            "the largest amount still fits"
        );
        assert_eq!(
            parse_minor("92233720368547758.08", "USD"),
            Err(MoneyError::TooLarge)
        );
    }
}
