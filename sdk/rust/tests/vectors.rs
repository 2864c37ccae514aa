//! The shared protocol-1 vectors (`sdk/vectors`, README there) against this
//! SDK's engine over a `DirBackend` in a fresh directory.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use rtt_driver::framing::MAX_LINE_BYTES;
use rtt_driver::{DirBackend, Driver, serve};

#[path = "../../vectors/runner.rs"]
mod runner;

fn vectors_dir() -> PathBuf {
    std::env::var_os("RTT_VECTORS")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors"), PathBuf::from)
}

#[test]
fn every_shared_vector_is_answered_as_written() {
    for vector in runner::load(&vectors_dir(), MAX_LINE_BYTES) {
        let root = tempfile::tempdir().expect("tempdir");
        for (index, segment) in vector.segments.iter().enumerate() {
            let mut driver = Driver::open("vectors", root.path(), DirBackend::new(root.path())).expect("opens");
            let mut output = Vec::new();
            let outcome = serve::serve(&mut driver, &mut Cursor::new(&segment.input), &mut output);
            assert_eq!(
                outcome.is_err(),
                segment.oversized,
                "{}: segment {index} ended with {outcome:?}",
                vector.file.display()
            );
            if let Err(why) = runner::judge(&vector.file, index, segment, &output) {
                panic!("{why}");
            }
        }
    }
}
