//! A ring between two processes: this test binary starts itself again as the
//! peer, which takes the producing end over a Unix socket (SCM_RIGHTS) and
//! sends 10^7 numbered 64-byte messages; every one arrives once, in order.
//! Then a peer that offers an unsealed memfd is refused.

use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::time::Duration;

use rtt_transport::channel::{self, Either, Tuning};

const MESSAGES: u64 = 10_000_000;
const PEER_ENV: &str = "RTT_RING_PEER";

/// The peer's side, run only in the child (the parent's run of it returns at once).
#[test]
fn peer() {
    let Ok(path) = std::env::var(PEER_ENV) else { return };
    let socket = UnixStream::connect(&path).expect("connect");
    let Either::Sender(mut sender) = channel::accept(&socket, Tuning::default()).expect("accept") else {
        panic!("offered the consuming end")
    };
    let mut message = [0u8; 64];
    for n in 0..MESSAGES {
        message[..8].copy_from_slice(&n.to_le_bytes());
        message[56..].copy_from_slice(&(!n).to_le_bytes());
        sender.send(&message, Duration::from_secs(30)).expect("send");
    }
}

#[test]
fn ten_million_messages_cross_processes_once_each_and_in_order() {
    let dir = std::env::temp_dir().join(format!("rtt-ring-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("ring.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "peer", "--nocapture", "--test-threads=1"])
        .env(PEER_ENV, &path)
        .spawn()
        .expect("the peer starts");
    let (socket, _) = listener.accept().expect("accept");
    let mut receiver = channel::offer_receiver(&socket, 1 << 14, 256, Tuning::default()).expect("offer");
    let mut out = Vec::new();
    for n in 0..MESSAGES {
        receiver.recv(&mut out, Duration::from_secs(30)).expect("recv");
        assert_eq!(out.len(), 64);
        let first = u64::from_le_bytes(out[..8].try_into().expect("8 bytes"));
        let last = u64::from_le_bytes(out[56..].try_into().expect("8 bytes"));
        assert_eq!((first, last), (n, !n), "message {n}");
    }
    assert!(child.wait().expect("peer exits").success());
    assert!(!receiver.try_recv(&mut out).expect("try"), "nothing after the last message");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_memfd_that_could_shrink_is_refused() {
    use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
    let (ours, theirs) = UnixStream::pair().expect("pair");
    // A hostile peer: a ring-sized memfd, unsealed (it could shrink it under us: SIGBUS).
    let fd = memfd_create("hostile", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).expect("memfd");
    ftruncate(&fd, 8 * 1024).expect("size");
    let wake = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).expect("eventfd");
    rtt_transport::pass::send(&theirs, [&fd, &wake, &wake], rtt_transport::pass::End::Consumer).expect("send");
    let refused = channel::accept(&ours, Tuning::default());
    assert!(matches!(refused, Err(rtt_transport::shm::ShmError::Refused(_))), "an unsealed memfd was accepted");
    // Garbage on the socket instead of descriptors is refused too.
    (&theirs).write_all(b"x").expect("write");
    assert!(channel::accept(&ours, Tuning::default()).is_err());
}
