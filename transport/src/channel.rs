//! The two ends of a ring between processes, blocking with a deadline: each
//! spins a little (a wake-up through the kernel costs microseconds the spin
//! does not), then sleeps on its eventfd until the other end wakes it.

use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pass::{self, End};
use crate::ring::{Consumer, Producer, Pushed, RingError};
use crate::shm::{Region, ShmError, Wake};

/// Tuning of an end: how long to spin before sleeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Polls of the ring before sleeping (0: sleep at once).
    pub spin: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { spin: 2_000 }
    }
}

/// Why a send or receive did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// Not within the deadline.
    #[error("the ring stayed {0} past the deadline")]
    Timeout(&'static str),
    /// The ring or its descriptors.
    #[error(transparent)]
    Shm(#[from] ShmError),
}

impl From<RingError> for ChannelError {
    fn from(e: RingError) -> Self {
        ChannelError::Shm(ShmError::Ring(e))
    }
}

/// A region shared by both ends held in this process.
#[derive(Clone)]
struct Shared(Arc<Region>);

impl AsRef<[std::sync::atomic::AtomicU64]> for Shared {
    fn as_ref(&self) -> &[std::sync::atomic::AtomicU64] {
        self.0.as_ref().as_ref()
    }
}

/// The producing end.
pub struct Sender {
    producer: Producer<Shared>,
    /// Wakes the consumer.
    peer: Arc<Wake>,
    /// Where this end sleeps.
    own: Arc<Wake>,
    tuning: Tuning,
}

/// The consuming end.
pub struct Receiver {
    consumer: Consumer<Shared>,
    peer: Arc<Wake>,
    own: Arc<Wake>,
    tuning: Tuning,
}

/// Everything of one ring, before its ends part.
struct Parts {
    region: Arc<Region>,
    consumer_wake: Arc<Wake>,
    producer_wake: Arc<Wake>,
}

impl Parts {
    fn create(capacity_words: usize, max_message: usize) -> Result<Parts, ShmError> {
        Ok(Parts {
            region: Arc::new(Region::create(capacity_words, max_message)?),
            consumer_wake: Arc::new(Wake::new()?),
            producer_wake: Arc::new(Wake::new()?),
        })
    }

    fn sender(&self, tuning: Tuning) -> Result<Sender, ShmError> {
        Ok(Sender {
            producer: Producer::attach(Shared(Arc::clone(&self.region)))?,
            peer: Arc::clone(&self.consumer_wake),
            own: Arc::clone(&self.producer_wake),
            tuning,
        })
    }

    fn receiver(&self, tuning: Tuning) -> Result<Receiver, ShmError> {
        Ok(Receiver {
            consumer: Consumer::attach(Shared(Arc::clone(&self.region)))?,
            peer: Arc::clone(&self.producer_wake),
            own: Arc::clone(&self.consumer_wake),
            tuning,
        })
    }

    fn send_to(&self, socket: &UnixStream, peer_takes: End) -> Result<(), ShmError> {
        pass::send(socket, [self.region.fd(), self.consumer_wake.fd(), self.producer_wake.fd()], peer_takes)
    }
}

/// Both ends in this process (tests, benchmarks of the ring alone).
pub fn pair(capacity_words: usize, max_message: usize, tuning: Tuning) -> Result<(Sender, Receiver), ShmError> {
    let parts = Parts::create(capacity_words, max_message)?;
    Ok((parts.sender(tuning)?, parts.receiver(tuning)?))
}

/// Makes a ring, hands the consuming end to the peer on `socket`, keeps the producing one.
pub fn offer_sender(
    socket: &UnixStream,
    capacity_words: usize,
    max_message: usize,
    tuning: Tuning,
) -> Result<Sender, ShmError> {
    let parts = Parts::create(capacity_words, max_message)?;
    parts.send_to(socket, End::Consumer)?;
    parts.sender(tuning)
}

/// Makes a ring, hands the producing end to the peer on `socket`, keeps the consuming one.
pub fn offer_receiver(
    socket: &UnixStream,
    capacity_words: usize,
    max_message: usize,
    tuning: Tuning,
) -> Result<Receiver, ShmError> {
    let parts = Parts::create(capacity_words, max_message)?;
    parts.send_to(socket, End::Producer)?;
    parts.receiver(tuning)
}

/// Takes the end of a ring the peer offered on `socket`, checking the memfd first.
pub fn accept(socket: &UnixStream, tuning: Tuning) -> Result<Either, ShmError> {
    let ([memfd, consumer_wake, producer_wake], end) = pass::receive(socket)?;
    let parts = Parts {
        region: Arc::new(Region::attach(memfd)?),
        consumer_wake: Arc::new(Wake::from_fd(consumer_wake)),
        producer_wake: Arc::new(Wake::from_fd(producer_wake)),
    };
    Ok(match end {
        End::Producer => Either::Sender(parts.sender(tuning)?),
        End::Consumer => Either::Receiver(parts.receiver(tuning)?),
    })
}

/// The end [`accept`] took.
pub enum Either {
    /// The producing end.
    Sender(Sender),
    /// The consuming end.
    Receiver(Receiver),
}

/// The waiting of one send: spins first, then sleeps, until a deadline
/// taken when waiting starts (most sends never wait, so never read the clock).
struct Wait {
    spins: u32,
    deadline: Option<Instant>,
    timeout: Duration,
}

impl Wait {
    fn new(timeout: Duration) -> Wait {
        Wait { spins: 0, deadline: None, timeout }
    }
}

impl Sender {
    /// Sends one message, waiting for room until `timeout`.
    pub fn send(&mut self, message: &[u8], timeout: Duration) -> Result<(), ChannelError> {
        let mut wait = Wait::new(timeout);
        loop {
            match self.producer.push(message)? {
                Pushed::Done { wake } => {
                    if wake {
                        self.peer.wake()?;
                    }
                    return Ok(());
                }
                Pushed::Full => self.wait_for_room(&mut wait, message.len())?,
            }
        }
    }

    /// Sends messages as one batch: each is written as room allows and all
    /// written so far are published together when the ring fills or the
    /// batch ends (one fence and at most one wake-up per publication).
    pub fn send_batch<'m>(
        &mut self,
        messages: impl IntoIterator<Item = &'m [u8]>,
        timeout: Duration,
    ) -> Result<(), ChannelError> {
        let mut wait = Wait::new(timeout);
        for message in messages {
            // Each message gets its spins; the deadline is the batch's.
            wait.spins = 0;
            while !self.producer.write(message)? {
                if self.producer.publish() {
                    self.peer.wake()?;
                }
                self.wait_for_room(&mut wait, message.len())?;
            }
        }
        if self.producer.publish() {
            self.peer.wake()?;
        }
        Ok(())
    }

    /// One step of waiting for room for a `len`-byte message.
    fn wait_for_room(&mut self, wait: &mut Wait, len: usize) -> Result<(), ChannelError> {
        if wait.spins < self.tuning.spin {
            wait.spins += 1;
            std::hint::spin_loop();
            return Ok(());
        }
        let deadline = *wait.deadline.get_or_insert_with(|| Instant::now() + wait.timeout);
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ChannelError::Timeout("full"));
        }
        if self.producer.sleep_if_full(len) {
            self.own.wait(left)?;
            self.producer.awake();
        }
        Ok(())
    }

    /// The largest message.
    pub fn max_message(&self) -> usize {
        self.producer.max_message()
    }
}

impl Receiver {
    /// Receives one message into `out`, waiting until `timeout`.
    pub fn recv(&mut self, out: &mut Vec<u8>, timeout: Duration) -> Result<(), ChannelError> {
        // The clock is read only once waiting starts: most receives find a message.
        let mut deadline = None;
        let mut spins = 0;
        loop {
            if let Some(wake) = self.consumer.pop(out)? {
                if wake {
                    self.peer.wake()?;
                }
                return Ok(());
            }
            // Empty: hand the room back before waiting, or a full producer waits too.
            if self.consumer.release() {
                self.peer.wake()?;
            }
            if spins < self.tuning.spin {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + timeout);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ChannelError::Timeout("empty"));
            }
            if self.consumer.sleep_if_empty() {
                self.own.wait(left)?;
                self.consumer.awake();
            }
        }
    }

    /// Takes a message if one is there, without waiting.
    pub fn try_recv(&mut self, out: &mut Vec<u8>) -> Result<bool, ChannelError> {
        match self.consumer.pop(out)? {
            Some(wake) => {
                if wake {
                    self.peer.wake()?;
                }
                Ok(true)
            }
            None => {
                if self.consumer.release() {
                    self.peer.wake()?;
                }
                Ok(false)
            }
        }
    }
}
