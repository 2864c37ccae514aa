//! A C ABI over [`rtt_transport`]'s ring (`include/rtt_ring.h`), so that
//! drivers and agents in any language can take the end of a ring rtt offers
//! them and use it: accept, send, receive, free. Errors are kept per thread
//! for `rtt_ring_last_error`.
//!
//! Exported symbols and raw pointers are what a C ABI is, so unsafe code is
//! allowed in this crate alone; every block says why it is sound.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_int};
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use rtt_transport::channel::{self, Either, Receiver, Sender, Tuning};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn fail(message: impl std::fmt::Display) -> c_int {
    let text = CString::new(message.to_string().replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
    -1
}

/// One end of a ring, and a message received but not yet taken.
pub struct RttRing {
    end: Either,
    pending: Option<Vec<u8>>,
}

/// Takes the end of a ring offered on `socket_fd` (which stays open).
///
/// # Safety
/// `socket_fd` is an open socket the caller keeps open during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rtt_ring_accept(socket_fd: c_int, spin: u32) -> *mut RttRing {
    // SAFETY: the caller passes an open socket it owns and keeps open for the
    // call; it is only borrowed (cloned below, never closed here).
    let fd = unsafe { BorrowedFd::borrow_raw(socket_fd) };
    let socket = match fd.try_clone_to_owned() {
        Ok(owned) => UnixStream::from(owned),
        Err(e) => {
            fail(format!("socket {socket_fd}: {e}"));
            return std::ptr::null_mut();
        }
    };
    match channel::accept(&socket, Tuning { spin }) {
        Ok(end) => Box::into_raw(Box::new(RttRing { end, pending: None })),
        Err(e) => {
            fail(e);
            std::ptr::null_mut()
        }
    }
}

fn ring<'a>(ring: *mut RttRing) -> Option<&'a mut RttRing> {
    // SAFETY: a pointer rtt_ring_accept returned and rtt_ring_free has not
    // freed, used by one thread at a time (the header's contract).
    unsafe { ring.as_mut() }
}

/// 1 when this end sends.
///
/// # Safety
/// `ring` is null or from `rtt_ring_accept`, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rtt_ring_is_sender(ring: *const RttRing) -> c_int {
    // SAFETY: as in `ring`.
    let ring = unsafe { ring.as_ref() };
    c_int::from(matches!(ring.map(|r| &r.end), Some(Either::Sender(_))))
}

fn sender(ring: &mut RttRing) -> Option<&mut Sender> {
    match &mut ring.end {
        Either::Sender(sender) => Some(sender),
        Either::Receiver(_) => None,
    }
}

fn receiver(ring: &mut RttRing) -> Option<&mut Receiver> {
    match &mut ring.end {
        Either::Receiver(receiver) => Some(receiver),
        Either::Sender(_) => None,
    }
}

/// Sends one message.
///
/// # Safety
/// `ring` is null or from `rtt_ring_accept`, not yet freed, used by one
/// thread; `data` points at `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rtt_ring_send(ring: *mut RttRing, data: *const u8, len: usize, timeout_ms: u32) -> c_int {
    let Some(ring) = self::ring(ring) else { return fail("a null ring") };
    if data.is_null() && len > 0 {
        return fail("null data");
    }
    // SAFETY: the caller's buffer of `len` bytes, read only during the call.
    let message = if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(data, len) } };
    let Some(sender) = sender(ring) else { return fail("this end receives") };
    match sender.send(message, Duration::from_millis(u64::from(timeout_ms))) {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

/// Receives one message.
///
/// # Safety
/// `ring` as for `rtt_ring_send`; `out` points at `cap` writable bytes and
/// `len` at a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rtt_ring_recv(
    ring: *mut RttRing,
    out: *mut u8,
    cap: usize,
    len: *mut usize,
    timeout_ms: u32,
) -> c_int {
    let Some(ring) = self::ring(ring) else { return fail("a null ring") };
    if len.is_null() || (out.is_null() && cap > 0) {
        return fail("null out or len");
    }
    let message = match ring.pending.take() {
        Some(message) => message,
        None => {
            let Some(receiver) = receiver(ring) else { return fail("this end sends") };
            let mut message = Vec::new();
            if let Err(e) = receiver.recv(&mut message, Duration::from_millis(u64::from(timeout_ms))) {
                return fail(e);
            }
            message
        }
    };
    // SAFETY: `len` points at a writable size_t (checked non-null above).
    unsafe {
        *len = message.len();
    }
    if message.len() > cap {
        ring.pending = Some(message);
        return 1;
    }
    if !message.is_empty() {
        // SAFETY: `out` has room for `cap` ≥ message.len() bytes (the caller's contract), disjoint from ours.
        unsafe {
            std::ptr::copy_nonoverlapping(message.as_ptr(), out, message.len());
        }
    }
    0
}

/// The last failure of this thread.
#[unsafe(no_mangle)]
pub extern "C" fn rtt_ring_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Frees an end.
///
/// # Safety
/// `ring` is null or from `rtt_ring_accept`, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rtt_ring_free(ring: *mut RttRing) {
    if !ring.is_null() {
        // SAFETY: a pointer rtt_ring_accept returned, freed once.
        drop(unsafe { Box::from_raw(ring) });
    }
}
