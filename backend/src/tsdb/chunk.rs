//! Gorilla-style compressed chunks, laid out byte for byte as Prometheus's
//! XOR chunks (`tsdb/chunkenc/xor.go`), so sizes compare like for like and a
//! later block format can hold them unchanged.
//!
//! Layout: a 2-byte big-endian sample count, then a bit stream written most
//! significant bit first:
//! - sample 0: timestamp as a signed varint, value as 64 raw bits;
//! - sample 1: timestamp delta as an unsigned varint, value XOR-encoded;
//! - sample n ≥ 2: delta-of-delta of the timestamp in one of five buckets
//!   (`0` | `10`+14 bits | `110`+17 bits | `1110`+20 bits | `1111`+64 bits),
//!   value XOR-encoded.
//!
//! XOR encoding of a value against the previous one: `0` when equal;
//! otherwise `1`, then `0` + the meaningful bits if they fit inside the
//! previous leading/trailing-zero window, or `1` + 5 bits of leading zeros +
//! 6 bits of significant-bit count (0 meaning 64) + the significant bits.
//!
//! Prometheus keeps about 120 samples per chunk: enough to amortise the
//! header, few enough that a query decodes little it does not need.

/// Samples per head chunk before a new one is cut.
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// Appends bits to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits still free in the last byte (0 means a new byte is needed).
    free: u8,
}

impl BitWriter {
    fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        if bit && let Some(last) = self.bytes.last_mut() {
            *last |= 1 << (self.free - 1);
        }
        self.free -= 1;
    }

    /// Writes the low `n` bits of `value`, highest first.
    fn write_bits(&mut self, value: u64, n: u8) {
        let mut remaining = n;
        while remaining > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = remaining.min(self.free);
            let shift = remaining - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << (self.free - take);
            }
            self.free -= take;
            remaining -= take;
        }
    }

    fn write_byte(&mut self, byte: u8) {
        self.write_bits(u64::from(byte), 8);
    }
}

/// Reads bits back, most significant first; `None` past the end.
#[derive(Debug, Clone)]
struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl BitReader<'_> {
    fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    /// The next `n` (at most 64) bits, most significant first; `None`, and
    /// nothing consumed, when fewer are left. Reads the (at most nine)
    /// bytes they span at once rather than bit by bit: decoding values is
    /// most of the time of a query over many samples.
    fn read_bits(&mut self, n: u8) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        let n = usize::from(n.min(64));
        let end = self.pos + n;
        let bytes = self.bytes.get(self.pos / 8..end.div_ceil(8))?;
        let mut span = 0u128;
        for &byte in bytes {
            span = (span << 8) | u128::from(byte);
        }
        let shift = bytes.len() * 8 - self.pos % 8 - n;
        let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        self.pos = end;
        Some((span >> shift) as u64 & mask)
    }

    fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|b| b as u8)
    }

    fn read_uvarint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.read_byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn read_varint(&mut self) -> Option<i64> {
        let u = self.read_uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

fn write_uvarint(w: &mut BitWriter, mut value: u64) {
    while value >= 0x80 {
        w.write_byte((value as u8) | 0x80);
        value >>= 7;
    }
    w.write_byte(value as u8);
}

fn write_varint(w: &mut BitWriter, value: i64) {
    write_uvarint(w, ((value << 1) ^ (value >> 63)) as u64);
}

/// The delta-of-delta buckets: (prefix bits, prefix length, value bits).
const DOD_BUCKETS: [(u64, u8, u8); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

/// A chunk being appended to (or read back).
#[derive(Debug, Clone)]
pub struct XorChunk {
    stream: BitWriter,
    count: u16,
    last_t: i64,
    last_v: f64,
    last_delta: i64,
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    pub fn new() -> Self {
        let mut stream = BitWriter::default();
        // Room for the sample count, filled in by `bytes`.
        stream.write_bits(0, 16);
        XorChunk { stream, count: 0, last_t: 0, last_v: 0.0, last_delta: 0, leading: 0xff, trailing: 0 }
    }

    pub fn num_samples(&self) -> u16 {
        self.count
    }

    /// The encoded chunk, header included.
    pub fn bytes(&self) -> Vec<u8> {
        let mut bytes = self.stream.bytes.clone();
        bytes[..2].copy_from_slice(&self.count.to_be_bytes());
        bytes
    }

    /// Encoded size in bytes.
    pub fn size(&self) -> usize {
        self.stream.bytes.len()
    }

    /// Appends a sample; callers keep timestamps increasing.
    pub fn append(&mut self, t: i64, v: f64) {
        match self.count {
            0 => {
                write_varint(&mut self.stream, t);
                self.stream.write_bits(v.to_bits(), 64);
            }
            1 => {
                let delta = t.wrapping_sub(self.last_t);
                write_uvarint(&mut self.stream, delta as u64);
                self.write_value(v);
                self.last_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.last_t);
                let dod = delta.wrapping_sub(self.last_delta);
                if dod == 0 {
                    self.stream.write_bit(false);
                } else if let Some((prefix, prefix_len, bits)) =
                    DOD_BUCKETS.iter().copied().find(|(_, _, bits)| fits(dod, *bits))
                {
                    self.stream.write_bits(prefix, prefix_len);
                    self.stream.write_bits(dod as u64, bits);
                } else {
                    self.stream.write_bits(0b1111, 4);
                    self.stream.write_bits(dod as u64, 64);
                }
                self.write_value(v);
                self.last_delta = delta;
            }
        }
        self.last_t = t;
        self.last_v = v;
        self.count += 1;
    }

    fn write_value(&mut self, v: f64) {
        let xor = v.to_bits() ^ self.last_v.to_bits();
        if xor == 0 {
            self.stream.write_bit(false);
            return;
        }
        self.stream.write_bit(true);
        // The leading-zero count is stored in 5 bits.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.stream.write_bit(false);
            self.stream.write_bits(xor >> self.trailing, 64 - self.leading - self.trailing);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.stream.write_bit(true);
        self.stream.write_bits(u64::from(leading), 5);
        let significant = 64 - leading - trailing;
        // 64 significant bits do not fit in 6 bits; 0 stands for 64.
        self.stream.write_bits(u64::from(significant % 64), 6);
        self.stream.write_bits(xor >> trailing, significant);
    }

    /// The samples in order.
    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(&self.stream.bytes, self.count)
    }
}

/// Whether `dod` fits in a signed field of `bits` bits, with Prometheus's
/// asymmetric range (−2^(n−1)+1 ..= 2^(n−1)).
fn fits(dod: i64, bits: u8) -> bool {
    let half = 1i64 << (bits - 1);
    -half < dod && dod <= half
}

/// Reads back a bucket's `bits`-bit field. The ranges are asymmetric (see
/// [`fits`]): the pattern with only the top bit set is +2^(n−1), not the
/// two's-complement minimum, exactly as Prometheus decodes it.
fn decode_bucket(value: u64, bits: u8) -> i64 {
    let half = 1u64 << (bits - 1);
    if value > half { value as i64 - (1i64 << bits) } else { value as i64 }
}

/// Decodes a chunk's bytes (header included). Stops early, without
/// panicking, on a truncated or corrupt stream.
#[derive(Debug, Clone)]
pub struct XorIterator<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    v: f64,
    delta: i64,
    leading: u8,
    trailing: u8,
}

impl<'a> XorIterator<'a> {
    /// Reads `count` samples from a stream whose first two bytes are the
    /// header (not trusted: the caller says how many samples there are).
    fn new(bytes: &'a [u8], count: u16) -> Self {
        XorIterator {
            reader: BitReader { bytes, pos: 16 },
            total: count,
            read: 0,
            t: 0,
            v: 0.0,
            delta: 0,
            leading: 0,
            trailing: 0,
        }
    }

    /// Decodes stored chunk bytes, taking the count from their header.
    pub fn from_bytes(bytes: &'a [u8]) -> Self {
        let count = match bytes {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        };
        Self::new(bytes, count)
    }

    fn next_sample(&mut self) -> Option<(i64, f64)> {
        match self.read {
            0 => {
                self.t = self.reader.read_varint()?;
                self.v = f64::from_bits(self.reader.read_bits(64)?);
            }
            1 => {
                self.delta = self.reader.read_uvarint()? as i64;
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
            _ => {
                let mut prefix_len = 0u8;
                while prefix_len < 4 && self.reader.read_bit()? {
                    prefix_len += 1;
                }
                let dod = match prefix_len {
                    0 => 0,
                    1..=3 => {
                        let bits = DOD_BUCKETS[usize::from(prefix_len - 1)].2;
                        decode_bucket(self.reader.read_bits(bits)?, bits)
                    }
                    _ => self.reader.read_bits(64)? as i64,
                };
                self.delta = self.delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
        }
        self.read += 1;
        Some((self.t, self.v))
    }

    fn read_value(&mut self) -> Option<()> {
        if !self.reader.read_bit()? {
            return Some(());
        }
        if self.reader.read_bit()? {
            self.leading = self.reader.read_bits(5)? as u8;
            let significant = match self.reader.read_bits(6)? as u8 {
                0 => 64,
                n => n,
            };
            self.trailing = 64u8.checked_sub(self.leading + significant)?;
        }
        let significant = 64 - self.leading - self.trailing;
        let bits = self.reader.read_bits(significant)?;
        self.v = f64::from_bits(self.v.to_bits() ^ (bits << self.trailing));
        Some(())
    }
}

impl Iterator for XorIterator<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.read >= self.total {
            return None;
        }
        let sample = self.next_sample();
        if sample.is_none() {
            // Corrupt or truncated: stop for good rather than misread.
            self.read = self.total;
        }
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::STALE_NAN_BITS;
    use proptest::prelude::*;

    fn round_trip(samples: &[(i64, f64)]) -> XorChunk {
        let mut chunk = XorChunk::new();
        for (t, v) in samples {
            chunk.append(*t, *v);
        }
        let got: Vec<(i64, u64)> = chunk.iter().map(|(t, v)| (t, v.to_bits())).collect();
        let want: Vec<(i64, u64)> = samples.iter().map(|(t, v)| (*t, v.to_bits())).collect();
        assert_eq!(got, want);
        let bytes = chunk.bytes();
        let again: Vec<(i64, u64)> = XorIterator::from_bytes(&bytes).map(|(t, v)| (t, v.to_bits())).collect();
        assert_eq!(again, want, "decoding the stored bytes");
        chunk
    }

    #[test]
    fn special_values_and_every_delta_bucket_round_trip() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let samples = [
            (1_700_000_000_000, 1.0),
            (1_700_000_015_000, 1.0),
            (1_700_000_030_000, 2.5),
            (1_700_000_045_001, f64::NAN),
            (1_700_000_060_000, stale),
            (1_700_000_075_000, f64::INFINITY),
            (1_700_000_090_000 + 70_000, f64::NEG_INFINITY),
            (1_700_000_300_000 + 400_000, -0.0),
            (1_700_010_000_000, 1e300),
            (1_800_000_000_000, f64::MIN_POSITIVE),
            (1_800_000_000_001, 42.0),
        ];
        round_trip(&samples);
        // Delta-of-deltas on the edges of each bucket.
        for bits in [14u8, 17, 20] {
            let half = 1i64 << (bits - 1);
            for dod in [half, half + 1, -half + 1, -half, half - 1] {
                let base = 1000;
                round_trip(&[(0, 1.0), (base, 1.0), (2 * base + dod, 1.0), (3 * base + 2 * dod, 2.0)]);
            }
        }
        round_trip(&[]);
        round_trip(&[(-5, 1.0)]);
        round_trip(&[(-5, 1.0), (-4, 2.0)]);
    }

    #[test]
    fn regular_scrapes_of_a_steady_counter_take_about_two_bytes_each() {
        // A counter rising by a steady amount every 15s: after the first two
        // samples, one bit for the timestamp and a few for the value.
        let samples: Vec<(i64, f64)> =
            (0..120).map(|i| (1_700_000_000_000 + i * 15_000, 1000.0 + i as f64 * 3.0)).collect();
        let chunk = round_trip(&samples);
        let per_sample = chunk.size() as f64 / 120.0;
        assert!(per_sample < 2.5, "{per_sample} bytes per sample");
        // A constant gauge: two bits per sample.
        let constant: Vec<(i64, f64)> = (0..120).map(|i| (i * 15_000, 7.0)).collect();
        assert!(round_trip(&constant).size() < 50);
    }

    #[test]
    fn corrupt_or_truncated_bytes_stop_cleanly() {
        let samples: Vec<(i64, f64)> = (0..50).map(|i| (i * 1000 + i * i, (i as f64).sin())).collect();
        let mut chunk = XorChunk::new();
        for (t, v) in &samples {
            chunk.append(*t, *v);
        }
        let bytes = chunk.bytes();
        for cut in 0..bytes.len() {
            let decoded: Vec<_> = XorIterator::from_bytes(&bytes[..cut]).collect();
            assert!(decoded.len() <= samples.len());
        }
        let mut flipped = bytes.clone();
        for i in 2..flipped.len() {
            flipped[i] ^= 0x5a;
            assert!(XorIterator::from_bytes(&flipped).count() <= 50);
        }
    }

    proptest! {
        #[test]
        fn any_increasing_series_round_trips(
            start in -1_000_000_000_000i64..2_000_000_000_000,
            steps in proptest::collection::vec((0i64..100_000_000, any::<u64>()), 0..300),
        ) {
            let mut t = start;
            let mut samples = Vec::new();
            for (dt, bits) in steps {
                t += dt;
                samples.push((t, f64::from_bits(bits)));
            }
            round_trip(&samples);
        }
    }
}
