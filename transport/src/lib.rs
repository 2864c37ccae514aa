//! Transports between rtt and the processes it drives (issue 18): a bounded
//! single-producer single-consumer ring of length-prefixed messages in
//! shared memory, for hot paths (telemetry samples, batched calls) beside
//! the Unix-socket control channel.
//!
//! - [`ring`]: the ring over words of memory (pure; written for a hostile or
//!   torn peer: it can make a read fail, never read out of bounds).
//! - [`shm`]: the memory (a memfd sealed against resizing, mapped shared) and
//!   wake-ups (an eventfd each way).
//! - [`pass`]: handing a ring to a peer over a Unix socket (SCM_RIGHTS).
//! - [`channel`]: the two ends, blocking with a deadline (spin, then sleep).
//! - [`measure`]: round trips and throughput of pipe, socket and ring on
//!   this machine (`rtt tune`, the benchmark).
//! - [`machine`]: the facts of this machine a tuning is keyed by.
//! - [`tune`]: `rtt tune`'s grid, measurements and choice.
//!
//! Why a ring of our own: the well-kept crates either keep their ring in one
//! process's heap (`ringbuf`, `crossbeam`), or trust their peer with the
//! layout (`ipc-channel`, `shared_memory`); a driver or agent process is not
//! trusted here, so the reader must validate every cursor and length it
//! reads from shared memory. The primitives are rustix's (memfd, seals,
//! mmap, eventfd, SCM_RIGHTS).

pub mod channel;
pub mod machine;
pub mod measure;
pub mod pass;
pub mod ring;
pub mod shm;
pub mod tune;
