//! Chunk stores: where the bytes of a spilled chunk are kept, and the on-disk format.
//!
//! In: [`Block`]s (a chunk's serialized bytes, raw or lz4-compressed). Out: a [`Location`] to
//! read the block back with, until it is freed. Two implementations of [`ChunkStore`]:
//! [`MemStore`] (a map, for tests and for checking the policy without a disk) and
//! [`FileStore`] (append-only segment files in a spill directory).
//!
//! # On-disk format (version 1)
//!
//! A [`FileStore`] writes segment files named `w<worker>-<segment>.ebbspill`. Each starts with
//! a 16-byte file header, then holds records back to back:
//!
//! ```text
//! file header   0..8   magic  b"EBBSPILL"
//!               8..12  format version, u32 little-endian (1)
//!              12..16  reserved, zero
//! record       0..4    magic  b"EBBC"
//!               4..6   format version, u16 LE (1)
//!               6      codec: 0 = raw, 1 = lz4 block
//!               7      reserved, zero
//!               8..16  payload length in bytes, u64 LE
//!              16..24  length once decompressed, u64 LE (equal to the payload length when raw)
//!              24..28  CRC-32 (IEEE) of record bytes 0..24 followed by the payload, u32 LE
//!              28..32  reserved, zero
//!              32..    payload
//! ```
//!
//! The payload is differential's serialization of one columnar chunk (`Updates::write_to`),
//! compressed as one lz4 block when the codec says so. Every read checks the magic, the
//! version, the lengths against the file and the checksum, and names the file and offset when
//! one fails.
//!
//! Invariants: a segment is only ever appended to, by one writer (one worker); a segment is
//! deleted once it is no longer being written to and its last live record has been freed, so
//! disk space comes back as chunks die, one segment at a time. A failed write leaves nothing
//! live behind (the segment is truncated back) and is reported with the file's path.
//!
//! Known limitation: space of dead records inside a segment that still holds a live one is
//! only reclaimed when the segment's last record dies (no compaction of segments).

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Magic bytes at the start of a segment file.
pub const FILE_MAGIC: &[u8; 8] = b"EBBSPILL";
/// Magic bytes at the start of each record.
pub const RECORD_MAGIC: &[u8; 4] = b"EBBC";
/// The format version written, and the only one read.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes of the file header.
pub const FILE_HEADER_LEN: u64 = 16;
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = 32;

/// How a block's payload is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// The serialized chunk as it is.
    Raw,
    /// One lz4 block (`lz4_flex::block`).
    Lz4,
}

/// One chunk's bytes, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// How `payload` is encoded.
    pub codec: Codec,
    /// The length of the serialized chunk, once decompressed.
    pub raw_len: usize,
    /// The stored bytes.
    pub payload: Vec<u8>,
}

impl Block {
    /// A block holding `bytes` as they are.
    pub fn raw(bytes: Vec<u8>) -> Block {
        Block { codec: Codec::Raw, raw_len: bytes.len(), payload: bytes }
    }

    /// A block holding `bytes` lz4-compressed.
    pub fn lz4(bytes: &[u8]) -> Block {
        Block { codec: Codec::Lz4, raw_len: bytes.len(), payload: lz4_flex::block::compress(bytes) }
    }

    /// The serialized chunk: the payload, decompressed if need be.
    pub fn into_bytes(self) -> Result<Vec<u8>, String> {
        match self.codec {
            Codec::Raw => Ok(self.payload),
            Codec::Lz4 => unpack_lz4(&self.payload, self.raw_len),
        }
    }
}

/// An lz4 block's `raw_len` bytes.
pub fn unpack_lz4(payload: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
    lz4_flex::block::decompress(payload, raw_len).map_err(|e| format!("lz4 block does not decompress: {e}"))
}

/// Where a stored block is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// The segment (file) it is in; for a [`MemStore`], the block's number.
    pub segment: u64,
    /// Byte offset of its record in the segment.
    pub offset: u64,
    /// Bytes the record takes in the store, header included.
    pub len: u64,
}

/// A store operation that failed, with the file it was about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("\"{}\": {message}", path.display())]
pub struct StoreError {
    /// The file (or directory) concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// Somewhere to keep blocks until they are freed.
pub trait ChunkStore {
    /// Keep `block`; return where it is.
    fn put(&mut self, block: &Block) -> Result<Location, StoreError>;
    /// Read back the block at `at` (which must not have been freed).
    fn get(&self, at: Location) -> Result<Block, StoreError>;
    /// Forget the block at `at`; its space may be given back.
    fn free(&mut self, at: Location);
    /// Bytes the store holds now, dead records inside live segments included.
    fn bytes_held(&self) -> u64;
}

/// Blocks kept in a map in memory.
#[derive(Default)]
pub struct MemStore {
    blocks: HashMap<u64, Block>,
    next: u64,
    held: u64,
}

impl ChunkStore for MemStore {
    fn put(&mut self, block: &Block) -> Result<Location, StoreError> {
        let at = Location { segment: self.next, offset: 0, len: block.payload.len() as u64 };
        self.next += 1;
        self.held += at.len;
        self.blocks.insert(at.segment, block.clone());
        Ok(at)
    }

    fn get(&self, at: Location) -> Result<Block, StoreError> {
        self.blocks.get(&at.segment).cloned().ok_or_else(|| StoreError {
            path: PathBuf::from("<memory>"),
            message: format!("no block {}", at.segment),
        })
    }

    fn free(&mut self, at: Location) {
        if self.blocks.remove(&at.segment).is_some() {
            self.held -= at.len;
        }
    }

    fn bytes_held(&self) -> u64 {
        self.held
    }
}

/// One segment file.
struct Segment {
    path: PathBuf,
    file: File,
    /// Bytes written (the offset of the next record).
    len: u64,
    /// Records not yet freed.
    live: usize,
}

/// Blocks appended to rotating segment files in one directory (see the module docs).
pub struct FileStore {
    dir: PathBuf,
    prefix: String,
    /// A segment that has reached this size is closed and a new one started.
    segment_bytes: u64,
    /// The segment being appended to.
    current: Option<u64>,
    segments: HashMap<u64, Segment>,
    next_segment: u64,
}

impl FileStore {
    /// A store writing `<prefix>-<n>.ebbspill` files in `dir` (which must exist), starting a
    /// new file once one reaches `segment_bytes`.
    pub fn new(dir: &Path, prefix: &str, segment_bytes: u64) -> FileStore {
        FileStore {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            segment_bytes: segment_bytes.max(1),
            current: None,
            segments: HashMap::new(),
            next_segment: 0,
        }
    }

    /// The paths of the segment files that exist now.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.segments.values().map(|s| s.path.clone()).collect();
        files.sort();
        files
    }

    /// The segment to append to, opening a new one when there is none or it is full.
    fn writable(&mut self) -> Result<u64, StoreError> {
        if let Some(id) = self.current {
            if self.segments.get(&id).is_some_and(|s| s.len < self.segment_bytes) {
                return Ok(id);
            }
            self.current = None;
            self.delete_if_dead(id);
        }
        let id = self.next_segment;
        self.next_segment += 1;
        let path = self.dir.join(format!("{}-{id:06}.ebbspill", self.prefix));
        let error = |message: String| StoreError { path: path.clone(), message };
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| error(format!("cannot create spill file: {e}")))?;
        let mut header = [0u8; FILE_HEADER_LEN as usize];
        header[..8].copy_from_slice(FILE_MAGIC);
        header[8..12].copy_from_slice(&u32::from(FORMAT_VERSION).to_le_bytes());
        if let Err(e) = file.write_all_at(&header, 0) {
            let _ = std::fs::remove_file(&path);
            return Err(error(format!("cannot write spill file: {e}")));
        }
        self.segments.insert(id, Segment { path, file, len: FILE_HEADER_LEN, live: 0 });
        self.current = Some(id);
        Ok(id)
    }

    /// Delete segment `id` if nothing in it is live and it is not being appended to.
    fn delete_if_dead(&mut self, id: u64) {
        if self.current != Some(id)
            && self.segments.get(&id).is_some_and(|s| s.live == 0)
            && let Some(segment) = self.segments.remove(&id)
        {
            // Nothing can be done about a file that will not go; it is in the spill
            // directory, which a temporary one removes whole at exit anyway.
            let _ = std::fs::remove_file(&segment.path);
        }
    }
}

/// The record header for `block`, checksum included, followed by nothing.
fn record_header(block: &Block) -> [u8; RECORD_HEADER_LEN] {
    let mut header = [0u8; RECORD_HEADER_LEN];
    header[..4].copy_from_slice(RECORD_MAGIC);
    header[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[6] = match block.codec {
        Codec::Raw => 0,
        Codec::Lz4 => 1,
    };
    header[8..16].copy_from_slice(&(block.payload.len() as u64).to_le_bytes());
    header[16..24].copy_from_slice(&(block.raw_len as u64).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header[..24]);
    crc.update(&block.payload);
    header[24..28].copy_from_slice(&crc.finalize().to_le_bytes());
    header
}

/// A little-endian integer from `bytes[range]` (the caller knows the range is in bounds).
fn le_u64(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

impl ChunkStore for FileStore {
    fn put(&mut self, block: &Block) -> Result<Location, StoreError> {
        let id = self.writable()?;
        let segment = self
            .segments
            .get_mut(&id)
            .ok_or_else(|| StoreError { path: self.dir.clone(), message: "spill segment vanished".into() })?;
        let mut record = Vec::with_capacity(RECORD_HEADER_LEN + block.payload.len());
        record.extend_from_slice(&record_header(block));
        record.extend_from_slice(&block.payload);
        let offset = segment.len;
        if let Err(e) = segment.file.write_all_at(&record, offset) {
            // Give back whatever part of the record did get written.
            let _ = segment.file.set_len(offset);
            let path = segment.path.clone();
            if segment.live == 0 {
                self.current = None;
                if let Some(segment) = self.segments.remove(&id) {
                    let _ = std::fs::remove_file(&segment.path);
                }
            }
            return Err(StoreError { path, message: format!("cannot write spill file: {e}") });
        }
        segment.len += record.len() as u64;
        segment.live += 1;
        Ok(Location { segment: id, offset, len: record.len() as u64 })
    }

    fn get(&self, at: Location) -> Result<Block, StoreError> {
        let Some(segment) = self.segments.get(&at.segment) else {
            return Err(StoreError {
                path: self.dir.clone(),
                message: format!("no spill segment {}", at.segment),
            });
        };
        let error = |message: String| StoreError {
            path: segment.path.clone(),
            message: format!("{message} (record at byte {})", at.offset),
        };
        let mut record = vec![0u8; at.len as usize];
        segment.file.read_exact_at(&mut record, at.offset).map_err(|e| error(format!("cannot read: {e}")))?;
        if record.len() < RECORD_HEADER_LEN || &record[..4] != RECORD_MAGIC {
            return Err(error("not a spill record (bad magic)".into()));
        }
        let version = u16::from_le_bytes([record[4], record[5]]);
        if version != FORMAT_VERSION {
            return Err(error(format!("unknown spill format version {version}")));
        }
        let codec = match record[6] {
            0 => Codec::Raw,
            1 => Codec::Lz4,
            other => return Err(error(format!("unknown codec {other}"))),
        };
        let payload_len = le_u64(&record[8..16]);
        let raw_len = le_u64(&record[16..24]);
        if payload_len != at.len - RECORD_HEADER_LEN as u64 {
            return Err(error(format!("payload length {payload_len} does not match the record")));
        }
        let stored = u32::from_le_bytes([record[24], record[25], record[26], record[27]]);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&record[..24]);
        crc.update(&record[RECORD_HEADER_LEN..]);
        if crc.finalize() != stored {
            return Err(error("checksum mismatch: the spilled chunk is corrupt".into()));
        }
        record.drain(..RECORD_HEADER_LEN);
        Ok(Block { codec, raw_len: raw_len as usize, payload: record })
    }

    fn free(&mut self, at: Location) {
        if let Some(segment) = self.segments.get_mut(&at.segment) {
            segment.live = segment.live.saturating_sub(1);
            if segment.live == 0 && self.current == Some(at.segment) {
                // Nothing live in the segment being written: start afresh next time, and give
                // the space back now.
                self.current = None;
            }
            self.delete_if_dead(at.segment);
        }
    }

    fn bytes_held(&self) -> u64 {
        self.segments.values().map(|s| s.len).sum()
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        for segment in self.segments.values() {
            let _ = std::fs::remove_file(&segment.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: u8) -> Vec<u8> {
        (0..1000u32).map(|j| (j % 7) as u8 ^ i).collect()
    }

    #[test]
    fn every_block_round_trips_through_both_stores() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = FileStore::new(dir.path(), "t", 4096);
        let mut memory = MemStore::default();
        let blocks: Vec<Block> = (0..20)
            .map(|i| if i % 2 == 0 { Block::raw(sample(i)) } else { Block::lz4(&sample(i)) })
            .collect();
        for store in [&mut files as &mut dyn ChunkStore, &mut memory] {
            let at: Vec<Location> = blocks.iter().map(|b| store.put(b).expect("put")).collect();
            for (block, at) in blocks.iter().zip(&at) {
                let back = store.get(*at).expect("get");
                assert_eq!(&back, block);
                assert_eq!(back.into_bytes().expect("decode"), block.clone().into_bytes().expect("decode"));
            }
            for at in at {
                store.free(at);
            }
            assert_eq!(store.bytes_held(), 0);
        }
        assert!(files.files().is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "every segment file is deleted");
    }

    #[test]
    fn segments_rotate_and_go_once_their_chunks_are_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = FileStore::new(dir.path(), "t", 2500);
        let at: Vec<Location> = (0..10).map(|i| store.put(&Block::raw(sample(i))).expect("put")).collect();
        let files = store.files().len();
        assert!(files >= 4, "1 KB records in 2.5 KB segments rotate: {files} files");
        // Free every record of the first segments: their files go, the others stay.
        for a in at.iter().filter(|a| a.segment < 2) {
            store.free(*a);
        }
        assert_eq!(store.files().len(), files - 2);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), files - 2);
        for a in at.iter().filter(|a| a.segment >= 2) {
            assert_eq!(store.get(*a).expect("still readable").payload.len(), 1000);
            store.free(*a);
        }
        assert_eq!(store.bytes_held(), 0);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn a_corrupted_record_is_detected_and_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = FileStore::new(dir.path(), "t", 1 << 20);
        let at = store.put(&Block::lz4(&sample(3))).expect("put");
        let path = store.files()[0].clone();
        let mut bytes = std::fs::read(&path).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&path, bytes).expect("write");
        let e = store.get(at).expect_err("corruption is detected");
        assert_eq!(e.path, path);
        assert!(e.message.contains("checksum mismatch"), "{e}");
    }

    #[test]
    fn an_unwritable_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("not-there");
        let mut store = FileStore::new(&missing, "t", 1 << 20);
        let e = store.put(&Block::raw(sample(1))).expect_err("no directory");
        assert!(e.path.starts_with(&missing), "{e}");
        assert!(e.message.contains("cannot create spill file"), "{e}");
    }
}
