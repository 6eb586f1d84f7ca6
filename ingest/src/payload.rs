//! Request bodies: gzip (by header or by magic bytes, since `sendBeacon` cannot set headers),
//! decompressed with a hard cap so a gzip bomb is a 413, not an outage.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::GzDecoder;

use crate::api::GatewayError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Which encoding the request declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// Parses `Content-Encoding`; anything but gzip or identity is a 415.
pub fn parse_content_encoding(value: Option<&str>) -> Result<Encoding, GatewayError> {
    match value.map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(Encoding::Identity),
        Some(v) if v.is_empty() || v == "identity" => Ok(Encoding::Identity),
        Some(v) if v == "gzip" || v == "x-gzip" => Ok(Encoding::Gzip),
        Some(v) => Err(GatewayError::UnsupportedMediaType(format!(
            "Content-Encoding `{v}` is not supported; send gzip or no encoding"
        ))),
    }
}

/// Checks `Content-Type`: JSON, or text/plain from beacons; a missing type is tolerated.
pub fn check_content_type(value: Option<&str>) -> Result<(), GatewayError> {
    let Some(v) = value else { return Ok(()) };
    let mime = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime.is_empty() || mime == "application/json" || mime == "text/plain" || mime.ends_with("+json") {
        Ok(())
    } else {
        Err(GatewayError::UnsupportedMediaType(format!(
            "Content-Type `{mime}` is not supported; send application/json (or text/plain from sendBeacon)"
        )))
    }
}

/// The body as JSON bytes: decompressed when gzip was declared or the bytes start with the gzip
/// magic, never more than `max_decompressed` bytes.
pub fn decode_body(body: &[u8], encoding: Encoding, max_decompressed: usize) -> Result<Cow<'_, [u8]>, GatewayError> {
    let gzip = encoding == Encoding::Gzip || body.starts_with(&GZIP_MAGIC);
    if !gzip {
        return Ok(Cow::Borrowed(body));
    }
    let mut out = Vec::with_capacity((body.len() * 4).min(max_decompressed));
    // Read at most one byte past the cap to tell "exactly at the cap" from "over it".
    let mut decoder = GzDecoder::new(body).take(max_decompressed as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| GatewayError::BadRequest(format!("body is not valid gzip: {e}")))?;
    if out.len() > max_decompressed {
        return Err(GatewayError::TooLarge(format!("body decompresses to more than {max_decompressed} bytes")));
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    #[test]
    fn gzip_is_detected_by_magic_without_header() {
        let body = gzip(b"{\"events\":[]}");
        let out = decode_body(&body, Encoding::Identity, 100).expect("decoded");
        assert_eq!(&*out, b"{\"events\":[]}");
    }

    #[test]
    fn decompression_cap_is_exact() {
        let data = vec![b'a'; 1000];
        let body = gzip(&data);
        assert_eq!(decode_body(&body, Encoding::Gzip, 1000).expect("at cap").len(), 1000);
        let err = decode_body(&body, Encoding::Gzip, 999).expect_err("over cap");
        assert!(matches!(err, GatewayError::TooLarge(_)));
    }

    #[test]
    fn declared_gzip_that_is_not_gzip_is_a_400() {
        let err = decode_body(b"{}", Encoding::Gzip, 100).expect_err("garbage");
        assert!(matches!(err, GatewayError::BadRequest(_)));
    }

    #[test]
    fn encodings_and_types() {
        assert_eq!(parse_content_encoding(Some("GZIP")).expect("gzip"), Encoding::Gzip);
        assert!(matches!(parse_content_encoding(Some("br")), Err(GatewayError::UnsupportedMediaType(_))));
        assert!(check_content_type(Some("text/plain;charset=UTF-8")).is_ok());
        assert!(check_content_type(Some("application/x-www-form-urlencoded")).is_err());
    }
}
