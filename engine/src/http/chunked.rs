//! An incremental decoder for `Transfer-Encoding: chunked` bodies.
//!
//! It is fed whatever bytes have arrived and says how many it consumed and
//! whether the body (with its trailers) is complete. Chunk data is only
//! counted, never copied. Partial input is a state kept between calls.

use super::failure::Failure;

/// Longest chunk-size line (size, extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;

/// Where the decoder is inside the chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex size line; `digits` seen, `in_ext` after a `;`.
    Size {
        size: u64,
        digits: u32,
        in_ext: bool,
        line: usize,
    },
    /// Expecting LF after the size line's CR.
    SizeLf { size: u64 },
    /// Inside chunk data with this many bytes left.
    Data { left: u64 },
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a non-empty trailer line.
    Trailer { line: usize },
    /// Expecting LF that ends the trailer line; `empty` when it ends the body.
    TrailerLf { empty: bool },
    /// The body is complete.
    Done,
}

/// Incremental chunked-body decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
}

/// Result of feeding bytes to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the input consumed.
    pub consumed: usize,
    /// True once the final chunk and trailers are complete.
    pub done: bool,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size {
                size: 0,
                digits: 0,
                in_ext: false,
                line: 0,
            },
        }
    }

    /// Feeds received bytes; stops consuming at the end of the body.
    pub fn feed(&mut self, input: &[u8]) -> Result<Fed, Failure> {
        self.feed_with(input, |_| {})
    }

    /// Like [`feed`](Self::feed), handing each run of chunk data to `on_data`.
    pub fn feed_with(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<Fed, Failure> {
        let mut i = 0;
        while i < input.len() {
            if self.state == State::Done {
                break;
            }
            if let State::Data { left } = self.state {
                let take = left.min((input.len() - i) as u64);
                on_data(&input[i..i + take as usize]);
                i += take as usize;
                let left = left - take;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { left }
                };
                continue;
            }
            self.state = step(self.state, input[i])?;
            i += 1;
        }
        Ok(Fed {
            consumed: i,
            done: self.state == State::Done,
        })
    }
}

/// Advances the state machine by one byte outside chunk data.
fn step(state: State, byte: u8) -> Result<State, Failure> {
    let bad = Err(Failure::MalformedChunk);
    Ok(match state {
        State::Size {
            size,
            digits,
            in_ext,
            line,
        } => {
            if line >= MAX_LINE {
                return bad;
            }
            let line = line + 1;
            match byte {
                b'\r' if digits > 0 => State::SizeLf { size },
                _ if in_ext => State::Size {
                    size,
                    digits,
                    in_ext,
                    line,
                },
                b';' | b' ' | b'\t' if digits > 0 => State::Size {
                    size,
                    digits,
                    in_ext: true,
                    line,
                },
                _ => {
                    let Some(value) = (byte as char).to_digit(16) else {
                        return bad;
                    };
                    if digits >= 15 {
                        return bad;
                    }
                    State::Size {
                        size: size * 16 + u64::from(value),
                        digits: digits + 1,
                        in_ext,
                        line,
                    }
                }
            }
        }
        State::SizeLf { size } => match (byte, size) {
            (b'\n', 0) => State::TrailerStart,
            (b'\n', size) => State::Data { left: size },
            _ => return bad,
        },
        State::DataCr if byte == b'\r' => State::DataLf,
        State::DataLf if byte == b'\n' => State::Size {
            size: 0,
            digits: 0,
            in_ext: false,
            line: 0,
        },
        State::TrailerStart if byte == b'\r' => State::TrailerLf { empty: true },
        State::TrailerStart => State::Trailer { line: 1 },
        State::Trailer { line } if byte == b'\r' => {
            let _ = line;
            State::TrailerLf { empty: false }
        }
        State::Trailer { line } if line < MAX_LINE => State::Trailer { line: line + 1 },
        State::TrailerLf { empty: true } if byte == b'\n' => State::Done,
        State::TrailerLf { empty: false } if byte == b'\n' => State::TrailerStart,
        _ => return bad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], split: usize) -> Result<(usize, bool), Failure> {
        let mut decoder = ChunkedDecoder::new();
        let mut consumed = 0;
        for piece in input.chunks(split.max(1)) {
            let fed = decoder.feed(piece)?;
            consumed += fed.consumed;
            if fed.done {
                return Ok((consumed, true));
            }
        }
        Ok((consumed, false))
    }

    /// Valid bodies decode to their exact end however the bytes are split.
    #[test]
    fn decodes_across_any_split() {
        let body =
            b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let end = body.len() - 4;
        for split in 1..body.len() {
            assert_eq!(decode_all(body, split), Ok((end, true)), "split {split}");
        }
    }

    /// A body cut short is incomplete, not an error.
    #[test]
    fn partial_is_a_state() {
        assert_eq!(decode_all(b"A\r\n01234", 3), Ok((8, false)));
        assert_eq!(decode_all(b"0\r\n", 3), Ok((3, false)));
    }

    /// Chunk data is handed over without the framing.
    #[test]
    fn data_is_handed_over() {
        let mut decoder = ChunkedDecoder::new();
        let mut data = Vec::new();
        let body = b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n";
        for piece in body.chunks(3) {
            decoder
                .feed_with(piece, |d| data.extend_from_slice(d))
                .unwrap();
        }
        assert_eq!(data, b"Wikipedia");
    }

    /// Malformed framing is a named failure.
    #[test]
    fn malformed_is_a_failure() {
        for input in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"4\r\nWikiXX",
            b"4\nWiki",
            b"fffffffffffffffff\r\n",
        ] {
            assert_eq!(
                decode_all(input, 64),
                Err(Failure::MalformedChunk),
                "{input:?}"
            );
        }
        let long_ext = [b"1;".as_slice(), &[b'a'; 5000]].concat();
        assert_eq!(decode_all(&long_ext, 64), Err(Failure::MalformedChunk));
    }
}
