//! Decoding compressed response bodies (`Content-Encoding`), only when a
//! check or an extractor reads the body: gzip, deflate (zlib-wrapped, or raw
//! as some servers send it), br and zstd.
//!
//! Decoding streams into a caller's buffer that is reused from response to
//! response and stops one byte past the limit, so a small body that would
//! expand to gigabytes (a decompression bomb) costs at most the limit and
//! becomes a counted failure.

use std::io::Read;

use super::failure::Failure;

/// Decodes `body`, sent with `Content-Encoding: encoding`, into `out`
/// (cleared first), keeping at most `limit` bytes. Codings listed together
/// (`gzip, br`) are undone last first; `identity` is no coding.
pub fn decode_body(
    encoding: &[u8],
    body: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), Failure> {
    out.clear();
    let codings: Vec<&[u8]> = encoding
        .split(|&b| b == b',')
        .map(|c| c.trim_ascii())
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case(b"identity"))
        .collect();
    let Some((last, earlier)) = codings.split_last() else {
        out.extend_from_slice(body.get(..limit).unwrap_or(body));
        return if body.len() > limit {
            Err(Failure::DecodeTooLarge)
        } else {
            Ok(())
        };
    };
    decode_one(last, body, limit, out)?;
    for coding in earlier.iter().rev() {
        let input = std::mem::take(out);
        decode_one(coding, &input, limit, out)?;
    }
    Ok(())
}

/// Undoes one coding of `input` into `out`.
fn decode_one(coding: &[u8], input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), Failure> {
    out.clear();
    let coding = coding.to_ascii_lowercase();
    let cap = limit as u64 + 1;
    let read = match coding.as_slice() {
        b"gzip" | b"x-gzip" => flate2::read::MultiGzDecoder::new(input)
            .take(cap)
            .read_to_end(out),
        b"deflate" => {
            let zlib = flate2::read::ZlibDecoder::new(input)
                .take(cap)
                .read_to_end(out);
            if zlib.is_err() {
                // Some servers send raw deflate under this name.
                out.clear();
                flate2::read::DeflateDecoder::new(input)
                    .take(cap)
                    .read_to_end(out)
            } else {
                zlib
            }
        }
        b"br" => brotli::Decompressor::new(input, 4096)
            .take(cap)
            .read_to_end(out),
        // A window of at most 8 MiB, as RFC 9659 sets for HTTP: a tiny frame
        // cannot make the decoder reserve 128 MiB.
        b"zstd" => match zstd::stream::read::Decoder::with_buffer(input)
            .and_then(|mut d| d.window_log_max(23).map(|()| d))
        {
            Ok(decoder) => decoder.take(cap).read_to_end(out),
            Err(e) => Err(e),
        },
        _ => return Err(Failure::DecodeUnknown),
    };
    match read {
        Err(_) => Err(Failure::DecodeCorrupt),
        Ok(_) if out.len() > limit => {
            out.truncate(limit);
            Err(Failure::DecodeTooLarge)
        }
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Each coding round-trips; unknown codings and corrupt data are named failures.
    #[test]
    fn codings_decode_or_fail_by_name() {
        let data = b"{\"ok\":true,\"name\":\"song\"}".repeat(50);
        let mut out = Vec::new();
        decode_body(b"gzip", &gzip(&data), 1 << 20, &mut out).unwrap();
        assert_eq!(out, data);

        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&data).unwrap();
        decode_body(b"Deflate", &zlib.finish().unwrap(), 1 << 20, &mut out).unwrap();
        assert_eq!(out, data);
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&data).unwrap();
        decode_body(b"deflate", &raw.finish().unwrap(), 1 << 20, &mut out).unwrap();
        assert_eq!(out, data);

        let mut br = Vec::new();
        brotli::BrotliCompress(&mut &data[..], &mut br, &Default::default()).unwrap();
        decode_body(b"br", &br, 1 << 20, &mut out).unwrap();
        assert_eq!(out, data);

        let zst = zstd::encode_all(&data[..], 3).unwrap();
        decode_body(b"zstd", &zst, 1 << 20, &mut out).unwrap();
        assert_eq!(out, data);

        // Two codings, applied gzip then br: undone br first.
        let mut both = Vec::new();
        brotli::BrotliCompress(&mut &gzip(&data)[..], &mut both, &Default::default()).unwrap();
        decode_body(b"gzip, br", &both, 1 << 20, &mut out).unwrap();
        assert_eq!(out, data);

        assert_eq!(
            decode_body(b"compress", &data, 1 << 20, &mut out),
            Err(Failure::DecodeUnknown)
        );
        assert_eq!(
            decode_body(b"gzip", b"not gzip at all", 1 << 20, &mut out),
            Err(Failure::DecodeCorrupt)
        );
        decode_body(b"identity", b"plain", 1 << 20, &mut out).unwrap();
        assert_eq!(out, b"plain");
    }

    /// A small body that expands past the limit stops at the limit and fails.
    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 64 << 20];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 1 << 20);
        let mut out = Vec::new();
        assert_eq!(
            decode_body(b"gzip", &bomb, 1 << 20, &mut out),
            Err(Failure::DecodeTooLarge)
        );
        assert!(out.len() <= 1 << 20);
        assert!(out.capacity() <= 4 << 20, "{}", out.capacity());
    }
}
