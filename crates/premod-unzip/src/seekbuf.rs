//! A buffered reader whose `seek` keeps the buffer when the target lies inside it.
//!
//! `std::io::BufReader` drops its buffer on every `seek(SeekFrom::Start(..))`. The zip crate
//! seeks to an absolute offset before every central-directory header and every local
//! header, so with `BufReader` each entry costs a fresh buffer fill (one host call in WASI
//! plus a copy of the whole buffer). Entries are normally laid out back to back, so the
//! target is almost always already buffered; this reader just moves its cursor then.

use std::io::{self, Read, Seek, SeekFrom};

/// See the module documentation.
pub struct SeekBufReader<R> {
    inner: R,
    buf: Box<[u8]>,
    /// Read position inside `buf`.
    pos: usize,
    /// Valid bytes in `buf`.
    filled: usize,
    /// Offset of `buf[0]` in `inner`; `inner`'s own cursor is at `start + filled`.
    start: u64,
}

impl<R: Read + Seek> SeekBufReader<R> {
    /// Wraps `inner`, whose cursor must be at offset 0, with a buffer of `capacity` bytes.
    pub fn with_capacity(capacity: usize, inner: R) -> Self {
        SeekBufReader {
            inner,
            buf: vec![0; capacity.max(1)].into_boxed_slice(),
            pos: 0,
            filled: 0,
            start: 0,
        }
    }

    fn position(&self) -> u64 {
        self.start + self.pos as u64
    }

    fn reset_at(&mut self, offset: u64) {
        self.start = offset;
        self.pos = 0;
        self.filled = 0;
    }
}

impl<R: Read + Seek> Read for SeekBufReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.filled {
            let next = self.start + self.filled as u64;
            if out.len() >= self.buf.len() {
                // Large read: skip the copy through the buffer.
                let n = self.inner.read(out)?;
                self.reset_at(next + n as u64);
                return Ok(n);
            }
            let n = self.inner.read(&mut self.buf)?;
            self.start = next;
            self.pos = 0;
            self.filled = n;
        }
        let n = out.len().min(self.filled - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SeekBufReader<R> {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        let absolute = match target {
            SeekFrom::Start(n) => n,
            SeekFrom::Current(delta) => {
                self.position().checked_add_signed(delta).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "seek to a negative or overflowing position",
                    )
                })?
            }
            SeekFrom::End(_) => {
                let n = self.inner.seek(target)?;
                self.reset_at(n);
                return Ok(n);
            }
        };
        if absolute >= self.start && absolute - self.start <= self.filled as u64 {
            self.pos = (absolute - self.start) as usize;
            return Ok(absolute);
        }
        let n = self.inner.seek(SeekFrom::Start(absolute))?;
        self.reset_at(n);
        Ok(n)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn reads_and_seeks_like_the_inner_reader() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mut r = SeekBufReader::with_capacity(64, Cursor::new(data.clone()));
        let mut got = [0u8; 10];
        r.read_exact(&mut got).unwrap();
        assert_eq!(got, data[..10]);
        // Inside the buffer, backwards and forwards.
        r.seek(SeekFrom::Start(3)).unwrap();
        r.read_exact(&mut got).unwrap();
        assert_eq!(got, data[3..13]);
        r.seek(SeekFrom::Current(20)).unwrap();
        r.read_exact(&mut got).unwrap();
        assert_eq!(got, data[33..43]);
        // Outside the buffer.
        r.seek(SeekFrom::Start(5000)).unwrap();
        r.read_exact(&mut got).unwrap();
        assert_eq!(got, data[5000..5010]);
        assert_eq!(r.stream_position().unwrap(), 5010);
        // A large read bypasses the buffer, then small reads continue from there.
        let mut big = vec![0u8; 100];
        r.read_exact(&mut big).unwrap();
        assert_eq!(big, data[5010..5110]);
        r.read_exact(&mut got).unwrap();
        assert_eq!(got, data[5110..5120]);
        r.seek(SeekFrom::End(-10)).unwrap();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, data[9990..]);
        r.seek(SeekFrom::Current(-5)).unwrap();
        rest.clear();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, data[9995..]);
    }
}
