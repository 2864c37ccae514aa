//! The registry (SPEC §2, §7): agent manifests stored once as canonical JSON
//! under their sha256, loose or packed; the index of ids; overlays applied at
//! read time into provider views; verification and garbage collection.
//!
//! Pure format logic lives in [`pack`], [`overlay`], [`index`] and
//! [`object`]; this file and [`views`] do the IO. Every byte served is
//! re-hashed against the name it was asked by: corruption is an error, never
//! data.

pub mod cas;
pub mod error;
pub mod index;
pub mod object;
pub mod overlay;
pub mod pack;
pub mod views;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rtt_canonical::Sha256;
use rtt_durable::{AtomicFile, READ_ONLY, READ_WRITE, RegistryLayout};

pub use error::{RegistryError, Result};
pub use index::Index;

use crate::cas::LooseStore;
use rtt_plan::Layer;

use crate::overlay::{Overlay, apply_layers};
use crate::pack::{FormatError, PackView, PackWriter};

/// The registry under `.rtt/registry`.
#[derive(Debug)]
pub struct Registry {
    layout: RegistryLayout,
    loose: LooseStore,
    /// The pack, if there is one; an unreadable pack is kept as its error so
    /// every read fails closed while `pack` can still repair it.
    pack: std::result::Result<Option<MappedPack>, RegistryError>,
}

/// A memory-mapped pack and lut, checked at open.
#[derive(Debug)]
struct MappedPack {
    pack: Mmap,
    lut: Mmap,
    count: usize,
}

impl MappedPack {
    fn view(&self) -> PackView<'_> {
        PackView::checked(&self.pack, &self.lut, self.count)
    }
}

/// The registry's writer lock ([`Registry::lock_writes`]); released on drop.
#[derive(Debug)]
pub struct WriteLock {
    _file: fs::File,
}

/// What `pack` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackReport {
    /// Objects in the new pack.
    pub objects: usize,
    /// Its size in bytes.
    pub bytes: u64,
    /// Loose objects removed because the pack now holds them.
    pub loose_removed: usize,
    /// Whether the lut was rebuilt from a pack whose lut did not match.
    pub repaired: bool,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Objects whose bytes were re-hashed.
    pub checked: usize,
    /// Damaged objects, packs or luts.
    pub corrupt: Vec<String>,
    /// Objects the index names that are nowhere.
    pub missing: Vec<String>,
}

/// What `gc` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Objects kept.
    pub kept: usize,
    /// Objects removed, sorted.
    pub removed: Vec<Sha256>,
}

impl Registry {
    /// Opens the registry at `root` (`.rtt/registry`). Nothing is created
    /// until something is written.
    pub fn open(root: &Path) -> Self {
        let layout = RegistryLayout::at(root);
        let loose = LooseStore::new(layout.loose());
        let pack = MappedPack::open(&layout);
        Self { layout, loose, pack }
    }

    /// Takes the registry's writer lock, `lock` in the registry directory,
    /// calling `waiting` first if another process holds it, then waiting for
    /// it. `add`, `pack` and `gc` hold it for their whole run, so that gc
    /// never sees an object before the index entry a concurrent add is about
    /// to write, and two packs never interleave. It is an OS lock (`flock`):
    /// the kernel releases it when its holder exits, even by `kill -9`, so it
    /// is never stale. Readers take it (shared) only to re-map a pack and
    /// lut that did not match, which a writer renaming the pair causes;
    /// every other write is a single atomic rename and every read is
    /// verified.
    pub fn lock_writes(&self, waiting: impl FnOnce()) -> Result<WriteLock> {
        let root = self.layout.root();
        fs::create_dir_all(root).map_err(RegistryError::io("create", root))?;
        let path = self.layout.lock();
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(RegistryError::io("open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                waiting();
                file.lock().map_err(RegistryError::io("lock", &path))?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(RegistryError::io("lock", &path)(e)),
        }
        Ok(WriteLock { _file: file })
    }

    /// The registry directory.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// The index; a missing file is the empty index, a malformed one an error.
    pub fn index(&self) -> Result<Index> {
        let path = self.layout.index();
        match fs::read(&path) {
            Ok(bytes) => Index::parse(&bytes).map_err(|detail| RegistryError::Corrupt { what: "index", path, detail }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(RegistryError::io("read", &path)(e)),
        }
    }

    /// Replaces the index atomically.
    pub fn write_index(&self, index: &Index) -> Result<()> {
        let path = self.layout.index();
        rtt_durable::write_atomic(&path, &index.to_bytes(), READ_WRITE).map_err(RegistryError::io("write", &path))
    }

    /// Stores canonical bytes as a loose object (unless the pack or a loose
    /// file already holds them intact).
    pub fn put(&self, bytes: &[u8]) -> Result<Sha256> {
        let hash = Sha256::of(bytes);
        if let Ok(Some(pack)) = &self.pack
            && pack.view().get(&hash).is_ok_and(|found| found.is_some())
        {
            return Ok(hash);
        }
        self.loose.put(bytes)
    }

    /// Adds a manifest file's text: canonicalised, stored, and returned with
    /// its id (the manifest's `id` field). The caller updates the index.
    pub fn add_manifest(&self, name: &str, text: &str) -> Result<(String, Sha256)> {
        let (value, bytes) = object::canonical_from_text(name, text)?;
        let invalid = |message: String| RegistryError::Invalid { path: name.to_owned(), line: 1, column: 1, message };
        let id = value
            .get("id")
            .and_then(|id| id.as_str())
            .ok_or_else(|| invalid("a manifest is an object with an \"id\": \"name@version\" field".into()))?;
        object::check_agent_id(id).map_err(invalid)?;
        let hash = self.put(&bytes)?;
        Ok((id.to_owned(), hash))
    }

    /// The bytes of an object: borrowed from the pack, or read from its loose
    /// file; re-hashed either way.
    pub fn get(&self, hash: &Sha256) -> Result<Cow<'_, [u8]>> {
        match &self.pack {
            Ok(Some(pack)) => {
                if let Some(bytes) = pack.view().get(hash).map_err(|e| self.pack_corrupt(e))? {
                    return Ok(Cow::Borrowed(bytes));
                }
            }
            Ok(None) => {}
            Err(e) => return Err(self.pack_error(e)),
        }
        if let Some(bytes) = self.loose.get(hash)? {
            return Ok(Cow::Owned(bytes));
        }
        // Not loose: a `pack` since this registry was opened may have moved
        // it into a new pack (objects reach the new pack before their loose
        // copies go), so a long-lived reader such as a mount looks there.
        match MappedPack::open(&self.layout)? {
            Some(fresh) => match fresh.view().get(hash).map_err(|e| self.pack_corrupt(e))? {
                Some(bytes) => Ok(Cow::Owned(bytes.to_vec())),
                None => Err(RegistryError::Missing(*hash)),
            },
            None => Err(RegistryError::Missing(*hash)),
        }
    }

    /// The bytes of a packed object, bounds-checked but not re-hashed: for a
    /// reader that verified them through [`Registry::get`] on this same
    /// `Registry` (whose map never changes) and now serves many reads of
    /// them, such as a mount reading a large view in pieces.
    pub fn packed_verified_before(&self, hash: &Sha256) -> Option<&[u8]> {
        match &self.pack {
            Ok(Some(pack)) => {
                let view = pack.view();
                view.find(hash).and_then(|entry| view.slice(&entry).ok())
            }
            _ => None,
        }
    }

    /// A loose file holding the object (written from the pack if needed),
    /// for callers that link to objects rather than read them.
    pub fn loose_file(&self, hash: &Sha256) -> Result<PathBuf> {
        let bytes = self.get(hash)?;
        self.loose.put(&bytes)?;
        Ok(self.loose.path_of(hash))
    }

    /// An object by `sha256:<hex>` or by agent id (through the index).
    pub fn resolve(&self, query: &str) -> Result<Sha256> {
        if query.starts_with("sha256:") {
            return query.parse().map_err(|e: rtt_canonical::MalformedHash| RegistryError::Unavailable(e.to_string()));
        }
        object::check_agent_id(query).map_err(RegistryError::Unavailable)?;
        self.index()?.agents.get(query).copied().ok_or_else(|| RegistryError::UnknownId(query.to_owned()))
    }

    /// A view's bytes: from the cache when the key was seen and its result is
    /// intact, else computed, stored and cached. Stores each layer's part too,
    /// so a plan's overlay hashes can be read back.
    pub fn view(&self, id: &str, base: &Sha256, layers: &[(Layer, &str, Overlay, PathBuf)]) -> Result<Sha256> {
        // The base is read (and re-hashed) before anything is written, so a
        // refused view leaves the registry as it was.
        let base_bytes = self.get(base)?;
        for (_, _, part, _) in layers {
            self.put(&part.to_bytes())?;
        }
        let provider = layers.iter().find(|l| l.0 == Layer::Provider).map(|l| &l.2);
        let env = layers.iter().find(|l| l.0 == Layer::Env).map(|l| &l.2);
        let key = views::view_key(base, provider.unwrap_or(&Overlay::default()), env);
        let cache = self.layout.view_cache(&key);
        if let Ok(text) = fs::read_to_string(&cache)
            && let Ok(result) = text.trim().parse::<Sha256>()
            && self.get(&result).is_ok()
        {
            return Ok(result);
        }
        let parts: Vec<(&Overlay, &Path)> = layers.iter().map(|(_, _, part, path)| (part, path.as_path())).collect();
        let bytes = apply_layers(id, &base_bytes, &parts)?;
        let result = self.put(&bytes)?;
        rtt_durable::write_atomic(&cache, format!("{result}\n").as_bytes(), READ_WRITE)
            .map_err(RegistryError::io("write", &cache))?;
        Ok(result)
    }

    /// Every object hash the registry holds, loose or packed, sorted and distinct.
    pub fn all_objects(&self) -> Result<Vec<Sha256>> {
        let mut all: BTreeSet<Sha256> = self.loose.list()?.into_iter().collect();
        match &self.pack {
            Ok(Some(pack)) => {
                let view = pack.view();
                all.extend((0..view.len()).map(|i| view.entry(i).hash));
            }
            Ok(None) => {}
            Err(e) => return Err(self.pack_error(e)),
        }
        Ok(all.into_iter().collect())
    }

    /// Packs every object (loose and packed) that `keep` accepts into a new
    /// `agents.pack` + `index.lut`, then removes the loose copies. The pack
    /// is renamed into place before the lut: a crash in between leaves a
    /// pack whose lut does not match, which reads refuse and the next `pack`
    /// repairs by scanning the pack.
    pub fn pack(&mut self, keep: impl Fn(&Sha256) -> bool) -> Result<PackReport> {
        let pack_path = self.layout.pack();
        let lut_path = self.layout.lut();
        // A pack whose lut does not match is still readable if its own checksum holds.
        let mut repaired = false;
        let scanned: Option<(Mmap, Vec<pack::Entry>)> = match &self.pack {
            Err(_) => {
                let map = map_file(&pack_path)?;
                let entries = pack::scan(&map).map_err(|e| RegistryError::Corrupt {
                    what: "pack",
                    path: pack_path.clone(),
                    detail: format!("{e}; its objects cannot be recovered from it"),
                })?;
                repaired = true;
                Some((map, entries))
            }
            Ok(_) => None,
        };
        let mut hashes: BTreeSet<Sha256> = self.loose.list()?.into_iter().collect();
        if let Some((_, entries)) = &scanned {
            hashes.extend(entries.iter().map(|e| e.hash));
        } else if let Ok(Some(pack)) = &self.pack {
            let view = pack.view();
            hashes.extend((0..view.len()).map(|i| view.entry(i).hash));
        }
        let file = AtomicFile::create(&pack_path, READ_ONLY).map_err(RegistryError::io("create", &pack_path))?;
        let mut writer = PackWriter::new(BufWriter::new(file)).map_err(RegistryError::io("write", &pack_path))?;
        let mut packed = Vec::new();
        for hash in hashes.iter().filter(|h| keep(h)) {
            let bytes: Cow<'_, [u8]> = match &scanned {
                Some((map, entries)) => match entries.binary_search_by_key(hash, |e| e.hash) {
                    Ok(i) => {
                        let e = entries[i];
                        Cow::Borrowed(&map[e.offset as usize..e.offset as usize + e.len as usize])
                    }
                    Err(_) => Cow::Owned(self.loose.get(hash)?.ok_or(RegistryError::Missing(*hash))?),
                },
                None => self.get(hash)?,
            };
            writer.add(*hash, &bytes).map_err(RegistryError::io("write", &pack_path))?;
            packed.push(*hash);
        }
        let (out, lut) = writer.finish().map_err(RegistryError::io("write", &pack_path))?;
        let file = out.into_inner().map_err(|e| RegistryError::io("write", &pack_path)(e.into_error()))?;
        // The pack is renamed into place before the lut (see above).
        let bytes = file.commit().map_err(RegistryError::io("write", &pack_path))?;
        rtt_durable::write_atomic(&lut_path, &lut, READ_ONLY).map_err(RegistryError::io("write", &lut_path))?;
        drop(scanned);
        self.pack = MappedPack::open(&self.layout);
        if let Err(e) = &self.pack {
            return Err(self.pack_error(e));
        }
        // Loose copies go once the pack holds them; unkept ones go too (this is how gc prunes).
        let loose: Vec<Sha256> = self.loose.list()?;
        let removable: Vec<Sha256> =
            loose.into_iter().filter(|h| packed.binary_search(h).is_ok() || !keep(h)).collect();
        self.loose.remove_all(&removable)?;
        Ok(PackReport { objects: packed.len(), bytes, loose_removed: removable.len(), repaired })
    }

    /// Re-hashes everything: loose objects, the pack and its lut, and checks
    /// that every index entry is present.
    pub fn verify(&self) -> VerifyReport {
        let mut report = VerifyReport::default();
        match self.loose.list() {
            Ok(hashes) => {
                for hash in hashes {
                    report.checked += 1;
                    if let Err(e) = self.loose.get(&hash) {
                        report.corrupt.push(e.to_string());
                    }
                }
            }
            Err(e) => report.corrupt.push(e.to_string()),
        }
        match &self.pack {
            Ok(Some(pack)) => {
                let view = pack.view();
                report.checked += view.len();
                report.corrupt.extend(view.verify().into_iter().map(|e| self.pack_corrupt(e).to_string()));
            }
            Ok(None) => {}
            Err(e) => report.corrupt.push(e.to_string()),
        }
        match self.index() {
            // With the pack unreadable, what is missing cannot be told from what is damaged.
            Ok(_) if self.pack.is_err() => {}
            Ok(index) => {
                for (id, hash) in &index.agents {
                    let packed = matches!(&self.pack, Ok(Some(p)) if p.view().find(hash).is_some());
                    if !packed && !self.loose.contains(hash) {
                        report.missing.push(format!("{id} → {hash}"));
                    }
                }
            }
            Err(e) => report.corrupt.push(e.to_string()),
        }
        report
    }

    /// Removes every object not in `live` (the index's manifests are always
    /// live), from loose files and the pack, and clears the view cache.
    pub fn gc(&mut self, live: &BTreeSet<Sha256>) -> Result<GcReport> {
        let index = self.index()?;
        let mut live = live.clone();
        live.extend(index.agents.values().copied());
        let all = self.all_objects()?;
        let removed: Vec<Sha256> = all.iter().filter(|h| !live.contains(h)).copied().collect();
        let packed_dead = match &self.pack {
            Ok(Some(pack)) => removed.iter().any(|h| pack.view().find(h).is_some()),
            _ => false,
        };
        if packed_dead {
            self.pack(|h| live.contains(h))?;
        } else {
            self.loose.remove_all(&removed)?;
        }
        let cache = self.layout.cache();
        match fs::remove_dir_all(&cache) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RegistryError::io("remove", &cache)(e)),
        }
        Ok(GcReport { kept: all.len() - removed.len(), removed })
    }

    fn pack_corrupt(&self, e: FormatError) -> RegistryError {
        RegistryError::Corrupt { what: "pack", path: self.layout.pack_dir(), detail: e.0 }
    }

    fn pack_error(&self, e: &RegistryError) -> RegistryError {
        match e {
            RegistryError::Corrupt { what, path, detail } => {
                RegistryError::Corrupt { what, path: path.clone(), detail: detail.clone() }
            }
            other => RegistryError::Unavailable(other.to_string()),
        }
    }
}

impl MappedPack {
    /// Maps and checks `agents.pack` and `index.lut`; `None` when
    /// neither exists. The pair is two files a `pack` or `gc` renames one
    /// after the other, holding the writer lock for its whole run; a pair
    /// that does not match is either damaged or being switched. So a failed
    /// mapping is redone under the writer lock taken shared (waiting for a
    /// writer that holds it): what fails then is damage. Readers take the
    /// lock only then, so they never starve a writer.
    fn open(layout: &RegistryLayout) -> Result<Option<Self>> {
        let first = match Self::open_unlocked(layout) {
            Ok(mapped) => return Ok(mapped),
            Err(e) => e,
        };
        let lock = layout.lock();
        let file = match fs::File::open(&lock) {
            Ok(file) => file,
            // No writer ever ran here, so nothing was being switched.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(first),
            Err(e) => return Err(RegistryError::io("open", &lock)(e)),
        };
        file.lock_shared().map_err(RegistryError::io("lock", &lock))?;
        Self::open_unlocked(layout)
    }

    fn open_unlocked(layout: &RegistryLayout) -> Result<Option<Self>> {
        let pack_path = layout.pack();
        let lut_path = layout.lut();
        match (pack_path.exists(), lut_path.exists()) {
            (false, false) => return Ok(None),
            (true, true) => {}
            (pack, _) => {
                let (what, path) = if pack { ("lut", lut_path) } else { ("pack", pack_path) };
                return Err(RegistryError::Corrupt { what, path, detail: "missing while its partner exists".into() });
            }
        }
        let pack = map_file(&pack_path)?;
        let lut = map_file(&lut_path)?;
        let count = PackView::open(&pack, &lut)
            .map_err(|e| RegistryError::Corrupt { what: "pack", path: layout.pack_dir(), detail: e.0 })?
            .len();
        Ok(Some(Self { pack, lut, count }))
    }
}

/// Maps a file read-only.
#[allow(unsafe_code)]
fn map_file(path: &Path) -> Result<Mmap> {
    let file = fs::File::open(path).map_err(RegistryError::io("open", path))?;
    // SAFETY: packs and luts are written to a temp file and renamed into
    // place, never modified in place (mode 0444), so the mapped inode's bytes
    // do not change while mapped; a replacing `pack` makes a new inode.
    // Every read re-checks hashes and bounds, so even a hostile in-place
    // edit yields an error, not undefined data reaching a caller.
    unsafe { Mmap::map(&file) }.map_err(RegistryError::io("map", path))
}
