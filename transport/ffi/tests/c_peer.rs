//! The C ABI from C: `tests/c/peer.c`, compiled with `cc` against this
//! crate's static library, takes the producing end of a ring this test
//! offers over a Unix socket and sends 100,000 messages of 1 to 100 bytes;
//! every one arrives whole and in order.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rtt_transport::channel::{self, Tuning};

const MESSAGES: u64 = 100_000;

/// The static library cargo built for this test (in `deps/`, named with a
/// hash; the newest when several builds left one).
fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("exe");
    let deps = exe.parent().expect("deps dir");
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(deps)
        .expect("deps")
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("librtt_ring_ffi") && name.ends_with(".a")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort();
    found.pop().map(|(_, path)| path).unwrap_or_else(|| panic!("no librtt_ring_ffi*.a in {}", deps.display()))
}

#[test]
fn a_c_peer_sends_through_the_ring_and_every_message_arrives_in_order() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = std::env::temp_dir().join(format!("rtt-ring-c-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch");
    let peer = scratch.join("peer");
    let built = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-D_DEFAULT_SOURCE", "-o"])
        .arg(&peer)
        .arg(here.join("tests/c/peer.c"))
        .arg("-I")
        .arg(here.join("include"))
        .arg(library())
        .args(["-lpthread", "-ldl", "-lm"])
        .output()
        .expect("cc runs");
    assert!(built.status.success(), "cc: {}", String::from_utf8_lossy(&built.stderr));
    let path = scratch.join("ring.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    let mut child = Command::new(&peer).arg(&path).arg(MESSAGES.to_string()).spawn().expect("the peer starts");
    let (socket, _) = listener.accept().expect("accept");
    let mut receiver = channel::offer_receiver(&socket, 1 << 12, 128, Tuning::default()).expect("offer");
    let mut out = Vec::new();
    for n in 0..MESSAGES {
        receiver.recv(&mut out, Duration::from_secs(30)).expect("recv");
        let len = 1 + (n % 100) as usize;
        assert_eq!(out.len(), len, "message {n}");
        let mut expected = vec![(n & 0xff) as u8; len];
        let prefix = n.to_ne_bytes();
        expected[..len.min(8)].copy_from_slice(&prefix[..len.min(8)]);
        assert_eq!(out, expected, "message {n}");
    }
    assert!(child.wait().expect("peer exits").success());
    let _ = std::fs::remove_dir_all(&scratch);
}
