//! Durable files. Everything rtt writes that must survive a crash goes
//! through [`write`]: whole-file atomic replacement, exclusive creation,
//! renames and fsyncs, all counted so benchmarks can report fsyncs per
//! operation. [`layout`] is SPEC §2's table of `.rtt/` paths as code, the
//! only place those names are spelled.

pub mod layout;
pub mod write;

pub use layout::{Layout, OverlayLayout, RegistryLayout, StateLayout, TrustLayout, WalLayout};
pub use write::{
    AtomicFile, Fsyncs, READ_ONLY, READ_WRITE, SECRET, arm_disk_faults, create_new, exchange, fsyncs, parent_dir,
    rename, sync_dir, sync_file, write_atomic,
};
