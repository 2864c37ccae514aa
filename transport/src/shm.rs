//! The ring's memory and wake-ups between processes: a memfd, sealed so that
//! its size can never change (a peer that could shrink it would make our
//! reads fault), mapped shared; and an eventfd per direction of wake-up.
//! Passed to the peer over a Unix socket ([`crate::pass`]).

use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec, eventfd, poll};
use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, fcntl_get_seals, fstat, ftruncate, memfd_create};
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

use crate::ring::{self, RingError};

/// What can go wrong making, sharing or mapping a ring.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// A system call failed.
    #[error("{what}: {source}")]
    Os {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: rustix::io::Errno,
    },
    /// The peer's memfd cannot be trusted or is not a ring.
    #[error("refused the peer's ring: {0}")]
    Refused(String),
    /// The ring's layout.
    #[error(transparent)]
    Ring(#[from] RingError),
}

fn os(what: &'static str) -> impl FnOnce(rustix::io::Errno) -> ShmError {
    move |source| ShmError::Os { what, source }
}

/// A ring's words in a shared mapping of a sealed memfd.
#[derive(Debug)]
pub struct Region {
    ptr: NonNull<AtomicU64>,
    words: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is only ever accessed through `&[AtomicU64]`, which is
// Sync and Send; the pointer is owned by this value and unmapped on drop.
#[allow(unsafe_code)]
unsafe impl Send for Region {}
#[allow(unsafe_code)]
unsafe impl Sync for Region {}

impl Region {
    /// A new ring of `capacity_words` data words and messages up to `max_message` bytes.
    pub fn create(capacity_words: usize, max_message: usize) -> Result<Region, ShmError> {
        let fd =
            memfd_create("rtt-ring", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).map_err(os("memfd_create"))?;
        let bytes = ring::region_words(capacity_words) * 8;
        ftruncate(&fd, bytes as u64).map_err(os("ftruncate"))?;
        fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL).map_err(os("seal"))?;
        let region = Region::map(fd, bytes / 8)?;
        ring::init(region.as_ref(), capacity_words, max_message)?;
        Ok(region)
    }

    /// Maps a ring a peer made, after checking it cannot change size under
    /// us (sealed against shrinking and growing) and holds a ring.
    pub fn attach(fd: OwnedFd) -> Result<Region, ShmError> {
        let seals = fcntl_get_seals(&fd).map_err(|e| ShmError::Refused(format!("not a sealable memfd: {e}")))?;
        if !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
            return Err(ShmError::Refused("the memfd is not sealed against shrinking and growing".into()));
        }
        let size = fstat(&fd).map_err(os("fstat"))?.st_size;
        let bytes = usize::try_from(size).map_err(|_| ShmError::Refused(format!("size {size}")))?;
        if bytes % 8 != 0 || bytes / 8 < ring::HEADER_WORDS || bytes > 1 << 32 {
            return Err(ShmError::Refused(format!("a ring of {bytes} bytes")));
        }
        let region = Region::map(fd, bytes / 8)?;
        // Validates magic and geometry against the mapped size.
        ring::Consumer::attach(region.as_ref())?;
        Ok(region)
    }

    fn map(fd: OwnedFd, words: usize) -> Result<Region, ShmError> {
        // SAFETY: a fresh shared mapping of `words * 8` bytes of a memfd whose
        // size is sealed at least that large (checked or set by the callers),
        // so every byte of it stays backed; no other Rust object aliases it.
        #[allow(unsafe_code)]
        let ptr = unsafe {
            mmap(std::ptr::null_mut(), words * 8, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, &fd, 0)
        }
        .map_err(os("mmap"))?;
        let ptr = NonNull::new(ptr.cast::<AtomicU64>()).ok_or(ShmError::Refused("mmap gave null".into()))?;
        Ok(Region { ptr, words, fd })
    }

    /// The memfd, to pass to the peer.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

impl AsRef<[AtomicU64]> for Region {
    fn as_ref(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page-aligned (so aligned for AtomicU64),
        // `words * 8` bytes long and valid until drop; AtomicU64 has the size
        // and layout of u64, and the peer's concurrent writes are atomic
        // operations on the same words (or, from a hostile peer, mere values).
        #[allow(unsafe_code)]
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr(), self.words)
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping this value made, unmapped once; every borrow of
        // its words ended with the borrows of `self`.
        #[allow(unsafe_code)]
        unsafe {
            let _ = munmap(self.ptr.as_ptr().cast(), self.words * 8);
        }
    }
}

/// One direction of wake-ups: an eventfd.
#[derive(Debug)]
pub struct Wake(OwnedFd);

impl Wake {
    /// A new one.
    pub fn new() -> Result<Wake, ShmError> {
        eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).map(Wake).map_err(os("eventfd"))
    }

    /// One the peer passed.
    pub fn from_fd(fd: OwnedFd) -> Wake {
        Wake(fd)
    }

    /// The eventfd, to pass to the peer.
    pub fn fd(&self) -> &OwnedFd {
        &self.0
    }

    /// Wakes the sleeper.
    pub fn wake(&self) -> Result<(), ShmError> {
        match rustix::io::write(&self.0, &1u64.to_ne_bytes()) {
            Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(()),
            Err(e) => Err(ShmError::Os { what: "eventfd write", source: e }),
        }
    }

    /// Sleeps until woken or `timeout`; true when woken.
    pub fn wait(&self, timeout: Duration) -> Result<bool, ShmError> {
        let mut fds = [PollFd::new(&self.0, PollFlags::IN)];
        let timeout = Timespec { tv_sec: timeout.as_secs() as i64, tv_nsec: i64::from(timeout.subsec_nanos()) };
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(false),
            Err(e) => return Err(ShmError::Os { what: "poll", source: e }),
        }
        let mut count = [0u8; 8];
        match rustix::io::read(&self.0, &mut count) {
            Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(true),
            Err(e) => Err(ShmError::Os { what: "eventfd read", source: e }),
        }
    }
}

impl AsFd for Wake {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}
