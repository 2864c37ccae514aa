//! The packfile (SPEC §7): `agents.pack` holds objects back to back,
//! `index.lut` is a sorted table of `hash[32] offset u64 len u32` entries into
//! it. Readers memory-map both and serve borrowed slices.
//!
//! ```text
//! agents.pack  "RTTPACK\0" | version u32 | flags u32 | (object "\n")* | sha256(all before)
//! index.lut    "RTTLUT\0\0" | version u32 | entry size u32 | count u64 | pack length u64
//!              | pack checksum [32] | fan-out 256 × u64 | count × entry | sha256(all before)
//! ```
//! All integers are little-endian. Offsets are u64, so packs may pass 4 GiB;
//! one object is at most [`MAX_OBJECT_BYTES`], so its length fits a u32.
//! The newline after each object (canonical JSON never holds a raw newline)
//! lets the lut be rebuilt from the pack alone after an interrupted `pack`.

use std::io::Write;

use rtt_canonical::Sha256;

use crate::object::MAX_OBJECT_BYTES;

/// First bytes of `agents.pack`.
pub const PACK_MAGIC: [u8; 8] = *b"RTTPACK\0";
/// First bytes of `index.lut`.
pub const LUT_MAGIC: [u8; 8] = *b"RTTLUT\0\0";
/// Format version of both files.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the first object.
pub const PACK_HEADER: usize = 16;
/// Bytes of the lut header.
pub const LUT_HEADER: usize = 64;
/// Bytes of the fan-out table.
pub const FANOUT: usize = 256 * 8;
/// Bytes of one lut entry.
pub const ENTRY: usize = 44;
/// Bytes of a trailing checksum.
pub const CHECKSUM: usize = 32;

/// One lut entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The object's hash.
    pub hash: Sha256,
    /// Where its bytes start in the pack.
    pub offset: u64,
    /// How many bytes.
    pub len: u32,
}

/// Why a pack or lut cannot be trusted. The IO layer adds the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

fn bad(message: impl Into<String>) -> FormatError {
    FormatError(message.into())
}

/// Streams a pack: the header, then each object and a newline, then the checksum.
pub struct PackWriter<W: Write> {
    out: W,
    hasher: rtt_canonical::Hasher,
    len: u64,
    entries: Vec<Entry>,
}

impl<W: Write> PackWriter<W> {
    /// Starts a pack on `out`.
    pub fn new(out: W) -> std::io::Result<Self> {
        let mut writer = Self { out, hasher: rtt_canonical::Hasher::default(), len: 0, entries: Vec::new() };
        let mut header = [0u8; PACK_HEADER];
        header[..8].copy_from_slice(&PACK_MAGIC);
        header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        writer.write(&header)?;
        Ok(writer)
    }

    /// Appends one object; callers add objects in ascending hash order, once each.
    pub fn add(&mut self, hash: Sha256, bytes: &[u8]) -> std::io::Result<()> {
        debug_assert!(self.entries.last().is_none_or(|last| last.hash < hash), "objects out of order");
        let len = u32::try_from(bytes.len())
            .ok()
            .filter(|&n| u64::from(n) <= MAX_OBJECT_BYTES)
            .ok_or_else(|| std::io::Error::other(format!("object {hash} is larger than {MAX_OBJECT_BYTES} bytes")))?;
        self.entries.push(Entry { hash, offset: self.len, len });
        self.write(bytes)?;
        self.write(b"\n")
    }

    /// Writes the checksum; returns the lut that indexes this pack.
    pub fn finish(mut self) -> std::io::Result<(W, Vec<u8>)> {
        let checksum: [u8; 32] = self.hasher.digest().0;
        self.out.write_all(&checksum)?;
        let pack_len = self.len + CHECKSUM as u64;
        Ok((self.out, encode_lut(&self.entries, pack_len, checksum)))
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        self.out.write_all(bytes)
    }
}

/// The lut bytes for sorted `entries` of a pack of `pack_len` bytes.
pub fn encode_lut(entries: &[Entry], pack_len: u64, pack_checksum: [u8; 32]) -> Vec<u8> {
    let mut lut = Vec::with_capacity(LUT_HEADER + FANOUT + entries.len() * ENTRY + CHECKSUM);
    lut.extend_from_slice(&LUT_MAGIC);
    lut.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    lut.extend_from_slice(&(ENTRY as u32).to_le_bytes());
    lut.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    lut.extend_from_slice(&pack_len.to_le_bytes());
    lut.extend_from_slice(&pack_checksum);
    let mut fanout = [0u64; 256];
    for entry in entries {
        fanout[usize::from(entry.hash.0[0])] += 1;
    }
    let mut running = 0;
    for count in fanout {
        running += count;
        lut.extend_from_slice(&running.to_le_bytes());
    }
    for entry in entries {
        lut.extend_from_slice(&entry.hash.0);
        lut.extend_from_slice(&entry.offset.to_le_bytes());
        lut.extend_from_slice(&entry.len.to_le_bytes());
    }
    let checksum = Sha256::of(&lut);
    lut.extend_from_slice(&checksum.0);
    lut
}

/// A pack and its lut, checked for shape and checksums of the lut, ready for
/// lookups that borrow from the underlying bytes.
#[derive(Debug, Clone, Copy)]
pub struct PackView<'a> {
    pack: &'a [u8],
    lut: &'a [u8],
    count: usize,
}

impl<'a> PackView<'a> {
    /// Checks everything that is cheap to check: magic numbers, versions,
    /// lengths (a truncated file fails here), the fan-out table, the lut's
    /// checksum and that the lut describes this very pack. The pack's own
    /// checksum covers every object and is checked by [`PackView::verify`];
    /// single reads re-hash the object they serve instead.
    pub fn open(pack: &'a [u8], lut: &'a [u8]) -> Result<Self, FormatError> {
        if lut.len() < LUT_HEADER + FANOUT + CHECKSUM || lut[..8] != LUT_MAGIC {
            return Err(bad("index.lut is not an rtt lut (bad magic or shorter than its header)"));
        }
        let version = read_u32(lut, 8);
        if version != FORMAT_VERSION || read_u32(lut, 12) as usize != ENTRY {
            return Err(bad(format!("index.lut has version {version}; this rtt reads version {FORMAT_VERSION}")));
        }
        let count = read_u64(lut, 16);
        let expected = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(ENTRY))
            .and_then(|n| n.checked_add(LUT_HEADER + FANOUT + CHECKSUM));
        if expected != Some(lut.len()) {
            return Err(bad(format!("index.lut is {} bytes but its header promises {count} entries", lut.len())));
        }
        let (body, checksum) = lut.split_at(lut.len() - CHECKSUM);
        if Sha256::of(body).0 != checksum {
            return Err(bad("index.lut checksum does not match its contents"));
        }
        let mut previous = 0;
        for bucket in 0..256 {
            let running = read_u64(lut, LUT_HEADER + bucket * 8);
            if running < previous {
                return Err(bad("index.lut fan-out table is not monotonic"));
            }
            previous = running;
        }
        if previous != count {
            return Err(bad("index.lut fan-out table does not add up to its entry count"));
        }
        if pack.len() < PACK_HEADER + CHECKSUM || pack[..8] != PACK_MAGIC {
            return Err(bad("agents.pack is not an rtt pack (bad magic or shorter than its header)"));
        }
        if read_u32(pack, 8) != FORMAT_VERSION {
            return Err(bad(format!("agents.pack has version {}; this rtt reads version 1", read_u32(pack, 8))));
        }
        if read_u64(lut, 24) != pack.len() as u64 {
            return Err(bad(format!(
                "agents.pack is {} bytes but index.lut was written for {} bytes (truncated or replaced pack)",
                pack.len(),
                read_u64(lut, 24)
            )));
        }
        if pack[pack.len() - CHECKSUM..] != lut[32..64] {
            return Err(bad("agents.pack checksum differs from the one index.lut was written for"));
        }
        Ok(Self { pack, lut, count: count as usize })
    }

    /// A view over bytes that passed [`PackView::open`] before (the caller
    /// keeps them unchanged); lookups still bound-check and re-hash.
    pub(crate) fn checked(pack: &'a [u8], lut: &'a [u8], count: usize) -> Self {
        Self { pack, lut, count }
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the pack holds no objects.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `i`th entry in hash order.
    pub fn entry(&self, i: usize) -> Entry {
        let at = LUT_HEADER + FANOUT + i * ENTRY;
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&self.lut[at..at + 32]);
        Entry { hash: Sha256(hash), offset: read_u64(self.lut, at + 32), len: read_u32(self.lut, at + 40) }
    }

    /// Finds a hash through the fan-out table and a binary search.
    pub fn find(&self, hash: &Sha256) -> Option<Entry> {
        let bucket = usize::from(hash.0[0]);
        let lo = if bucket == 0 { 0 } else { read_u64(self.lut, LUT_HEADER + (bucket - 1) * 8) as usize };
        let hi = read_u64(self.lut, LUT_HEADER + bucket * 8) as usize;
        let (mut lo, mut hi) = (lo, hi.min(self.count));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let at = LUT_HEADER + FANOUT + mid * ENTRY;
            match self.lut[at..at + 32].cmp(&hash.0[..]) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.entry(mid)),
            }
        }
        None
    }

    /// The object's bytes, borrowed from the pack and re-hashed; `Ok(None)`
    /// when the pack does not hold it.
    pub fn get(&self, hash: &Sha256) -> Result<Option<&'a [u8]>, FormatError> {
        let Some(entry) = self.find(hash) else { return Ok(None) };
        let bytes = self.slice(&entry)?;
        let actual = Sha256::of(bytes);
        if actual != *hash {
            return Err(bad(format!("object {hash} in agents.pack hashes to {actual}")));
        }
        Ok(Some(bytes))
    }

    /// The bytes an entry points at, bounds-checked (not re-hashed).
    pub fn slice(&self, entry: &Entry) -> Result<&'a [u8], FormatError> {
        let end_of_objects = (self.pack.len() - CHECKSUM) as u64;
        let start = entry.offset;
        let end = start.checked_add(u64::from(entry.len)).filter(|&end| end < end_of_objects);
        match end {
            Some(end) if start >= PACK_HEADER as u64 && self.pack[end as usize] == b'\n' => {
                Ok(&self.pack[start as usize..end as usize])
            }
            _ => Err(bad(format!(
                "index.lut points {} at bytes {start}..+{} outside the objects of agents.pack",
                entry.hash, entry.len
            ))),
        }
    }

    /// Full check: the pack checksum, every entry in order and in bounds, and
    /// every object's hash. Returns every problem found.
    pub fn verify(&self) -> Vec<FormatError> {
        let mut problems = Vec::new();
        let (body, checksum) = self.pack.split_at(self.pack.len() - CHECKSUM);
        if Sha256::of(body).0 != checksum {
            problems.push(bad("agents.pack checksum does not match its contents"));
        }
        let mut previous: Option<Sha256> = None;
        for i in 0..self.count {
            let entry = self.entry(i);
            if previous.is_some_and(|p| p >= entry.hash) {
                problems.push(bad(format!("index.lut entry {i} ({}) is out of order", entry.hash)));
            }
            previous = Some(entry.hash);
            match self.slice(&entry) {
                Ok(bytes) if Sha256::of(bytes) != entry.hash => {
                    problems.push(bad(format!("object {} in agents.pack does not match its hash", entry.hash)))
                }
                Ok(_) => {}
                Err(e) => problems.push(e),
            }
        }
        problems
    }
}

/// Rebuilds the entries of a pack from its bytes alone (its objects are
/// newline-terminated), after checking the pack's own checksum.
pub fn scan(pack: &[u8]) -> Result<Vec<Entry>, FormatError> {
    if pack.len() < PACK_HEADER + CHECKSUM || pack[..8] != PACK_MAGIC || read_u32(pack, 8) != FORMAT_VERSION {
        return Err(bad("agents.pack is not an rtt pack of version 1"));
    }
    let (body, checksum) = pack.split_at(pack.len() - CHECKSUM);
    if Sha256::of(body).0 != checksum {
        return Err(bad("agents.pack checksum does not match its contents"));
    }
    let mut entries = Vec::new();
    let mut offset = PACK_HEADER;
    for object in body[PACK_HEADER..].split_inclusive(|&b| b == b'\n') {
        let bytes = object.strip_suffix(b"\n").ok_or_else(|| bad("agents.pack ends inside an object"))?;
        let len = u32::try_from(bytes.len()).map_err(|_| bad("agents.pack holds an oversized object"))?;
        entries.push(Entry { hash: Sha256::of(bytes), offset: offset as u64, len });
        offset += object.len();
    }
    entries.sort_by_key(|e| e.hash);
    entries.dedup_by_key(|e| e.hash);
    Ok(entries)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(objects: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
        let mut sorted: Vec<(Sha256, &Vec<u8>)> = objects.iter().map(|o| (Sha256::of(o), o)).collect();
        sorted.sort_by_key(|(h, _)| *h);
        sorted.dedup_by_key(|(h, _)| *h);
        let mut writer = PackWriter::new(Vec::new()).expect("writer");
        for (hash, bytes) in sorted {
            writer.add(hash, bytes).expect("add");
        }
        writer.finish().expect("finish")
    }

    fn objects() -> Vec<Vec<u8>> {
        (0..50).map(|i| format!("{{\"id\":\"a{i}@1\",\"n\":{i}}}").into_bytes()).collect()
    }

    #[test]
    fn every_single_flipped_byte_is_caught() {
        let (pack, lut) = build(&objects());
        let target = Sha256::of(&objects()[7]);
        for at in 0..lut.len() {
            let mut lut = lut.clone();
            lut[at] ^= 0x01;
            assert!(PackView::open(&pack, &lut).is_err(), "flip at lut byte {at} not caught");
        }
        for at in 0..pack.len() {
            let mut pack = pack.clone();
            pack[at] ^= 0x01;
            let caught = match PackView::open(&pack, &lut) {
                Err(_) => true,
                Ok(view) => !view.verify().is_empty(),
            };
            assert!(caught, "flip at pack byte {at} not caught by verify");
            if let Ok(view) = PackView::open(&pack, &lut) {
                // A read of the damaged object fails; it is never served.
                if let Ok(Some(bytes)) = view.get(&target) {
                    assert_eq!(Sha256::of(bytes), target);
                }
            }
        }
    }

    #[test]
    fn truncation_is_caught() {
        let (pack, lut) = build(&objects());
        for cut in [0, 1, PACK_HEADER, pack.len() / 2, pack.len() - 1] {
            assert!(PackView::open(&pack[..cut], &lut).is_err(), "pack cut at {cut}");
        }
        for cut in [0, 8, LUT_HEADER, lut.len() - 1] {
            assert!(PackView::open(&pack, &lut[..cut]).is_err(), "lut cut at {cut}");
        }
    }

    #[test]
    fn scan_rebuilds_the_lut() {
        let (pack, lut) = build(&objects());
        let entries = scan(&pack).expect("scan");
        let checksum: [u8; 32] = pack[pack.len() - CHECKSUM..].try_into().expect("32 bytes");
        assert_eq!(encode_lut(&entries, pack.len() as u64, checksum), lut);
    }

    proptest! {
        #[test]
        fn lookup_returns_exactly_what_was_added(
            objects in proptest::collection::vec("[a-z0-9 ]{0,40}", 0..60),
            probes in proptest::collection::vec("[a-z0-9 ]{0,40}", 0..20),
        ) {
            let objects: Vec<Vec<u8>> = objects.into_iter().map(|s| format!("{s:?}").into_bytes()).collect();
            let (pack, lut) = build(&objects);
            let view = PackView::open(&pack, &lut).expect("open");
            prop_assert!(view.verify().is_empty());
            for object in &objects {
                prop_assert_eq!(view.get(&Sha256::of(object)).expect("get"), Some(&object[..]));
            }
            let mut distinct = objects.clone();
            distinct.sort();
            distinct.dedup();
            prop_assert_eq!(view.len(), distinct.len());
            for probe in probes {
                let probe = format!("{probe:?}!").into_bytes();
                prop_assert_eq!(view.get(&Sha256::of(&probe)).expect("get"), None);
            }
        }
    }
}
