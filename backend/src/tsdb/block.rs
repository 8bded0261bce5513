//! Blocks: immutable folders of samples for one time range, written once
//! when the head is cut or blocks are compacted, then read through `mmap`
//! so that their bytes live in the page cache, not in the process's heap.
//!
//! # On-disk layout
//!
//! A block is a folder named by its id (a 26-character ULID: 48 bits of
//! creation time in milliseconds, 80 random bits, Crockford base 32, so ids
//! sort by creation time) holding three files:
//!
//! ```text
//! <ULID>/meta.json   what the block is (JSON, below)
//! <ULID>/chunks      header, then chunk entries back to back
//! <ULID>/index       header, four sections, table of contents
//! ```
//!
//! `meta.json`, with Prometheus's key names; `maxTime` is exclusive:
//!
//! ```json
//! {"ulid": "01J…", "minTime": 0, "maxTime": 7200000,
//!  "stats": {"numSamples": 0, "numSeries": 0, "numChunks": 0},
//!  "compaction": {"level": 1, "sources": ["01J…"], "parents": [{"ulid": "01J…", "minTime": 0, "maxTime": 1}]},
//!  "version": 2}
//! ```
//!
//! Fixed-width integers below are little-endian; `uvarint` is an unsigned
//! LEB128 varint and `varint` a zig-zag one ([`super::varint`]). Version 2
//! (this layout) replaced version 1's fixed-width series entries, postings
//! and chunk lengths, which made blocks 12% larger per sample than
//! Prometheus's; version 1 blocks are refused with a message saying so.
//!
//! `chunks`: `"VIGILCHK" version:u32` then entries `len:uvarint data[len]
//! crc32:u32` where `data` is an XOR chunk exactly as [`super::chunk`]
//! encodes it (its first two bytes are the big-endian sample count) and the
//! CRC (IEEE) covers `data`. A chunk's reference is its entry's offset in
//! the file. Each chunk's CRC is checked when it is read: a corrupt chunk is
//! an error naming the file, never wrong samples.
//!
//! `index`: `"VIGILIDX" version:u32`, then four sections, each `body
//! crc32(body):u32`, then the table of contents: four `(offset:u64
//! len:u64)` pairs (the body of each section: symbols, series, postings
//! lists, postings table) and `crc32:u32` over those 64 bytes. Every CRC is
//! checked when the block is opened; a block that fails one is not loaded.
//!
//! - symbols: `count:u32`, `count + 1` offsets `u32` into the string area,
//!   then the string area: every label name and value once, sorted
//!   bytewise, so a symbol's number orders like its text and lookups are a
//!   binary search. String `i` is `area[offset[i]..offset[i + 1]]`.
//! - series, sorted by label set: `count:u32`, `count` offsets `u32` into
//!   the entry area, then entries `nlabels:uvarint (name:uvarint
//!   value:uvarint){n} nchunks:uvarint` and the chunks in time order, each
//!   `mint:varint span:uvarint ref:uvarint` where `maxt = mint + span`
//!   (both inclusive) and, for the first chunk, `mint` is relative to
//!   meta.json's `minTime` and `ref` is the chunk's offset in `chunks`; for
//!   the next ones `mint` is relative to the previous chunk's `maxt` and
//!   `ref` to the previous chunk's `ref`. Labels are symbols by number. A
//!   series' number in a block is its position here. Deltas keep a chunk's
//!   reference to 5–9 bytes where fixed widths took 24.
//! - postings lists, list after list: each list's series numbers,
//!   ascending, as `uvarint` gaps (the first from 0).
//! - postings table: `count:u32` then `(name:u32 value:u32 start:u64
//!   len:u32)` sorted by (name, value): the list of series carrying that
//!   label pair is `len` numbers starting at byte `start` of the lists
//!   section. It stays fixed-width so lookups are a binary search.
//!
//! `tombstones` (optional; written by `delete_series`, removed when the
//! block is rewritten by compaction or `clean_tombstones`): `"VIGILTMB"
//! version:u32 count:u32 (series:u32 mint:i64 maxt:i64){count} crc32:u32`,
//! the CRC over everything before it. Each entry deletes the samples of
//! series number `series` in `[mint, maxt]` (inclusive); reads skip them.
//! It is the one file of a block that changes: it is written beside the
//! block as `tombstones.tmp`, fsynced and renamed over the old one, so it
//! is always whole. A tombstones file that is truncated or fails its
//! checksum refuses the block, naming the file, as Prometheus refuses a
//! block whose tombstones do not read: ignoring it would bring deleted
//! samples back.
//!
//! Writing is atomic: everything goes into `<ULID>.tmp/`, each file and the
//! folder are fsynced, then the folder is renamed to `<ULID>` and the parent
//! fsynced. A folder without `.tmp` is therefore complete; a leftover
//! `.tmp` folder is the remains of a crash and is deleted on open.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use vigil_shared::model::Labels;
use vigil_shared::promql::{MatchOp, Matcher};

use super::chunk::XorIterator;
use super::varint::{put_uvarint, put_varint, read_uvarint, read_varint};
use super::{Sample, Series};

pub const META_FILE: &str = "meta.json";
pub const INDEX_FILE: &str = "index";
pub const CHUNKS_FILE: &str = "chunks";
pub const TOMBSTONES_FILE: &str = "tombstones";
/// The suffix of a block folder still being written.
pub const TMP_SUFFIX: &str = ".tmp";
/// The suffix a block folder is renamed to before it is deleted, so a crash
/// mid-deletion never leaves a half block that looks whole.
pub const DELETE_SUFFIX: &str = ".tmp-for-deletion";

const INDEX_MAGIC: &[u8; 8] = b"VIGILIDX";
const CHUNKS_MAGIC: &[u8; 8] = b"VIGILCHK";
const TOMBSTONES_MAGIC: &[u8; 8] = b"VIGILTMB";
const TOMBSTONE_LEN: usize = 20;
const FORMAT_VERSION: u32 = 2;
/// The tombstones file's layout did not change with the index's.
const TOMBSTONES_VERSION: u32 = 1;
const HEADER_LEN: usize = 12;
const SECTIONS: usize = 4;
const TOC_LEN: usize = SECTIONS * 16 + 4;
const SECTION_NAMES: [&str; SECTIONS] = ["symbols", "series", "postings lists", "postings table"];
const POSTINGS_ENTRY_LEN: usize = 20;

/// A block's id: a ULID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub u128);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl BlockId {
    /// A new id for a block created at `ms` (milliseconds since the epoch).
    pub fn new(ms: u64) -> BlockId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        // RandomState is seeded from the OS once per process and varied
        // per instance: enough randomness for unique ids.
        let random = |salt: u64| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(salt);
            h.write_u64(n);
            h.write_u128(nanos);
            h.write_u32(std::process::id());
            h.finish()
        };
        let random80 = (u128::from(random(1)) << 16 | u128::from(random(2) & 0xffff)) & ((1u128 << 80) - 1);
        BlockId((u128::from(ms & ((1 << 48) - 1)) << 80) | random80)
    }

    /// Creation time in milliseconds.
    pub fn time_ms(self) -> u64 {
        (self.0 >> 80) as u64
    }

    /// Reads a ULID's text form (case-insensitive); `None` if it is not one.
    pub fn parse(text: &str) -> Option<BlockId> {
        if text.len() != 26 {
            return None;
        }
        let mut value: u128 = 0;
        for (i, c) in text.bytes().enumerate() {
            let digit = CROCKFORD.iter().position(|d| *d == c.to_ascii_uppercase())? as u128;
            // The first character carries only 3 bits (128 = 26 × 5 − 2).
            if i == 0 && digit > 7 {
                return None;
            }
            value = (value << 5) | digit;
        }
        Some(BlockId(value))
    }
}

impl std::fmt::Display for BlockId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = [0u8; 26];
        for (i, c) in text.iter_mut().enumerate() {
            let shift = 5 * (25 - i);
            *c = CROCKFORD[((self.0 >> shift) & 0x1f) as usize];
        }
        f.write_str(std::str::from_utf8(&text).unwrap_or("?"))
    }
}

impl std::fmt::Debug for BlockId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl Serialize for BlockId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for BlockId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        BlockId::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a ULID")))
    }
}

/// `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    pub ulid: BlockId,
    /// First timestamp that may be in the block (inclusive).
    pub min_time: i64,
    /// End of the block's range (exclusive).
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: CompactionMeta,
    pub version: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    pub num_samples: u64,
    pub num_series: u64,
    pub num_chunks: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactionMeta {
    /// 1 for a block cut from the head, one more than its highest source
    /// for a compacted one.
    pub level: u32,
    /// The level-1 blocks whose data this block holds.
    pub sources: Vec<BlockId>,
    /// The blocks this one was compacted from, deleted once it is durable
    /// (and on open, should a crash come between).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDesc {
    pub ulid: BlockId,
    pub min_time: i64,
    pub max_time: i64,
}

/// Something wrong with a block, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct BlockError {
    pub path: PathBuf,
    pub reason: String,
}

/// Where a chunk of a series is and what time it covers (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    pub min_t: i64,
    pub max_t: i64,
    pub offset: u64,
}

/// The sample count in an encoded chunk's header.
fn chunk_samples(bytes: &[u8]) -> u64 {
    match bytes {
        [a, b, ..] => u64::from(u16::from_be_bytes([*a, *b])),
        _ => 0,
    }
}

/// Writes one block into `<parent>/<id>.tmp/` and renames it into place on
/// [`BlockWriter::finish`]. Series may be added in any order.
pub struct BlockWriter {
    parent: PathBuf,
    id: BlockId,
    tmp: PathBuf,
    chunks: BufWriter<File>,
    offset: u64,
    series: Vec<(Labels, Vec<ChunkMeta>)>,
    stats: BlockStats,
}

impl BlockWriter {
    pub fn create(parent: &Path, id: BlockId) -> io::Result<BlockWriter> {
        let tmp = parent.join(format!("{id}{TMP_SUFFIX}"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        let mut chunks = BufWriter::with_capacity(1 << 20, File::create(tmp.join(CHUNKS_FILE))?);
        chunks.write_all(CHUNKS_MAGIC)?;
        chunks.write_all(&FORMAT_VERSION.to_le_bytes())?;
        Ok(BlockWriter {
            parent: parent.to_owned(),
            id,
            tmp,
            chunks,
            offset: HEADER_LEN as u64,
            series: Vec::new(),
            stats: BlockStats::default(),
        })
    }

    /// Adds a series with its encoded chunks `(min_t, max_t, bytes)` in time
    /// order. A series without chunks is left out.
    pub fn add_series<'c>(
        &mut self,
        labels: Labels,
        chunks: impl IntoIterator<Item = (i64, i64, &'c [u8])>,
    ) -> io::Result<()> {
        let mut metas = Vec::new();
        for (min_t, max_t, bytes) in chunks {
            let samples = chunk_samples(bytes);
            if samples == 0 {
                continue;
            }
            let mut len = Vec::with_capacity(3);
            put_uvarint(&mut len, bytes.len() as u64);
            self.chunks.write_all(&len)?;
            self.chunks.write_all(bytes)?;
            self.chunks.write_all(&crc32fast::hash(bytes).to_le_bytes())?;
            metas.push(ChunkMeta { min_t, max_t, offset: self.offset });
            self.offset += (len.len() + bytes.len() + 4) as u64;
            self.stats.num_samples += samples;
            self.stats.num_chunks += 1;
        }
        if !metas.is_empty() {
            self.stats.num_series += 1;
            self.series.push((labels, metas));
        }
        Ok(())
    }

    /// Samples added so far.
    pub fn num_samples(&self) -> u64 {
        self.stats.num_samples
    }

    /// Drops the unfinished block.
    pub fn abort(self) {
        drop(self.chunks);
        let _ = fs::remove_dir_all(&self.tmp);
    }

    /// Writes the index and meta.json, makes them durable and renames the
    /// folder into place. Returns the block's folder.
    pub fn finish(mut self, min_time: i64, max_time: i64, compaction: CompactionMeta) -> io::Result<PathBuf> {
        let result = self.write_rest(min_time, max_time, compaction);
        if result.is_err() {
            let _ = fs::remove_dir_all(&self.tmp);
        }
        result
    }

    fn write_rest(&mut self, min_time: i64, max_time: i64, compaction: CompactionMeta) -> io::Result<PathBuf> {
        self.chunks.flush()?;
        self.chunks.get_ref().sync_all()?;
        self.series.sort_by(|a, b| a.0.cmp(&b.0));
        if self.series.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(io::Error::other("a label set was added twice to one block"));
        }
        let index = encode_index(&self.series, min_time)?;
        write_synced(&self.tmp.join(INDEX_FILE), &index)?;
        let meta = BlockMeta {
            ulid: self.id,
            min_time,
            max_time,
            stats: self.stats.clone(),
            compaction,
            version: FORMAT_VERSION,
        };
        let json = serde_json::to_vec_pretty(&meta).map_err(io::Error::other)?;
        write_synced(&self.tmp.join(META_FILE), &json)?;
        sync_dir(&self.tmp)?;
        let dir = self.parent.join(self.id.to_string());
        fs::rename(&self.tmp, &dir)?;
        sync_dir(&self.parent)?;
        Ok(dir)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes directory entries (new files, renames) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn push_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn to_u32(n: usize, what: &str) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| io::Error::other(format!("too many {what} for one block index")))
}

fn encode_index(series: &[(Labels, Vec<ChunkMeta>)], min_time: i64) -> io::Result<Vec<u8>> {
    // Symbols, sorted: their numbers order like their text.
    let symbols: Vec<&str> = series
        .iter()
        .flat_map(|(labels, _)| labels.iter().flat_map(|l| [l.name.as_str(), l.value.as_str()]))
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .collect();
    let number: HashMap<&str, u32> = symbols.iter().enumerate().map(|(i, s)| (*s, i as u32)).collect();
    let mut sym = Vec::new();
    push_u32(&mut sym, to_u32(symbols.len(), "symbols")?);
    let mut offset = 0usize;
    push_u32(&mut sym, 0);
    for s in &symbols {
        offset += s.len();
        push_u32(&mut sym, to_u32(offset, "symbol bytes")?);
    }
    for s in &symbols {
        sym.extend_from_slice(s.as_bytes());
    }

    // Series, and the postings of each label pair.
    let mut postings: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    let mut entries = Vec::new();
    let mut offsets = Vec::with_capacity(series.len());
    for (i, (labels, chunks)) in series.iter().enumerate() {
        offsets.push(to_u32(entries.len(), "series bytes")?);
        put_uvarint(&mut entries, labels.len() as u64);
        for label in labels.iter() {
            let pair = (number[label.name.as_str()], number[label.value.as_str()]);
            put_uvarint(&mut entries, pair.0.into());
            put_uvarint(&mut entries, pair.1.into());
            postings.entry(pair).or_default().push(i as u32);
        }
        put_uvarint(&mut entries, chunks.len() as u64);
        let (mut base_t, mut base_ref) = (min_time, 0u64);
        for c in chunks {
            put_varint(&mut entries, c.min_t.wrapping_sub(base_t));
            put_uvarint(&mut entries, c.max_t.wrapping_sub(c.min_t) as u64);
            // A series' chunks are written one after another, so refs rise.
            put_uvarint(&mut entries, c.offset.wrapping_sub(base_ref));
            (base_t, base_ref) = (c.max_t, c.offset);
        }
    }
    let mut ser = Vec::with_capacity(4 + offsets.len() * 4 + entries.len());
    push_u32(&mut ser, to_u32(series.len(), "series")?);
    for o in offsets {
        push_u32(&mut ser, o);
    }
    ser.extend_from_slice(&entries);

    let mut lists = Vec::new();
    let mut table = Vec::new();
    push_u32(&mut table, to_u32(postings.len(), "label pairs")?);
    for ((name, value), list) in &postings {
        push_u32(&mut table, *name);
        push_u32(&mut table, *value);
        table.extend_from_slice(&(lists.len() as u64).to_le_bytes());
        push_u32(&mut table, list.len() as u32);
        let mut previous = 0;
        for s in list {
            put_uvarint(&mut lists, u64::from(s - previous));
            previous = *s;
        }
    }

    let mut out = Vec::with_capacity(HEADER_LEN + sym.len() + ser.len() + lists.len() + table.len() + 100);
    out.extend_from_slice(INDEX_MAGIC);
    push_u32(&mut out, FORMAT_VERSION);
    let mut toc = Vec::with_capacity(TOC_LEN);
    for body in [&sym, &ser, &lists, &table] {
        toc.extend_from_slice(&(out.len() as u64).to_le_bytes());
        toc.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(body);
        push_u32(&mut out, crc32fast::hash(body));
    }
    let crc = crc32fast::hash(&toc);
    out.extend_from_slice(&toc);
    push_u32(&mut out, crc);
    Ok(out)
}

/// Bounds-checked little-endian reads: a short buffer is `None`, never a
/// panic.
fn read_u32(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_u64(buf: &[u8], pos: usize) -> Option<u64> {
    let b = buf.get(pos..pos.checked_add(8)?)?;
    Some(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
}

/// An open block.
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: Mmap,
    chunks: Mmap,
    /// The bodies of the index's sections, as byte ranges of `index`.
    sections: [std::ops::Range<usize>; SECTIONS],
    symbol_count: usize,
    series_count: usize,
    postings_count: usize,
    size: u64,
    /// Deleted time ranges by series number; changed only by
    /// [`Block::delete`], which writes the file first.
    tombstones: RwLock<Tombstones>,
}

/// Deleted time ranges `[mint, maxt]` (inclusive), sorted, disjoint.
pub type Intervals = Vec<(i64, i64)>;

/// Deleted ranges of a block's series, by series number.
pub type Tombstones = BTreeMap<u32, Intervals>;

/// Adds `[mint, maxt]` to a sorted list of disjoint ranges, merging what
/// overlaps or touches it.
pub fn add_interval(list: &mut Intervals, (mut mint, mut maxt): (i64, i64)) {
    let mut out = Vec::with_capacity(list.len() + 1);
    for &(a, b) in list.iter() {
        if b.saturating_add(1) < mint || a > maxt.saturating_add(1) {
            out.push((a, b));
        } else {
            mint = mint.min(a);
            maxt = maxt.max(b);
        }
    }
    out.push((mint, maxt));
    out.sort_unstable();
    *list = out;
}

/// Whether `t` lies in one of the ranges.
pub fn is_deleted(list: &[(i64, i64)], t: i64) -> bool {
    list.iter().any(|&(a, b)| (a..=b).contains(&t))
}

fn encode_tombstones(tombstones: &Tombstones) -> Vec<u8> {
    let count: usize = tombstones.values().map(Vec::len).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + 8 + count * TOMBSTONE_LEN);
    out.extend_from_slice(TOMBSTONES_MAGIC);
    push_u32(&mut out, TOMBSTONES_VERSION);
    push_u32(&mut out, count as u32);
    for (series, list) in tombstones {
        for (mint, maxt) in list {
            push_u32(&mut out, *series);
            out.extend_from_slice(&mint.to_le_bytes());
            out.extend_from_slice(&maxt.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&out);
    push_u32(&mut out, crc);
    out
}

/// Reads a block's tombstones file; no file is no tombstones.
fn read_tombstones(dir: &Path, series_count: usize) -> Result<Tombstones, BlockError> {
    let path = dir.join(TOMBSTONES_FILE);
    let error = |reason: String| BlockError { path: path.clone(), reason };
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Tombstones::new()),
        Err(e) => return Err(error(format!("cannot read: {e}"))),
    };
    if bytes.len() < HEADER_LEN + 8 {
        return Err(error(format!("{} bytes is too short to be a tombstones file", bytes.len())));
    }
    check_header(&bytes, TOMBSTONES_MAGIC, TOMBSTONES_VERSION, &path)?;
    let body = &bytes[..bytes.len() - 4];
    if read_u32(&bytes, bytes.len() - 4) != Some(crc32fast::hash(body)) {
        return Err(error("fails its checksum (truncated or damaged)".to_owned()));
    }
    let count = read_u32(body, HEADER_LEN).unwrap_or(0) as usize;
    if count.checked_mul(TOMBSTONE_LEN).is_none_or(|n| HEADER_LEN + 4 + n != body.len()) {
        return Err(error(format!(
            "holds {} bytes of entries, not the {count} announced",
            body.len() - HEADER_LEN - 4
        )));
    }
    let mut out = Tombstones::new();
    for k in 0..count {
        let p = HEADER_LEN + 4 + k * TOMBSTONE_LEN;
        let series = read_u32(body, p).unwrap_or(u32::MAX);
        let mint = read_u64(body, p + 4).unwrap_or(0) as i64;
        let maxt = read_u64(body, p + 12).unwrap_or(0) as i64;
        if series as usize >= series_count || mint > maxt {
            return Err(error(format!("entry {k} (series {series}, [{mint}, {maxt}]) does not fit the block")));
        }
        add_interval(out.entry(series).or_default(), (mint, maxt));
    }
    Ok(out)
}

/// Replaces a block's tombstones file atomically (no file when empty).
fn write_tombstones(dir: &Path, tombstones: &Tombstones) -> io::Result<()> {
    let path = dir.join(TOMBSTONES_FILE);
    if tombstones.is_empty() {
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => return sync_dir(dir),
        }
    }
    let tmp = dir.join(format!("{TOMBSTONES_FILE}{TMP_SUFFIX}"));
    write_synced(&tmp, &encode_tombstones(tombstones))?;
    fs::rename(&tmp, &path)?;
    sync_dir(dir)
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block").field("dir", &self.dir).field("meta", &self.meta).finish()
    }
}

fn map_file(path: &Path) -> Result<(Mmap, u64), BlockError> {
    let error = |reason: String| BlockError { path: path.to_owned(), reason };
    let file = File::open(path).map_err(|e| error(format!("cannot open: {e}")))?;
    let len = file.metadata().map_err(|e| error(format!("cannot stat: {e}")))?.len();
    if len < HEADER_LEN as u64 {
        return Err(error(format!("{len} bytes is too short to be a block file")));
    }
    // SAFETY: block files are never written after their block is renamed
    // into place (they are only ever deleted, which keeps a mapping valid),
    // so the mapped bytes do not change under us.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| error(format!("cannot map: {e}")))?;
    Ok((map, len))
}

fn check_header(map: &[u8], magic: &[u8; 8], version: u32, path: &Path) -> Result<(), BlockError> {
    let error = |reason: String| BlockError { path: path.to_owned(), reason };
    if map.get(..8) != Some(&magic[..]) {
        return Err(error("wrong magic number: not a Vigil block file".to_owned()));
    }
    match read_u32(map, 8) {
        Some(v) if v == version => Ok(()),
        other => Err(error(format!("unsupported format version {other:?} (this Vigil reads {version})"))),
    }
}

impl Block {
    /// Opens the block in `dir`, checking meta.json and every checksum of
    /// the index.
    pub fn open(dir: &Path) -> Result<Block, BlockError> {
        let meta_path = dir.join(META_FILE);
        let meta_error = |reason: String| BlockError { path: meta_path.clone(), reason };
        let text = fs::read(&meta_path).map_err(|e| meta_error(format!("cannot read: {e}")))?;
        let meta: BlockMeta = serde_json::from_slice(&text).map_err(|e| meta_error(format!("invalid: {e}")))?;
        if meta.version == 1 {
            return Err(meta_error(
                "block format version 1, written by an older Vigil, is no longer read (version 2 shrank the index): \
                 delete the block or re-import its data"
                    .to_owned(),
            ));
        }
        if meta.version != FORMAT_VERSION {
            return Err(meta_error(format!("unsupported version {} (this Vigil reads {FORMAT_VERSION})", meta.version)));
        }
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if BlockId::parse(&name) != Some(meta.ulid) {
            return Err(meta_error(format!("its ulid {} is not the folder's name", meta.ulid)));
        }
        if meta.min_time >= meta.max_time {
            return Err(meta_error(format!("empty time range [{}, {})", meta.min_time, meta.max_time)));
        }

        let index_path = dir.join(INDEX_FILE);
        let index_error = |reason: String| BlockError { path: index_path.clone(), reason };
        let (index, index_len) = map_file(&index_path)?;
        check_header(&index, INDEX_MAGIC, FORMAT_VERSION, &index_path)?;
        let len = index.len();
        if len < HEADER_LEN + TOC_LEN {
            return Err(index_error("too short to hold a table of contents".to_owned()));
        }
        let toc = &index[len - TOC_LEN..len - 4];
        if read_u32(&index, len - 4) != Some(crc32fast::hash(toc)) {
            return Err(index_error("the table of contents fails its checksum".to_owned()));
        }
        let mut sections: [std::ops::Range<usize>; SECTIONS] = Default::default();
        for (i, section) in sections.iter_mut().enumerate() {
            let start = read_u64(toc, i * 16).unwrap_or(u64::MAX);
            let body_len = read_u64(toc, i * 16 + 8).unwrap_or(u64::MAX);
            let end = start.checked_add(body_len).filter(|end| end.saturating_add(4) <= (len - TOC_LEN) as u64);
            let Some(end) = end.filter(|_| start >= HEADER_LEN as u64) else {
                return Err(index_error(format!("section {} lies outside the file", SECTION_NAMES[i])));
            };
            let (start, end) = (start as usize, end as usize);
            if read_u32(&index, end) != Some(crc32fast::hash(&index[start..end])) {
                return Err(index_error(format!("section {} fails its checksum", SECTION_NAMES[i])));
            }
            *section = start..end;
        }
        let count = |i: usize, width: usize, extra: usize| -> Result<usize, BlockError> {
            let body = &index[sections[i].clone()];
            let n = read_u32(body, 0).unwrap_or(u32::MAX) as usize;
            if n.checked_mul(width).and_then(|b| b.checked_add(4 + extra)).is_none_or(|need| need > body.len()) {
                return Err(index_error(format!("section {} is shorter than its count", SECTION_NAMES[i])));
            }
            Ok(n)
        };
        let symbol_count = count(0, 4, 4)?;
        let series_count = count(1, 4, 0)?;
        let postings_count = count(3, POSTINGS_ENTRY_LEN, 0)?;

        let chunks_path = dir.join(CHUNKS_FILE);
        let (chunks, chunks_len) = map_file(&chunks_path)?;
        check_header(&chunks, CHUNKS_MAGIC, FORMAT_VERSION, &chunks_path)?;
        let size = index_len + chunks_len + text.len() as u64;
        let tombstones = RwLock::new(read_tombstones(dir, series_count)?);
        Ok(Block {
            dir: dir.to_owned(),
            meta,
            index,
            chunks,
            sections,
            symbol_count,
            series_count,
            postings_count,
            size,
            tombstones,
        })
    }

    fn tombstones(&self) -> std::sync::RwLockReadGuard<'_, Tombstones> {
        self.tombstones.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The deleted ranges of series `i`, if any.
    pub fn deleted(&self, i: u32) -> Option<Intervals> {
        self.tombstones().get(&i).cloned()
    }

    /// Deleted ranges in the block (Prometheus's `numTombstones`).
    pub fn num_tombstones(&self) -> u64 {
        self.tombstones().values().map(|l| l.len() as u64).sum()
    }

    /// Deletes the samples in `[mint, maxt]` of the series matching all
    /// `matchers`: the tombstones file is rewritten (atomically, fsynced)
    /// before reads skip them. Returns the series touched. The caller keeps
    /// compaction away meanwhile, so no rewrite of the block misses them.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<usize, BlockError> {
        if mint > maxt || maxt < self.meta.min_time || mint >= self.meta.max_time {
            return Ok(0);
        }
        let candidates: Box<dyn Iterator<Item = u32>> = match self.candidates(matchers)? {
            Some(list) => Box::new(list.into_iter()),
            None => Box::new(0..self.series_count as u32),
        };
        let mut hits = Vec::new();
        for i in candidates {
            let chunks = self.series_chunks(i)?;
            let (Some(first), Some(last)) = (chunks.first(), chunks.last()) else { continue };
            if first.min_t > maxt || last.max_t < mint {
                continue;
            }
            let labels = self.series_labels(i)?;
            if matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or(""))) {
                // Clipped to the series' data, as Prometheus records them.
                hits.push((i, (mint.max(first.min_t), maxt.min(last.max_t))));
            }
        }
        if hits.is_empty() {
            return Ok(0);
        }
        let mut guard = self.tombstones.write().unwrap_or_else(|e| e.into_inner());
        let mut next = guard.clone();
        for (i, range) in &hits {
            add_interval(next.entry(*i).or_default(), *range);
        }
        write_tombstones(&self.dir, &next)
            .map_err(|e| BlockError { path: self.dir.join(TOMBSTONES_FILE), reason: format!("cannot write: {e}") })?;
        *guard = next;
        Ok(hits.len())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    pub fn id(&self) -> BlockId {
        self.meta.ulid
    }

    /// Bytes on disk.
    pub fn size_bytes(&self) -> u64 {
        self.size
    }

    pub fn series_count(&self) -> usize {
        self.series_count
    }

    fn index_error(&self, reason: impl Into<String>) -> BlockError {
        BlockError { path: self.dir.join(INDEX_FILE), reason: reason.into() }
    }

    fn section(&self, i: usize) -> &[u8] {
        &self.index[self.sections[i].clone()]
    }

    /// Symbol number `i`.
    fn symbol(&self, i: u32) -> Result<&str, BlockError> {
        let body = self.section(0);
        let i = i as usize;
        let area = 4 + (self.symbol_count + 1) * 4;
        let bad = || self.index_error(format!("symbol {i} is out of bounds"));
        if i >= self.symbol_count {
            return Err(bad());
        }
        let start = read_u32(body, 4 + i * 4).ok_or_else(bad)? as usize;
        let end = read_u32(body, 8 + i * 4).ok_or_else(bad)? as usize;
        let bytes = body.get(area + start..area + end).filter(|_| start <= end).ok_or_else(bad)?;
        std::str::from_utf8(bytes).map_err(|_| self.index_error(format!("symbol {i} is not UTF-8")))
    }

    /// The number of a symbol, if the block has it.
    fn find_symbol(&self, text: &str) -> Result<Option<u32>, BlockError> {
        let (mut lo, mut hi) = (0usize, self.symbol_count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.symbol(mid as u32)?.cmp(text) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(mid as u32)),
            }
        }
        Ok(None)
    }

    /// Postings table entry `i`: (name, value, start, len).
    fn postings_entry(&self, i: usize) -> Result<(u32, u32, u64, u32), BlockError> {
        let body = self.section(3);
        let pos = 4 + i * POSTINGS_ENTRY_LEN;
        let bad = || self.index_error(format!("postings entry {i} is out of bounds"));
        Ok((
            read_u32(body, pos).ok_or_else(bad)?,
            read_u32(body, pos + 4).ok_or_else(bad)?,
            read_u64(body, pos + 8).ok_or_else(bad)?,
            read_u32(body, pos + 16).ok_or_else(bad)?,
        ))
    }

    fn postings_list(&self, start: u64, len: u32) -> Result<Vec<u32>, BlockError> {
        let body = self.section(2);
        let bad = || self.index_error("a postings list is out of bounds");
        let mut pos = usize::try_from(start).map_err(|_| bad())?;
        // Each gap takes at least a byte: a length beyond the section is
        // refused before anything is allocated for it.
        if (len as usize) > body.len().saturating_sub(pos) {
            return Err(bad());
        }
        let mut out = Vec::with_capacity(len as usize);
        let mut series = 0u64;
        for _ in 0..len {
            series += read_uvarint(body, &mut pos).ok_or_else(bad)?;
            out.push(u32::try_from(series).map_err(|_| bad())?);
        }
        Ok(out)
    }

    /// The first postings entry whose name is at least `name`.
    fn postings_lower_bound(&self, name: u32) -> Result<usize, BlockError> {
        let (mut lo, mut hi) = (0usize, self.postings_count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.postings_entry(mid)?.0 < name {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Series numbers carrying label `name` with a value `accept`s, in
    /// ascending order.
    fn postings_where(&self, name: &str, accept: impl Fn(&str) -> bool) -> Result<Vec<u32>, BlockError> {
        let Some(name) = self.find_symbol(name)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        let mut lists = 0;
        for i in self.postings_lower_bound(name)?..self.postings_count {
            let (n, value, start, len) = self.postings_entry(i)?;
            if n != name {
                break;
            }
            if accept(self.symbol(value)?) {
                out.extend(self.postings_list(start, len)?);
                lists += 1;
            }
        }
        if lists > 1 {
            out.sort_unstable();
            out.dedup();
        }
        Ok(out)
    }

    /// Series that may match: the intersection over matchers that need a
    /// non-empty value; `None` when no matcher narrows the set.
    fn candidates(&self, matchers: &[Matcher]) -> Result<Option<Vec<u32>>, BlockError> {
        let mut result: Option<Vec<u32>> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty() && matches!(m.op, MatchOp::Equal | MatchOp::Regex)) {
            let list = if m.op == MatchOp::Equal {
                self.postings_where(&m.name, |v| v == m.value)?
            } else {
                self.postings_where(&m.name, |v| m.matches(v))?
            };
            let list = match result {
                Some(previous) => intersect(&previous, &list),
                None => list,
            };
            if list.is_empty() {
                return Ok(Some(list));
            }
            result = Some(list);
        }
        Ok(result)
    }

    fn series_entry(&self, i: u32) -> Result<&[u8], BlockError> {
        let body = self.section(1);
        let bad = || self.index_error(format!("series {i} is out of bounds"));
        if i as usize >= self.series_count {
            return Err(bad());
        }
        let area = 4 + self.series_count * 4;
        let offset = read_u32(body, 4 + i as usize * 4).ok_or_else(bad)?;
        let start = (offset as usize).checked_add(area).ok_or_else(bad)?;
        body.get(start..).ok_or_else(bad)
    }

    /// Series `i`'s labels.
    pub fn series_labels(&self, i: u32) -> Result<Labels, BlockError> {
        let entry = self.series_entry(i)?;
        let bad = || self.index_error(format!("series {i} is truncated"));
        let mut pos = 0;
        let n = read_uvarint(entry, &mut pos).ok_or_else(bad)?;
        let mut pairs = Vec::with_capacity(n.min(64) as usize);
        for _ in 0..n {
            let name = read_uvarint(entry, &mut pos).ok_or_else(bad)?;
            let value = read_uvarint(entry, &mut pos).ok_or_else(bad)?;
            let symbol = |s: u64| self.symbol(u32::try_from(s).unwrap_or(u32::MAX));
            pairs.push((symbol(name)?, symbol(value)?));
        }
        Ok(Labels::from_pairs(pairs))
    }

    /// Series `i`'s chunks, in time order.
    pub fn series_chunks(&self, i: u32) -> Result<Vec<ChunkMeta>, BlockError> {
        let entry = self.series_entry(i)?;
        let bad = || self.index_error(format!("series {i} is truncated"));
        let mut pos = 0;
        let n = read_uvarint(entry, &mut pos).ok_or_else(bad)?;
        for _ in 0..n.saturating_mul(2) {
            read_uvarint(entry, &mut pos).ok_or_else(bad)?;
        }
        let count = read_uvarint(entry, &mut pos).ok_or_else(bad)?;
        // Each chunk takes at least three bytes.
        if count.saturating_mul(3) > entry.len().saturating_sub(pos) as u64 {
            return Err(bad());
        }
        let mut out = Vec::with_capacity(count as usize);
        let (mut base_t, mut base_ref) = (self.meta.min_time, 0u64);
        for _ in 0..count {
            let min_t = base_t.wrapping_add(read_varint(entry, &mut pos).ok_or_else(bad)?);
            let max_t = min_t.wrapping_add(read_uvarint(entry, &mut pos).ok_or_else(bad)? as i64);
            let offset = base_ref.wrapping_add(read_uvarint(entry, &mut pos).ok_or_else(bad)?);
            out.push(ChunkMeta { min_t, max_t, offset });
            (base_t, base_ref) = (max_t, offset);
        }
        Ok(out)
    }

    /// A chunk's encoded bytes, checked against their CRC.
    pub fn chunk(&self, meta: &ChunkMeta) -> Result<&[u8], BlockError> {
        let bad = |reason: String| BlockError { path: self.dir.join(CHUNKS_FILE), reason };
        let mut pos = usize::try_from(meta.offset).unwrap_or(usize::MAX);
        let len = read_uvarint(&self.chunks, &mut pos)
            .ok_or_else(|| bad(format!("chunk at offset {} is out of bounds", meta.offset)))?;
        let end = usize::try_from(len).ok().and_then(|len| pos.checked_add(len));
        let data = end
            .and_then(|end| self.chunks.get(pos..end))
            .ok_or_else(|| bad(format!("chunk at offset {} is truncated", meta.offset)))?;
        if read_u32(&self.chunks, pos + data.len()) != Some(crc32fast::hash(data)) {
            return Err(bad(format!("chunk at offset {} fails its checksum", meta.offset)));
        }
        Ok(data)
    }

    /// Series matching all `matchers` with their samples in `[mint, maxt]`,
    /// sorted by labels; series without samples there are left out.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, BlockError> {
        if maxt < self.meta.min_time || mint >= self.meta.max_time {
            return Ok(Vec::new());
        }
        let candidates: Box<dyn Iterator<Item = u32>> = match self.candidates(matchers)? {
            Some(list) => Box::new(list.into_iter()),
            None => Box::new(0..self.series_count as u32),
        };
        let mut out = Vec::new();
        for i in candidates {
            let chunks = self.series_chunks(i)?;
            if !chunks.iter().any(|c| c.max_t >= mint && c.min_t <= maxt) {
                continue;
            }
            let labels = self.series_labels(i)?;
            if !matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or(""))) {
                continue;
            }
            let deleted = self.deleted(i).unwrap_or_default();
            let mut samples = Vec::new();
            for c in chunks.iter().filter(|c| c.max_t >= mint && c.min_t <= maxt) {
                samples.extend(
                    XorIterator::from_bytes(self.chunk(c)?)
                        .filter(|(t, _)| (mint..=maxt).contains(t) && !is_deleted(&deleted, *t))
                        .map(|(timestamp_ms, value)| Sample { timestamp_ms, value }),
                );
            }
            if !samples.is_empty() {
                out.push(Series { labels, samples });
            }
        }
        // Series numbers follow label order: `out` is sorted already.
        Ok(out)
    }
}

pub(crate) fn intersect<T: Ord + Copy>(a: &[T], b: &[T]) -> Vec<T> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len().min(b.len())));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The sample count of an encoded chunk, for tests elsewhere.
#[cfg(test)]
pub(crate) fn tests_chunk_len(bytes: &[u8]) -> usize {
    chunk_samples(bytes) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::chunk::XorChunk;

    pub(crate) fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vigil-block-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn chunk_of(samples: &[(i64, f64)]) -> (i64, i64, Vec<u8>) {
        let mut c = XorChunk::new();
        for (t, v) in samples {
            c.append(*t, *v);
        }
        (samples[0].0, samples[samples.len() - 1].0, c.bytes())
    }

    /// 50 series `m{i, job=j(i%3)}` with 300 samples each at 1s steps, in
    /// chunks of 120.
    fn write_block(parent: &Path) -> PathBuf {
        let id = BlockId::new(1);
        let mut w = BlockWriter::create(parent, id).unwrap();
        // Added out of label order on purpose.
        for i in (0..50).rev() {
            let labels = Labels::from_pairs([
                ("__name__", "m".to_owned()),
                ("i", format!("{i}")),
                ("job", format!("j{}", i % 3)),
            ]);
            let samples: Vec<(i64, f64)> = (0..300).map(|k| (k * 1000, f64::from(i * 1000 + k as i32))).collect();
            let chunks: Vec<_> = samples.chunks(120).map(chunk_of).collect();
            w.add_series(labels, chunks.iter().map(|(a, b, c)| (*a, *b, &c[..]))).unwrap();
        }
        w.finish(0, 300_000, CompactionMeta { level: 1, sources: vec![id], parents: Vec::new() }).unwrap()
    }

    fn sel(text: &str) -> Vec<Matcher> {
        let Ok(vigil_shared::promql::Expr::VectorSelector(s)) = vigil_shared::promql::parse(text) else {
            panic!("{text}")
        };
        s.matchers
    }

    #[test]
    fn ulids_round_trip_and_sort_by_time() {
        let a = BlockId::new(1_700_000_000_000);
        let b = BlockId::new(1_700_000_000_001);
        assert_ne!(a, BlockId::new(1_700_000_000_000));
        assert!(a < b);
        assert_eq!(a.to_string().len(), 26);
        assert_eq!(BlockId::parse(&a.to_string()), Some(a));
        assert_eq!(BlockId::parse(&a.to_string().to_lowercase()), Some(a));
        assert_eq!(a.time_ms(), 1_700_000_000_000);
        for bad in ["", "01ARZ3NDEKTSV4RRFFQ69G5FA", "81ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAU"] {
            assert_eq!(BlockId::parse(bad), None, "{bad}");
        }
        // The ULID spec's example.
        assert!(BlockId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").is_some());
    }

    #[test]
    fn a_written_block_reads_back_with_its_meta() {
        let parent = temp_dir("roundtrip");
        let dir = write_block(&parent);
        assert!(!parent.join(format!("{}{TMP_SUFFIX}", dir.file_name().unwrap().to_string_lossy())).exists());
        let block = Block::open(&dir).unwrap();
        let meta = block.meta();
        assert_eq!(meta.stats, BlockStats { num_samples: 15_000, num_series: 50, num_chunks: 150 });
        assert_eq!((meta.min_time, meta.max_time, meta.compaction.level), (0, 300_000, 1));
        let json: serde_json::Value = serde_json::from_slice(&fs::read(dir.join(META_FILE)).unwrap()).unwrap();
        for key in ["ulid", "minTime", "maxTime", "stats", "compaction", "version"] {
            assert!(json.get(key).is_some(), "meta.json lacks {key}: {json}");
        }
        assert_eq!(json["stats"]["numSamples"], 15_000);

        // Selection through the postings agrees with the data written.
        let got = block.select(&sel("m{i=\"7\"}"), 100_000, 130_000).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels.get("job"), Some("j1"));
        let ts: Vec<i64> = got[0].samples.iter().map(|s| s.timestamp_ms).collect();
        assert_eq!(ts, (100..=130).map(|k| k * 1000).collect::<Vec<_>>());
        assert_eq!(got[0].samples[0].value, 7100.0);
        let table: [(&str, usize); 8] = [
            ("m", 50),
            ("{job=\"j0\"}", 17),
            ("{job=~\"j1|j2\"}", 33),
            ("m{job!=\"j0\"}", 33),
            ("{i=~\"1.\", job=\"j1\"}", 4),
            ("{i=~\"4.*\", job!~\"j0|j1\"}", 3),
            ("nope", 0),
            ("{job=\"j0\", i=\"1\"}", 0),
        ];
        for (text, expected) in table {
            let got = block.select(&sel(text), 0, 300_000).unwrap();
            assert_eq!(got.len(), expected, "{text}");
            assert!(got.windows(2).all(|w| w[0].labels < w[1].labels), "{text}: sorted by labels");
        }
        assert!(block.select(&sel("m"), 300_000, 400_000).unwrap().is_empty(), "outside the block's range");
        let _ = fs::remove_dir_all(&parent);
    }

    #[test]
    fn corrupt_blocks_are_refused_naming_the_file() {
        let parent = temp_dir("corrupt");
        let dir = write_block(&parent);
        let index = fs::read(dir.join(INDEX_FILE)).unwrap();
        let meta = fs::read(dir.join(META_FILE)).unwrap();
        // Flip one byte anywhere in the index: open must fail, naming it.
        let mut positions: Vec<usize> = (0..index.len()).step_by(97).collect();
        positions.extend([0, 9, index.len() - 1, index.len() - 5, index.len() - TOC_LEN]);
        for pos in positions {
            let mut bad = index.clone();
            bad[pos] ^= 0x5a;
            fs::write(dir.join(INDEX_FILE), &bad).unwrap();
            let err = Block::open(&dir).expect_err(&format!("flipped index byte {pos} went unnoticed"));
            assert!(err.path.ends_with(INDEX_FILE), "{err}");
        }
        // A truncated index.
        fs::write(dir.join(INDEX_FILE), &index[..index.len() / 2]).unwrap();
        assert!(Block::open(&dir).unwrap_err().to_string().contains("index"));
        fs::write(dir.join(INDEX_FILE), &index).unwrap();

        let table: [(&str, &[u8]); 4] = [
            ("not json", b"{\"ulid\": "),
            ("wrong id", b"{\"ulid\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"minTime\":0,\"maxTime\":1,\"stats\":{\"numSamples\":0,\"numSeries\":0,\"numChunks\":0},\"compaction\":{\"level\":1,\"sources\":[]},\"version\":1}"),
            ("bad range", b"{\"ulid\":\"ID\",\"minTime\":5,\"maxTime\":5,\"stats\":{\"numSamples\":0,\"numSeries\":0,\"numChunks\":0},\"compaction\":{\"level\":1,\"sources\":[]},\"version\":1}"),
            ("bad version", b"{\"ulid\":\"ID\",\"minTime\":0,\"maxTime\":5,\"stats\":{\"numSamples\":0,\"numSeries\":0,\"numChunks\":0},\"compaction\":{\"level\":1,\"sources\":[]},\"version\":9}"),
        ];
        let id = dir.file_name().unwrap().to_string_lossy().into_owned();
        for (what, text) in table {
            let text = String::from_utf8_lossy(text).replace("\"ID\"", &format!("\"{id}\""));
            fs::write(dir.join(META_FILE), text).unwrap();
            let err = Block::open(&dir).expect_err(what);
            assert!(err.path.ends_with(META_FILE), "{what}: {err}");
        }
        fs::write(dir.join(META_FILE), &meta).unwrap();

        // A flipped chunk byte: the block opens, but reading that chunk is
        // an error naming the chunks file, never different samples.
        let chunks = fs::read(dir.join(CHUNKS_FILE)).unwrap();
        let mut bad = chunks.clone();
        bad[HEADER_LEN + 30] ^= 0x01;
        fs::write(dir.join(CHUNKS_FILE), &bad).unwrap();
        let block = Block::open(&dir).unwrap();
        let err = block.select(&sel("m"), 0, 300_000).unwrap_err();
        assert!(err.path.ends_with(CHUNKS_FILE) && err.reason.contains("checksum"), "{err}");
        // A wrong magic number in the chunks file refuses the block.
        let mut bad = chunks.clone();
        bad[0] = b'X';
        fs::write(dir.join(CHUNKS_FILE), &bad).unwrap();
        assert!(Block::open(&dir).unwrap_err().path.ends_with(CHUNKS_FILE));
        let _ = fs::remove_dir_all(&parent);
    }

    #[test]
    fn intervals_merge_when_they_overlap_or_touch() {
        let table: [(Intervals, (i64, i64), Intervals); 6] = [
            (vec![], (5, 9), vec![(5, 9)]),
            (vec![(0, 2)], (5, 9), vec![(0, 2), (5, 9)]),
            (vec![(0, 4)], (5, 9), vec![(0, 9)]),
            (vec![(0, 2), (10, 12), (20, 22)], (3, 15), vec![(0, 15), (20, 22)]),
            (vec![(10, 12)], (0, 1), vec![(0, 1), (10, 12)]),
            (vec![(i64::MIN, 0)], (1, i64::MAX), vec![(i64::MIN, i64::MAX)]),
        ];
        for (before, add, after) in table {
            let mut list = before.clone();
            add_interval(&mut list, add);
            assert_eq!(list, after, "{before:?} + {add:?}");
        }
        assert!(is_deleted(&[(0, 2), (5, 9)], 5) && is_deleted(&[(0, 2)], 2) && !is_deleted(&[(0, 2), (5, 9)], 3));
    }

    #[test]
    fn deletions_hide_samples_and_survive_a_reopen() {
        let parent = temp_dir("delete");
        let dir = write_block(&parent);
        let block = Block::open(&dir).unwrap();
        assert_eq!(block.delete(&sel("m{job=\"j0\"}"), 10_000, 19_000).unwrap(), 17);
        assert_eq!(block.delete(&sel("m{i=\"3\"}"), 15_000, 25_000).unwrap(), 1, "overlaps the first");
        assert_eq!(block.delete(&sel("nope"), 0, 300_000).unwrap(), 0);
        assert_eq!(block.delete(&sel("m"), 400_000, 500_000).unwrap(), 0, "after the block");
        assert_eq!(block.delete(&sel("m"), 20_000, 10_000).unwrap(), 0, "an empty range");
        assert_eq!(block.num_tombstones(), 17);
        let check = |block: &Block| {
            let got = block.select(&sel("m{i=~\"3|4\"}"), 0, 30_000).unwrap();
            let ts = |s: &Series| s.samples.iter().map(|x| x.timestamp_ms / 1000).collect::<Vec<_>>();
            // i=3 is job j0: both deletions, merged; i=4 is untouched.
            assert_eq!(ts(&got[0]), (0..10).chain(26..=30).collect::<Vec<_>>());
            assert_eq!(ts(&got[1]), (0..=30).collect::<Vec<_>>());
        };
        check(&block);
        drop(block);
        let block = Block::open(&dir).unwrap();
        check(&block);
        // Everything of a series: it is no longer selected at all.
        block.delete(&sel("m{i=\"4\"}"), i64::MIN, i64::MAX).unwrap();
        assert_eq!(block.select(&sel("m{i=\"4\"}"), 0, 300_000).unwrap(), []);
        assert_eq!(block.num_tombstones(), 18);
        let _ = fs::remove_dir_all(&parent);
    }

    #[test]
    fn a_damaged_tombstones_file_refuses_the_block_naming_it() {
        let parent = temp_dir("tombstones-corrupt");
        let dir = write_block(&parent);
        let block = Block::open(&dir).unwrap();
        block.delete(&sel("m{job=\"j1\"}"), 0, 5000).unwrap();
        drop(block);
        let path = dir.join(TOMBSTONES_FILE);
        let good = fs::read(&path).unwrap();
        let mut flipped = good.clone();
        flipped[HEADER_LEN + 6] ^= 0x40;
        let mut wrong_magic = good.clone();
        wrong_magic[0] = b'P';
        // Series 50 does not exist (the block has 50, numbered from 0).
        let mut out_of_range = Tombstones::new();
        out_of_range.insert(50, vec![(0, 1)]);
        let mut backwards = Tombstones::new();
        backwards.insert(1, vec![(5, 1)]);
        let table: [(&str, Vec<u8>, &str); 7] = [
            ("empty", Vec::new(), "too short"),
            ("truncated", good[..good.len() - 7].to_vec(), "checksum"),
            ("cut after the header", good[..HEADER_LEN + 4].to_vec(), "too short"),
            ("flipped", flipped, "checksum"),
            ("wrong magic", wrong_magic, "magic"),
            ("unknown series", encode_tombstones(&out_of_range), "does not fit"),
            ("backwards range", encode_tombstones(&backwards), "does not fit"),
        ];
        for (what, bytes, reason) in table {
            fs::write(&path, &bytes).unwrap();
            let err = Block::open(&dir).expect_err(what);
            assert!(err.path.ends_with(TOMBSTONES_FILE), "{what}: {err}");
            assert!(err.reason.contains(reason), "{what}: {err}");
        }
        fs::write(&path, &good).unwrap();
        assert_eq!(Block::open(&dir).unwrap().num_tombstones(), 17);
        let _ = fs::remove_dir_all(&parent);
    }

    proptest::proptest! {
        /// Whatever a tombstones file holds, reading it is an answer or an
        /// error, never a panic; what it accepts is what was encoded.
        #[test]
        fn tombstones_files_read_back_or_fail_cleanly(
            entries in proptest::collection::vec((0u32..60, proptest::num::i64::ANY, proptest::num::i64::ANY), 0..20),
            flip in proptest::option::of((0usize..1000, 1u8..=255)),
            cut in proptest::option::of(0usize..1000),
        ) {
            let dir = temp_dir("tombstones-prop");
            let mut written = Tombstones::new();
            for (series, a, b) in entries {
                add_interval(written.entry(series).or_default(), (a.min(b), a.max(b)));
            }
            let mut bytes = encode_tombstones(&written);
            let pristine = flip.is_none() && cut.is_none();
            if let Some((at, mask)) = flip {
                let at = at % bytes.len();
                bytes[at] ^= mask;
            }
            if let Some(len) = cut {
                bytes.truncate(len % (bytes.len() + 1));
            }
            fs::write(dir.join(TOMBSTONES_FILE), &bytes).unwrap();
            match read_tombstones(&dir, 50) {
                Ok(read) => proptest::prop_assert_eq!(read, written),
                Err(e) => {
                    proptest::prop_assert!(e.path.ends_with(TOMBSTONES_FILE));
                    // Intact files fail only for series the block lacks.
                    proptest::prop_assert!(!pristine || written.keys().any(|s| *s >= 50), "{}", e);
                }
            }
            let _ = fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn an_empty_block_and_odd_labels_round_trip() {
        let parent = temp_dir("odd");
        let id = BlockId::new(5);
        let mut w = BlockWriter::create(&parent, id).unwrap();
        let weird = Labels::from_pairs([("__name__", "x"), ("a", "ünïcödé \"q\" \n"), ("b", "")]);
        let (a, b, c) = chunk_of(&[(-5, f64::NAN), (i64::MAX / 4, -0.0)]);
        w.add_series(weird.clone(), [(a, b, &c[..])]).unwrap();
        w.add_series(Labels::from_pairs([("__name__", "empty")]), []).unwrap();
        let dir = w.finish(-5, i64::MAX / 2, CompactionMeta { level: 1, sources: vec![id], parents: vec![] }).unwrap();
        let block = Block::open(&dir).unwrap();
        assert_eq!(block.meta().stats.num_series, 1, "a series without chunks is left out");
        let got = block.select(&[], i64::MIN / 2, i64::MAX / 2).unwrap();
        assert_eq!(got[0].labels, weird);
        assert!(got[0].samples[0].value.is_nan());
        assert_eq!(got[0].samples[1].value.to_bits(), (-0.0f64).to_bits());
        let _ = fs::remove_dir_all(&parent);
    }

    #[test]
    fn chunk_references_round_trip_through_their_deltas() {
        // Each row: a series' chunk time ranges (inclusive), chosen for the
        // deltas: before the block's start, gaps, zero-length chunks, huge
        // spans. The block starts at 1_000.
        let table: [(&str, &[(i64, i64)]); 5] = [
            ("before the block's start", &[(-40_000, -39_000), (500, 2_000)]),
            ("zero-length chunks", &[(1_000, 1_000), (1_001, 1_001), (1_002, 1_002)]),
            ("a gap", &[(1_000, 60_000), (9_000_000, 9_000_500)]),
            ("a huge span", &[(1_000, i64::MAX / 4)]),
            ("many chunks", &[(1_000, 1_500), (2_000, 2_500), (3_000, 3_500), (4_000, 4_500), (5_000, 5_500)]),
        ];
        let parent = temp_dir("deltas");
        let id = BlockId::new(6);
        let mut w = BlockWriter::create(&parent, id).unwrap();
        // Interleaved writes: a series' chunk offsets are not contiguous
        // with the previous series' in label order.
        for (name, ranges) in table.iter().rev() {
            let chunks: Vec<_> = ranges.iter().map(|&(a, b)| chunk_of(&[(a, 1.0), (b, 2.0)])).collect();
            let labels = Labels::from_pairs([("__name__", "m".to_owned()), ("case", (*name).to_owned())]);
            w.add_series(labels, chunks.iter().map(|(a, b, c)| (*a, *b, &c[..]))).unwrap();
        }
        let dir = w.finish(1_000, i64::MAX / 2, CompactionMeta { level: 1, sources: vec![id], parents: vec![] }).unwrap();
        let block = Block::open(&dir).unwrap();
        for i in 0..block.series_count() as u32 {
            let labels = block.series_labels(i).unwrap();
            let case = labels.get("case").unwrap();
            let ranges = table.iter().find(|(name, _)| *name == case).unwrap().1;
            let metas = block.series_chunks(i).unwrap();
            let got: Vec<(i64, i64)> = metas.iter().map(|m| (m.min_t, m.max_t)).collect();
            assert_eq!(got, ranges, "{case}");
            for (meta, &(a, b)) in metas.iter().zip(ranges) {
                let samples: Vec<(i64, f64)> = XorIterator::from_bytes(block.chunk(meta).unwrap()).collect();
                assert_eq!(samples, vec![(a, 1.0), (b, 2.0)], "{case}");
            }
        }
        let _ = fs::remove_dir_all(&parent);
    }

    #[test]
    fn version_1_blocks_are_refused_saying_why() {
        let parent = temp_dir("v1");
        let dir = write_block(&parent);
        let meta = fs::read_to_string(dir.join(META_FILE)).unwrap();
        let old = meta.replace(&format!("\"version\": {FORMAT_VERSION}"), "\"version\": 1");
        assert_ne!(old, meta, "meta.json names its version");
        fs::write(dir.join(META_FILE), old).unwrap();
        let err = Block::open(&dir).unwrap_err();
        assert!(err.path.ends_with(META_FILE) && err.reason.contains("version 1"), "{err}");
        assert!(err.reason.contains("re-import"), "says what to do: {err}");
        let _ = fs::remove_dir_all(&parent);
    }
}
