//! Byte-aligned LEB128 varints, shared by the on-disk formats (WAL records,
//! block index, block chunk entries) so small numbers take one byte and no
//! format grows its own copy of the loop.
//!
//! Unsigned: 7 bits per byte, least significant group first, the high bit
//! set on every byte but the last. Signed values are zig-zag mapped first
//! (0, -1, 1, -2, … → 0, 1, 2, 3, …) so small negatives stay small.

/// Appends an unsigned varint.
pub fn put_uvarint(out: &mut Vec<u8>, mut u: u64) {
    while u >= 0x80 {
        out.push((u as u8) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

/// Appends a zig-zag varint.
pub fn put_varint(out: &mut Vec<u8>, value: i64) {
    put_uvarint(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Reads an unsigned varint at `*pos`, advancing it; `None` when the buffer
/// ends first or the varint is longer than 10 bytes.
pub fn read_uvarint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut u = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        u |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(u);
        }
    }
    None
}

/// Reads a zig-zag varint at `*pos`, advancing it.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let u = read_uvarint(buf, pos)?;
    Some(((u >> 1) as i64) ^ -((u & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_take_the_expected_bytes() {
        let table: [(i64, usize); 9] =
            [(0, 1), (-1, 1), (63, 1), (-64, 1), (64, 2), (8191, 2), (8192, 3), (i64::MAX, 10), (i64::MIN, 10)];
        for (value, len) in table {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), len, "{value}");
            let mut pos = 0;
            assert_eq!(read_varint(&out, &mut pos), Some(value));
            assert_eq!(pos, len);
            // Cut short, it is `None`, not a panic or a wrong number.
            assert_eq!(read_varint(&out[..len - 1], &mut 0), None, "{value} truncated");
        }
        let mut out = Vec::new();
        put_uvarint(&mut out, u64::MAX);
        assert_eq!(read_uvarint(&out, &mut 0), Some(u64::MAX));
        assert_eq!(read_uvarint(&[0xff; 11], &mut 0), None, "over-long");
    }
}
