//! Request bodies as SDKs send them: plain, or compressed with a `Content-Encoding` (gzip,
//! deflate, br) — or gzip with no header at all, as `posthog-js` sends it (`compression=gzip-js`).
//! The size limits apply to the inflated bytes, and inflating stops as soon as they are passed,
//! so a small compressed body cannot make the gateway allocate more than the limit.

use crate::{Rejected, StatusCode};
use std::borrow::Cow;
use std::io::Read;

/// A content coding the gateway reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    /// HTTP's `deflate` is zlib-wrapped; some clients send raw deflate, which is read too.
    Deflate,
    Brotli,
}

/// The first bytes of every gzip stream; JSON and form bodies never start with them.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Parses a `Content-Encoding` header into the codings to undo, outermost first (the header
/// lists them in the order they were applied).
pub fn parse_content_encoding(header: Option<&str>) -> Result<Vec<Encoding>, Rejected> {
    let Some(header) = header else {
        return Ok(Vec::new());
    };
    let mut codings = Vec::new();
    for token in header.split(',').map(|t| t.trim().to_ascii_lowercase()) {
        match token.as_str() {
            "" | "identity" => {}
            "gzip" | "x-gzip" => codings.push(Encoding::Gzip),
            "deflate" => codings.push(Encoding::Deflate),
            "br" => codings.push(Encoding::Brotli),
            other => {
                return Err(Rejected {
                    status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    reason: format!(
                        "Content-Encoding `{other}` is not supported; send the body plain or with gzip, deflate or br"
                    ),
                })
            }
        }
    }
    codings.reverse();
    Ok(codings)
}

/// Undoes `codings` (from [`parse_content_encoding`]) and then any gzip the body still starts
/// with; refuses with 413 once more than `limit` bytes come out.
pub fn decode<'a>(
    bytes: &'a [u8],
    codings: &[Encoding],
    limit: usize,
) -> Result<Cow<'a, [u8]>, Rejected> {
    let mut body: Cow<'a, [u8]> = Cow::Borrowed(bytes);
    for coding in codings {
        body = Cow::Owned(inflate(&body, *coding, limit)?);
    }
    if body.starts_with(&GZIP_MAGIC) {
        body = Cow::Owned(inflate(&body, Encoding::Gzip, limit)?);
    }
    if body.len() > limit {
        return Err(too_large(limit, Some(body.len())));
    }
    Ok(body)
}

fn too_large(limit: usize, size: Option<usize>) -> Rejected {
    Rejected {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        reason: match size {
            Some(n) => format!(
                "the request body may be at most {} KB; this one is {} KB",
                limit / 1024,
                n / 1024
            ),
            None => format!(
                "the request body inflates to more than {} KB, the most a request may hold",
                limit / 1024
            ),
        },
    }
}

fn inflate(bytes: &[u8], coding: Encoding, limit: usize) -> Result<Vec<u8>, Rejected> {
    let result = match coding {
        Encoding::Gzip => read_capped(flate2::read::MultiGzDecoder::new(bytes), limit),
        Encoding::Deflate => read_capped(flate2::read::ZlibDecoder::new(bytes), limit)
            .or_else(|_| read_capped(flate2::read::DeflateDecoder::new(bytes), limit)),
        Encoding::Brotli => read_capped(brotli_decompressor::Decompressor::new(bytes, 4096), limit),
    };
    match result {
        Ok(Some(out)) => Ok(out),
        Ok(None) => Err(too_large(limit, None)),
        Err(e) => Err(Rejected {
            status: StatusCode::BAD_REQUEST,
            reason: format!(
                "the body is not valid {} data: {e}",
                match coding {
                    Encoding::Gzip => "gzip",
                    Encoding::Deflate => "deflate",
                    Encoding::Brotli => "brotli",
                }
            ),
        }),
    }
}

/// Reads at most `limit` bytes; `None` when there are more.
fn read_capped(reader: impl Read, limit: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut out)?;
    Ok((out.len() <= limit).then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_deflate_and_raw_deflate_bodies_are_inflated() {
        let body = br#"{"userId":"u","event":"e"}"#;
        let gz = gzip(body);
        let codings = parse_content_encoding(Some("gzip")).unwrap();
        assert_eq!(&*decode(&gz, &codings, 1024).unwrap(), body);

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(body).unwrap();
        let z = z.finish().unwrap();
        let deflate = parse_content_encoding(Some("deflate")).unwrap();
        assert_eq!(&*decode(&z, &deflate, 1024).unwrap(), body);

        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(body).unwrap();
        assert_eq!(
            &*decode(&raw.finish().unwrap(), &deflate, 1024).unwrap(),
            body
        );
    }

    #[test]
    fn a_gzip_body_without_a_header_is_recognised_by_its_magic_bytes() {
        let body = br#"[{"event":"$pageview"}]"#;
        assert_eq!(&*decode(&gzip(body), &[], 1024).unwrap(), body);
    }

    #[test]
    fn a_decompression_bomb_is_refused_with_413_before_it_is_inflated_whole() {
        let bomb = gzip(&vec![b' '; 5 * 1024 * 1024]);
        assert!(bomb.len() < 20 * 1024);
        let r = decode(&bomb, &[Encoding::Gzip], 500 * 1024).unwrap_err();
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(r.reason.contains("inflates to more than 500 KB"));
    }

    #[test]
    fn unknown_codings_are_415_and_broken_streams_are_400() {
        assert_eq!(
            parse_content_encoding(Some("zstd")).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let r = decode(b"not gzip at all", &[Encoding::Gzip], 1024).unwrap_err();
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.reason.contains("gzip"));
        assert_eq!(
            parse_content_encoding(Some("identity")).unwrap(),
            Vec::<Encoding>::new()
        );
    }

    #[test]
    fn a_plain_body_over_the_limit_is_413() {
        assert_eq!(
            decode(&[b' '; 11], &[], 10).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
