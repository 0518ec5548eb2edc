//! The compressed routes' bodies: the `Encoding`s and how one is picked from
//! `Accept-Encoding`, the deterministic JSON-lines pattern `/compressed/N`
//! decodes to, the encoders, and `Bodies`, the encoded bodies shared by all
//! shards (the `/bomb`s among them, built once on first use). Framing them
//! into a response is `app`'s business.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, OnceLock, RwLock};

/// How many bytes `/bomb` decodes to: 512 MiB of zeros. At deflate's best
/// ratio (about 1:1030) gzip and zlib carry that in about 0.5 MiB, under the
/// 1 MiB a bomb should weigh on the wire; brotli and zstd need a few KiB.
pub const BOMB_DECODED_BYTES: u64 = 512 << 20;

/// The most encoded bytes `Bodies` keeps; a body that would overflow it is
/// encoded again on every request instead.
const CACHE_BYTES_MAX: usize = 256 << 20;

/// A bomb is made of pieces of this many zeros, each encoded the same way.
const ZEROS_PIECE_BYTES: usize = 1 << 20;

/// How many `ZEROS_PIECE_BYTES` pieces a bomb decodes to.
const BOMB_PIECES: usize = (BOMB_DECODED_BYTES / ZEROS_PIECE_BYTES as u64) as usize;

/// Brotli's quality for ordinary bodies: fast, and still far smaller than gzip.
const BROTLI_QUALITY: u32 = 5;

/// Brotli's window (log2 of bytes), the largest the format allows without its
/// large-window extension, which HTTP clients do not speak.
const BROTLI_WINDOW_LOG2: u32 = 22;

/// Zstandard's level for ordinary bodies (its default).
const ZSTD_LEVEL: i32 = 3;

/// A content coding the target can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// No coding: the body as is, without `Content-Encoding`.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// HTTP's `deflate`: zlib-wrapped deflate (RFC 1950), as RFC 9110 defines it.
    Deflate,
    /// Brotli (RFC 7932).
    Br,
    /// Zstandard (RFC 8878).
    Zstd,
}

impl Encoding {
    /// The codings `negotiate` picks from, best first.
    pub const PREFERRED: [Encoding; 4] = [
        Encoding::Zstd,
        Encoding::Br,
        Encoding::Gzip,
        Encoding::Deflate,
    ];

    /// The coding's token, as in `Content-Encoding` and the `enc` parameter.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Br => "br",
            Encoding::Zstd => "zstd",
        }
    }

    /// The coding a token names (ASCII case ignored; `x-gzip` is gzip), if any.
    pub fn from_token(token: &[u8]) -> Option<Encoding> {
        let all = [
            Encoding::Identity,
            Encoding::Gzip,
            Encoding::Deflate,
            Encoding::Br,
            Encoding::Zstd,
        ];
        if token.eq_ignore_ascii_case(b"x-gzip") {
            return Some(Encoding::Gzip);
        }
        all.into_iter()
            .find(|enc| token.eq_ignore_ascii_case(enc.token().as_bytes()))
    }
}

/// Picks the coding for a client from its `Accept-Encoding` values: the first
/// of zstd, br, gzip and deflate that the client lists (or covers with `*`)
/// with a non-zero q-value; `Identity` when it lists none of them.
pub fn negotiate<'a>(accept_encoding: impl Iterator<Item = &'a [u8]>) -> Encoding {
    // Per coding of `Encoding::PREFERRED`: Some(true) accepted, Some(false) refused.
    let mut verdicts = [None::<bool>; 4];
    let mut wildcard = None::<bool>;
    for value in accept_encoding {
        for item in value.split(|b| *b == b',') {
            let mut parts = item.split(|b| *b == b';');
            let token = trim(parts.next().unwrap_or_default());
            let accepted = parts.all(|param| !is_zero_q(trim(param)));
            if token == b"*" {
                wildcard = Some(accepted);
            } else if let Some(enc) = Encoding::from_token(token) {
                if let Some(i) = Encoding::PREFERRED.iter().position(|e| *e == enc) {
                    verdicts[i] = Some(accepted);
                }
            }
        }
    }
    Encoding::PREFERRED
        .into_iter()
        .zip(verdicts)
        .find(|(_, verdict)| verdict.or(wildcard) == Some(true))
        .map_or(Encoding::Identity, |(enc, _)| enc)
}

/// Whether an `Accept-Encoding` parameter is a zero q-value (`q=0`, `q=0.000`).
fn is_zero_q(param: &[u8]) -> bool {
    let Some(value) = param
        .strip_prefix(b"q=")
        .or_else(|| param.strip_prefix(b"Q="))
    else {
        return false;
    };
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().parse::<f32>().ok())
        .is_some_and(|q| q <= 0.0)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(start), Some(end)) => &bytes[start..=end],
        _ => &[],
    }
}

/// The first `len` bytes of the endless JSON-lines text
/// `{"i":0,"name":"song 0"}\n{"i":1,"name":"song 1"}\n...`: compressible
/// like a real API answer, yet no two lines alike.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        // Writing to a Vec cannot fail.
        let _ = writeln!(out, "{{\"i\":{i},\"name\":\"song {i}\"}}");
        i += 1;
    }
    out.truncate(len);
    out
}

/// The small JSON document `/compressed-json` sends, naming its coding.
pub fn json_doc(enc: Encoding) -> Vec<u8> {
    format!("{{\"ok\":true,\"encoding\":\"{}\"}}", enc.token()).into_bytes()
}

/// `data` in coding `enc`.
pub fn encode(enc: Encoding, data: &[u8]) -> Vec<u8> {
    let mut encoder = Encoder::new(enc, data.len() / 4);
    encoder.write(data);
    encoder.finish()
}

/// `pieces` times `ZEROS_PIECE_BYTES` zeros in coding `enc` (gzip for
/// `Identity`: a bomb is always compressed); `/bomb` has `BOMB_PIECES`.
fn encode_bomb(enc: Encoding, pieces: usize) -> Vec<u8> {
    match enc {
        Encoding::Identity | Encoding::Gzip => deflate_bomb(false, pieces),
        Encoding::Deflate => deflate_bomb(true, pieces),
        Encoding::Br => brotli_bomb(pieces),
        Encoding::Zstd => {
            // Zstandard finds runs fast (a quarter second for the whole bomb).
            let zeros = vec![0u8; ZEROS_PIECE_BYTES];
            let mut encoder = Encoder::new(Encoding::Zstd, 0);
            for _ in 0..pieces {
                encoder.write(&zeros);
            }
            encoder.finish()
        }
    }
}

/// The gzip (or, with `zlib`, zlib) bomb, built without deflating all its
/// zeros (seconds of work for 512 MiB): one piece of zeros is deflated ending in a full
/// flush, which byte-aligns the stream and makes the next block independent
/// of everything before it, so that piece repeated is a valid deflate stream
/// of all the pieces. Then come the last block and the wrapper's header and
/// checksum, which for zeros are cheap to compute.
fn deflate_bomb(zlib: bool, pieces: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; ZEROS_PIECE_BYTES];
    let mut deflate = Compress::new(Compression::best(), false);
    let mut piece = Vec::with_capacity(64 * 1024);
    let mut end = Vec::with_capacity(64);
    // Deflating to a Vec with room to spare does not fail.
    let _ = deflate.compress_vec(&zeros, &mut piece, FlushCompress::Full);
    let _ = deflate.compress_vec(&[], &mut end, FlushCompress::Finish);
    debug_assert_eq!(deflate.total_in(), ZEROS_PIECE_BYTES as u64);
    let mut out = Vec::with_capacity(piece.len() * pieces + 64);
    if zlib {
        // CMF 0x78: deflate with a 32 KiB window; FLG 0xda: best compression, no dictionary.
        out.extend_from_slice(&[0x78, 0xda]);
    } else {
        // Magic, CM deflate, no flags, no mtime, XFL best, OS unknown.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff]);
    }
    for _ in 0..pieces {
        out.extend_from_slice(&piece);
    }
    out.extend_from_slice(&end);
    if zlib {
        // Adler-32 of n zeros: A stays 1, B adds A once per byte.
        let len = (pieces * ZEROS_PIECE_BYTES) as u64;
        let adler = ((len % 65521) << 16 | 1) as u32;
        out.extend_from_slice(&adler.to_be_bytes());
    } else {
        let mut piece_crc = flate2::Crc::new();
        piece_crc.update(&zeros);
        let mut crc = flate2::Crc::new();
        for _ in 0..pieces {
            crc.combine(&piece_crc);
        }
        out.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE is the length modulo 2^32.
        out.extend_from_slice(&((pieces * ZEROS_PIECE_BYTES) as u32).to_le_bytes());
    }
    out
}

/// The brotli bomb, built like `deflate_bomb` without compressing it all:
/// one piece of zeros compressed as a catable stream, which refers to
/// nothing before itself, joined to itself with brotli's own `BroCatli`.
fn brotli_bomb(pieces: usize) -> Vec<u8> {
    use brotli::concat::{BroCatli, BroCatliResult};
    let params = brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY as i32,
        lgwin: BROTLI_WINDOW_LOG2 as i32,
        catable: true,
        appendable: true,
        use_dictionary: false,
        ..Default::default()
    };
    let mut piece = Vec::new();
    // Compressing from and to memory does not fail.
    let _ = brotli::BrotliCompress(&mut &vec![0u8; ZEROS_PIECE_BYTES][..], &mut piece, &params);
    let mut out = vec![0u8; piece.len() * pieces + 64];
    let mut written = 0;
    let mut joiner = BroCatli::new();
    for _ in 0..pieces {
        joiner.new_brotli_file();
        let mut read = 0;
        let result = joiner.stream(&piece, &mut read, &mut out, &mut written);
        debug_assert_eq!(
            (result, read),
            (BroCatliResult::NeedsMoreInput, piece.len())
        );
    }
    let result = joiner.finish(&mut out, &mut written);
    debug_assert_eq!(result, BroCatliResult::Success);
    out.truncate(written);
    out
}

/// One streaming encoder of any coding, writing into a Vec.
enum Encoder {
    /// The bytes themselves.
    Identity(Vec<u8>),
    /// gzip.
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    /// zlib.
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
    /// Brotli; boxed, being far larger than the others.
    Br(Box<brotli::CompressorWriter<Vec<u8>>>),
    /// Zstandard.
    Zstd(zstd::stream::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    /// An encoder at the levels ordinary bodies use, its output sized for `capacity` bytes.
    fn new(enc: Encoding, capacity: usize) -> Encoder {
        let out = Vec::with_capacity(capacity);
        let level = flate2::Compression::default();
        match enc {
            Encoding::Identity => Encoder::Identity(out),
            Encoding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(out, level)),
            Encoding::Deflate => Encoder::Deflate(flate2::write::ZlibEncoder::new(out, level)),
            Encoding::Br => Encoder::Br(Box::new(brotli::CompressorWriter::new(
                out,
                64 * 1024,
                BROTLI_QUALITY,
                BROTLI_WINDOW_LOG2,
            ))),
            Encoding::Zstd => Encoder::Zstd(
                // Only an invalid level makes this fail; ZSTD_LEVEL is valid.
                zstd::stream::Encoder::new(out, ZSTD_LEVEL).expect("zstd encoder"),
            ),
        }
    }

    /// Feeds `data` in; writing to a Vec cannot fail.
    fn write(&mut self, data: &[u8]) {
        let _ = match self {
            Encoder::Identity(out) => out.write_all(data),
            Encoder::Gzip(encoder) => encoder.write_all(data),
            Encoder::Deflate(encoder) => encoder.write_all(data),
            Encoder::Br(encoder) => encoder.write_all(data),
            Encoder::Zstd(encoder) => encoder.write_all(data),
        };
    }

    /// Ends the stream and returns the encoded bytes.
    fn finish(self) -> Vec<u8> {
        // Each `finish` only writes to its Vec, which cannot fail.
        match self {
            Encoder::Identity(out) => out,
            Encoder::Gzip(encoder) => encoder.finish().unwrap_or_default(),
            Encoder::Deflate(encoder) => encoder.finish().unwrap_or_default(),
            Encoder::Br(encoder) => encoder.into_inner(),
            Encoder::Zstd(encoder) => encoder.finish().unwrap_or_default(),
        }
    }
}

/// What a cached body is, before its coding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Doc {
    /// `pattern(n)`, for `/compressed/N`.
    Pattern(u64),
    /// `json_doc`, for `/compressed-json`.
    Json,
}

impl Doc {
    /// The document's decoded bytes.
    fn render(self, enc: Encoding) -> Vec<u8> {
        match self {
            // Routes bound N to 64 MiB, which fits in usize.
            Doc::Pattern(n) => pattern(n as usize),
            Doc::Json => json_doc(enc),
        }
    }
}

/// The encoded bodies of the compressed routes, shared by all shards: each is
/// encoded once (a few MiB of brotli take a while) and then only shared.
#[derive(Debug, Default)]
pub struct Bodies {
    /// Encoded documents, at most `CACHE_BYTES_MAX` of them.
    cache: RwLock<Cache>,
    /// The bombs, one per coding of `Encoding::PREFERRED`, built on first request.
    bombs: [OnceLock<Arc<[u8]>>; 4],
}

/// What `Bodies`' lock guards.
#[derive(Debug, Default)]
struct Cache {
    /// Each encoded document by what it is and its coding.
    by_doc: HashMap<(Doc, Encoding), Arc<[u8]>>,
    /// The bytes `by_doc` holds in total.
    bytes: usize,
}

impl Bodies {
    /// `doc` in coding `enc`, encoded now unless cached. The encoding runs
    /// on the calling shard's thread (racing shards may both encode it).
    pub fn get(&self, doc: Doc, enc: Encoding) -> Arc<[u8]> {
        // A lock poisoned by a panicking encoder still holds whole entries.
        let cached = match self.cache.read() {
            Ok(cache) => cache.by_doc.get(&(doc, enc)).cloned(),
            Err(poisoned) => poisoned.get_ref().by_doc.get(&(doc, enc)).cloned(),
        };
        if let Some(body) = cached {
            return body;
        }
        let body: Arc<[u8]> = encode(enc, &doc.render(enc)).into();
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        let fits = cache.bytes + body.len() <= CACHE_BYTES_MAX;
        if fits && !cache.by_doc.contains_key(&(doc, enc)) {
            cache.bytes += body.len();
            cache.by_doc.insert((doc, enc), Arc::clone(&body));
        }
        body
    }

    /// The `/bomb` in coding `enc` (gzip for `Identity`), built on first use
    /// (in well under a second, during which its shard serves nothing else).
    pub fn bomb(&self, enc: Encoding) -> Arc<[u8]> {
        let i = Encoding::PREFERRED
            .iter()
            .position(|e| *e == enc)
            .unwrap_or(2);
        let enc = Encoding::PREFERRED[i];
        Arc::clone(self.bombs[i].get_or_init(|| encode_bomb(enc, BOMB_PIECES).into()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Negotiation by table, the pattern's exact shape, and every coding
    //! decoding back to what was encoded (bombs included) with standard decoders.
    use std::io::Read as _;

    use super::*;

    /// Decodes `bytes` of coding `enc` with the crates' decoders.
    pub(crate) fn decode(enc: Encoding, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match enc {
            Encoding::Identity => out.extend_from_slice(bytes),
            Encoding::Gzip => drop(flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)),
            Encoding::Deflate => drop(flate2::read::ZlibDecoder::new(bytes).read_to_end(&mut out)),
            Encoding::Br => drop(brotli::Decompressor::new(bytes, 4096).read_to_end(&mut out)),
            Encoding::Zstd => out = zstd::decode_all(bytes).unwrap(),
        }
        out
    }

    #[test]
    fn negotiation_prefers_zstd_then_br_then_gzip_then_deflate() {
        let cases: [(&[&str], Encoding); 14] = [
            (&[], Encoding::Identity),
            (&[""], Encoding::Identity),
            (&["identity"], Encoding::Identity),
            (&["gzip, deflate"], Encoding::Gzip),
            (&["deflate, gzip, br"], Encoding::Br),
            (&["gzip, deflate, br, zstd"], Encoding::Zstd),
            (&["deflate"], Encoding::Deflate),
            (&["GZIP;q=0.5"], Encoding::Gzip),
            (&["x-gzip"], Encoding::Gzip),
            (&["zstd;q=0, gzip"], Encoding::Gzip),
            (&["zstd; q=0.000", "br;q=0.1"], Encoding::Br),
            (&["*"], Encoding::Zstd),
            (&["*;q=0"], Encoding::Identity),
            (&["zstd;q=0, *"], Encoding::Br),
        ];
        for (values, want) in cases {
            let got = negotiate(values.iter().map(|v| v.as_bytes()));
            assert_eq!(got, want, "{values:?}");
        }
    }

    #[test]
    fn tokens_round_trip() {
        for enc in [Encoding::Identity, Encoding::Deflate, Encoding::Zstd] {
            assert_eq!(Encoding::from_token(enc.token().as_bytes()), Some(enc));
        }
        assert_eq!(Encoding::from_token(b"Br"), Some(Encoding::Br));
        assert_eq!(Encoding::from_token(b"lzma"), None);
    }

    #[test]
    fn the_pattern_is_json_lines_cut_to_length() {
        assert_eq!(
            pattern(40),
            b"{\"i\":0,\"name\":\"song 0\"}\n{\"i\":1,\"name\":\"s"
        );
        assert!(pattern(0).is_empty());
        let long = pattern(100_000);
        assert_eq!(long.len(), 100_000);
        assert!(std::str::from_utf8(&long)
            .unwrap()
            .contains("\"song 3000\""));
    }

    #[test]
    fn every_coding_decodes_back_and_compresses() {
        let data = pattern(300_000);
        for enc in Encoding::PREFERRED {
            let encoded = encode(enc, &data);
            assert!(encoded.len() < data.len() / 4, "{enc:?}: {}", encoded.len());
            assert_eq!(decode(enc, &encoded), data, "{enc:?}");
        }
        assert_eq!(encode(Encoding::Identity, &data), data);
        // RFC 9110's deflate is zlib-wrapped: a zlib header, not raw deflate.
        let zlib = encode(Encoding::Deflate, b"x");
        assert_eq!(zlib[0] & 0x0f, 8, "CM=8 in a zlib header");
        assert_eq!(u16::from_be_bytes([zlib[0], zlib[1]]) % 31, 0);
    }

    #[test]
    fn bodies_are_cached_and_shared() {
        let bodies = Bodies::default();
        let first = bodies.get(Doc::Pattern(5000), Encoding::Br);
        let second = bodies.get(Doc::Pattern(5000), Encoding::Br);
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(decode(Encoding::Br, &first), pattern(5000));
        let json = bodies.get(Doc::Json, Encoding::Gzip);
        assert_eq!(
            decode(Encoding::Gzip, &json),
            br#"{"ok":true,"encoding":"gzip"}"#
        );
    }

    #[test]
    fn bombs_decode_to_zeros_with_valid_checksums() {
        // Eight pieces prove the construction (the decoders check the
        // checksums); the real bomb is the same code with more pieces.
        for enc in Encoding::PREFERRED {
            let bomb = encode_bomb(enc, 8);
            let (decoded, nonzero) = decoded_zeros(enc, &bomb);
            assert_eq!(decoded, 8 * ZEROS_PIECE_BYTES as u64, "{enc:?}");
            assert!(!nonzero, "{enc:?}");
        }
    }

    #[test]
    fn the_real_bombs_are_small_and_cached() {
        let bodies = Bodies::default();
        for enc in Encoding::PREFERRED {
            let bomb = bodies.bomb(enc);
            assert!(bomb.len() < 600 * 1024, "{enc:?}: {} bytes", bomb.len());
            assert!(Arc::ptr_eq(&bomb, &bodies.bomb(enc)));
        }
        assert!(Arc::ptr_eq(
            &bodies.bomb(Encoding::Identity),
            &bodies.bomb(Encoding::Gzip)
        ));
        // The gzip trailer states the decoded length (modulo 2^32).
        let gzip = bodies.bomb(Encoding::Gzip);
        let isize_bytes: [u8; 4] = gzip[gzip.len() - 4..].try_into().unwrap();
        assert_eq!(
            u64::from(u32::from_le_bytes(isize_bytes)),
            BOMB_DECODED_BYTES
        );
    }

    /// The decoded length of `bytes` and whether any decoded byte is not zero,
    /// without holding the decoded bytes.
    fn decoded_zeros(enc: Encoding, bytes: &[u8]) -> (u64, bool) {
        let (mut decoded, mut nonzero) = (0u64, false);
        stream_decode(enc, bytes, |piece| {
            decoded += piece.len() as u64;
            nonzero |= piece.iter().any(|b| *b != 0);
        });
        (decoded, nonzero)
    }

    /// Decodes without holding the whole output, handing each piece to `each`.
    fn stream_decode(enc: Encoding, bytes: &[u8], mut each: impl FnMut(&[u8])) {
        let mut reader: Box<dyn std::io::Read + '_> = match enc {
            Encoding::Identity => Box::new(bytes),
            Encoding::Gzip => Box::new(flate2::read::GzDecoder::new(bytes)),
            Encoding::Deflate => Box::new(flate2::read::ZlibDecoder::new(bytes)),
            Encoding::Br => Box::new(brotli::Decompressor::new(bytes, 64 * 1024)),
            Encoding::Zstd => Box::new(zstd::stream::Decoder::new(bytes).unwrap()),
        };
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => each(&buf[..n]),
                Err(err) => panic!("{enc:?}: {err}"),
            }
        }
    }
}
