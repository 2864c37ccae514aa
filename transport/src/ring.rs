//! A bounded single-producer single-consumer ring of length-prefixed
//! messages over words of shared memory, written for a peer that may be
//! hostile or torn (killed mid-write): every index the reader computes is
//! taken modulo the capacity it fixed at attach time, every length is checked
//! against what was published and against the message cap, so a bad peer
//! can make a read fail ([`RingError::Corrupt`]) or return its own garbage,
//! never read outside the region.
//!
//! Layout, in 64-bit words (each cursor on its own cache line):
//!
//! | word | field |
//! | --- | --- |
//! | 0 | magic `RTTRING1` |
//! | 1 | capacity of the data area, in words (a power of two) |
//! | 2 | largest message, in bytes |
//! | 8 | tail: words published by the producer (only grows) |
//! | 9 | consumer sleeping (1 while it waits on its wake-up) |
//! | 16 | head: words consumed (only grows) |
//! | 17 | producer sleeping |
//! | 24.. | data: each message is one header word (its length in bytes) and its bytes in words, padded |
//!
//! Every access is an atomic word load or store, so a racing peer is a
//! question of values, not of memory safety. Wake-ups are the caller's (an
//! eventfd each way, [`crate::shm`]); this module only says when one is due.

use std::sync::atomic::{AtomicU64, Ordering, fence};

/// `RTTRING1`, little-endian.
pub const MAGIC: u64 = u64::from_le_bytes(*b"RTTRING1");
/// Words before the data area.
pub const HEADER_WORDS: usize = 24;
const CAPACITY: usize = 1;
const MAX_MESSAGE: usize = 2;
const TAIL: usize = 8;
const CONSUMER_SLEEPING: usize = 9;
const HEAD: usize = 16;
const PRODUCER_SLEEPING: usize = 17;

/// Why a ring cannot be used, or a message read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The region is not a ring this code laid out, or not of its stated size.
    #[error("not a ring: {0}")]
    Layout(String),
    /// The peer published something impossible (a cursor that went backwards
    /// or past the capacity, a length over the cap or past what was published).
    #[error("the peer corrupted the ring: {0}")]
    Corrupt(String),
    /// A message larger than the ring's cap.
    #[error("a message of {len} bytes is over the ring's cap of {cap} bytes")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The cap.
        cap: usize,
    },
}

/// Words a region needs for a ring of `capacity_words` data words.
pub fn region_words(capacity_words: usize) -> usize {
    HEADER_WORDS + capacity_words
}

/// Words one message of `len` bytes takes: its header and its bytes, padded.
pub fn message_words(len: usize) -> usize {
    1 + len.div_ceil(8)
}

/// Lays out an empty ring in `words` (the creator's side, before sharing).
pub fn init(words: &[AtomicU64], capacity_words: usize, max_message: usize) -> Result<(), RingError> {
    if !capacity_words.is_power_of_two() || capacity_words < 2 {
        return Err(RingError::Layout(format!("capacity {capacity_words} words is not a power of two ≥ 2")));
    }
    if words.len() < region_words(capacity_words) {
        return Err(RingError::Layout(format!("{} words cannot hold {capacity_words} data words", words.len())));
    }
    if message_words(max_message) > capacity_words {
        return Err(RingError::Layout(format!("a {max_message}-byte message cannot fit {capacity_words} words")));
    }
    for word in &words[..HEADER_WORDS] {
        word.store(0, Ordering::Relaxed);
    }
    words[CAPACITY].store(capacity_words as u64, Ordering::Relaxed);
    words[MAX_MESSAGE].store(max_message as u64, Ordering::Relaxed);
    words[0].store(MAGIC, Ordering::Release);
    Ok(())
}

/// What both ends fix once at attach time; never read from the region again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    capacity: u64,
    max_message: usize,
}

fn geometry(words: &[AtomicU64]) -> Result<Geometry, RingError> {
    if words.len() < HEADER_WORDS {
        return Err(RingError::Layout(format!("{} words is shorter than the header", words.len())));
    }
    if words[0].load(Ordering::Acquire) != MAGIC {
        return Err(RingError::Layout("no ring magic".into()));
    }
    let capacity = words[CAPACITY].load(Ordering::Relaxed);
    let fits = usize::try_from(capacity).is_ok_and(|c| c.is_power_of_two() && c >= 2 && region_words(c) <= words.len());
    if !fits {
        return Err(RingError::Layout(format!(
            "capacity {capacity} words does not fit a region of {} words",
            words.len()
        )));
    }
    let max_message = usize::try_from(words[MAX_MESSAGE].load(Ordering::Relaxed)).unwrap_or(usize::MAX);
    if message_words(max_message.min(usize::MAX - 8)) as u64 > capacity {
        return Err(RingError::Layout(format!("a {max_message}-byte message cannot fit {capacity} words")));
    }
    Ok(Geometry { capacity, max_message })
}

/// The producing end, over the words `W` holds (a slice, or a shared mapping).
pub struct Producer<W> {
    words: W,
    geometry: Geometry,
    /// Ours alone: the peer only reads the published copy.
    tail: u64,
    /// The consumer's head as last read: free space is only re-read when
    /// this stale (so conservative) view says the ring is full.
    head: u64,
}

/// The consuming end.
pub struct Consumer<W> {
    words: W,
    geometry: Geometry,
    head: u64,
    /// The head as last published: publishing is lazy (every quarter of the
    /// ring, and before the consumer sleeps), so the producer's view of free
    /// space lags, never leads.
    published: u64,
    /// The producer's tail as last read.
    tail: u64,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Published; `wake` says the consumer sleeps and must be woken.
    Done {
        /// The consumer was waiting.
        wake: bool,
    },
    /// No room now.
    Full,
}

impl<W: AsRef<[AtomicU64]>> Producer<W> {
    /// The producing end of the ring in `words`, from its published tail.
    pub fn attach(words: W) -> Result<Self, RingError> {
        let geometry = geometry(words.as_ref())?;
        let tail = words.as_ref()[TAIL].load(Ordering::Acquire);
        let head = words.as_ref()[HEAD].load(Ordering::Acquire);
        Ok(Producer { words, geometry, tail, head })
    }

    fn words(&self) -> &[AtomicU64] {
        self.words.as_ref()
    }

    /// The largest message.
    pub fn max_message(&self) -> usize {
        self.geometry.max_message
    }

    /// Writes one message without publishing it: false when there is no
    /// room. [`Producer::publish`] makes everything written visible at once
    /// (a batch costs one fence).
    pub fn write(&mut self, message: &[u8]) -> Result<bool, RingError> {
        if message.len() > self.geometry.max_message {
            return Err(RingError::TooLarge { len: message.len(), cap: self.geometry.max_message });
        }
        let need = message_words(message.len()) as u64;
        if self.geometry.capacity - self.tail.wrapping_sub(self.head) < need {
            let head = self.words()[HEAD].load(Ordering::Acquire);
            let used = self.tail.wrapping_sub(head);
            if used > self.geometry.capacity || head.wrapping_sub(self.head) > self.geometry.capacity {
                return Err(RingError::Corrupt(format!("head {head} is not behind tail {}", self.tail)));
            }
            self.head = head;
            if self.geometry.capacity - used < need {
                return Ok(false);
            }
        }
        let mask = self.geometry.capacity - 1;
        let data = &self.words()[HEADER_WORDS..];
        data[(self.tail & mask) as usize].store(message.len() as u64, Ordering::Relaxed);
        for (i, chunk) in message.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            data[((self.tail + 1 + i as u64) & mask) as usize].store(u64::from_le_bytes(word), Ordering::Relaxed);
        }
        self.tail += need;
        Ok(true)
    }

    /// Publishes what was written; true when the consumer sleeps and must be woken.
    pub fn publish(&mut self) -> bool {
        self.words()[TAIL].store(self.tail, Ordering::Release);
        // Orders the publication before reading the sleeping mark, as the
        // consumer orders its mark before re-reading the tail.
        fence(Ordering::SeqCst);
        self.words()[CONSUMER_SLEEPING].load(Ordering::Relaxed) != 0
    }

    /// Writes and publishes one message, or says the ring is full.
    pub fn push(&mut self, message: &[u8]) -> Result<Pushed, RingError> {
        if self.write(message)? { Ok(Pushed::Done { wake: self.publish() }) } else { Ok(Pushed::Full) }
    }

    /// Marks the producer asleep, and says whether the ring is still full
    /// (then sleep until woken; else there is room: do not sleep).
    pub fn sleep_if_full(&mut self, need_bytes: usize) -> bool {
        self.words()[PRODUCER_SLEEPING].store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let head = self.words()[HEAD].load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        let full = used <= self.geometry.capacity && self.geometry.capacity - used < message_words(need_bytes) as u64;
        if !full {
            self.words()[PRODUCER_SLEEPING].store(0, Ordering::Relaxed);
        }
        full
    }

    /// Clears the sleeping mark after a wake-up.
    pub fn awake(&self) {
        self.words()[PRODUCER_SLEEPING].store(0, Ordering::Relaxed);
    }
}

impl<W: AsRef<[AtomicU64]>> Consumer<W> {
    /// The consuming end of the ring in `words`, from its published head.
    pub fn attach(words: W) -> Result<Self, RingError> {
        let geometry = geometry(words.as_ref())?;
        let head = words.as_ref()[HEAD].load(Ordering::Acquire);
        Ok(Consumer { words, geometry, head, published: head, tail: head })
    }

    fn words(&self) -> &[AtomicU64] {
        self.words.as_ref()
    }

    /// The largest message.
    pub fn max_message(&self) -> usize {
        self.geometry.max_message
    }

    /// Takes the next message into `out` (replacing its contents): `Ok(None)`
    /// when the ring is empty (call [`Consumer::release`] then); `Some(wake)`
    /// says the producer sleeps and must be woken.
    pub fn pop(&mut self, out: &mut Vec<u8>) -> Result<Option<bool>, RingError> {
        if self.tail == self.head {
            self.tail = self.words()[TAIL].load(Ordering::Acquire);
            if self.tail == self.head {
                return Ok(None);
            }
        }
        let published = self.tail.wrapping_sub(self.head);
        if published > self.geometry.capacity {
            // Read the tail again next time rather than keep a lie.
            let tail = std::mem::replace(&mut self.tail, self.head);
            return Err(RingError::Corrupt(format!(
                "tail {tail} is not within {} words of head {}",
                self.geometry.capacity, self.head
            )));
        }
        let mask = self.geometry.capacity - 1;
        let data = &self.words()[HEADER_WORDS..];
        let len = data[(self.head & mask) as usize].load(Ordering::Relaxed);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.geometry.max_message {
            self.tail = self.head;
            return Err(RingError::Corrupt(format!(
                "a message of {len} bytes is over the cap of {}",
                self.geometry.max_message
            )));
        }
        let need = message_words(len) as u64;
        if need > published {
            self.tail = self.head;
            return Err(RingError::Corrupt(format!("a message of {need} words where {published} were published")));
        }
        out.clear();
        out.reserve(len);
        for i in 0..(need - 1) {
            let word = data[((self.head + 1 + i) & mask) as usize].load(Ordering::Relaxed).to_le_bytes();
            let take = (len - out.len()).min(8);
            out.extend_from_slice(&word[..take]);
        }
        self.head += need;
        let wake = self.head - self.published >= self.geometry.capacity / 4 && self.release();
        Ok(Some(wake))
    }

    /// Publishes the head (the room consumed so far); true when the
    /// producer sleeps and must be woken.
    pub fn release(&mut self) -> bool {
        if self.published == self.head {
            return false;
        }
        self.published = self.head;
        self.words()[HEAD].store(self.head, Ordering::Release);
        fence(Ordering::SeqCst);
        self.words()[PRODUCER_SLEEPING].load(Ordering::Relaxed) != 0
    }

    /// Marks the consumer asleep, and says whether the ring is still empty
    /// (then sleep until woken; else a message came: do not sleep).
    pub fn sleep_if_empty(&self) -> bool {
        self.words()[CONSUMER_SLEEPING].store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let empty = self.words()[TAIL].load(Ordering::Acquire) == self.head;
        if !empty {
            self.words()[CONSUMER_SLEEPING].store(0, Ordering::Relaxed);
        }
        empty
    }

    /// Clears the sleeping mark after a wake-up.
    pub fn awake(&self) {
        self.words()[CONSUMER_SLEEPING].store(0, Ordering::Relaxed);
    }
}

/// A ring in this process's memory (tests, the fuzz target, and one side of a
/// benchmark): the same words a shared mapping holds.
pub fn local(capacity_words: usize, max_message: usize) -> Result<Vec<AtomicU64>, RingError> {
    let words: Vec<AtomicU64> = (0..region_words(capacity_words)).map(|_| AtomicU64::new(0)).collect();
    init(&words, capacity_words, max_message)?;
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn messages_come_out_in_order_and_whole_across_the_wrap() {
        let words = local(16, 40).expect("ring");
        let mut producer = Producer::attach(&words).expect("producer");
        let mut consumer = Consumer::attach(&words).expect("consumer");
        let mut out = Vec::new();
        for round in 0..100u32 {
            let message: Vec<u8> = (0..(round % 37) as u8).collect();
            assert_eq!(producer.push(&message), Ok(Pushed::Done { wake: false }));
            assert_eq!(consumer.pop(&mut out), Ok(Some(false)));
            assert_eq!(out, message, "round {round}");
        }
        assert_eq!(consumer.pop(&mut out), Ok(None));
    }

    #[test]
    fn a_full_ring_says_so_and_a_message_over_the_cap_is_refused() {
        let words = local(8, 40).expect("ring");
        let mut producer = Producer::attach(&words).expect("producer");
        assert_eq!(producer.push(&[1; 40]), Ok(Pushed::Done { wake: false }));
        assert_eq!(producer.push(&[2; 16]), Ok(Pushed::Full), "3 words, 2 free");
        assert_eq!(producer.push(&[0; 41]), Err(RingError::TooLarge { len: 41, cap: 40 }));
        assert!(init(&words, 6, 8).is_err(), "not a power of two");
        assert!(init(&words, 8, 100).is_err(), "a message larger than the ring");
    }

    #[test]
    fn a_hostile_producer_gets_corrupt_never_a_read_outside_the_ring() {
        let words = local(16, 64).expect("ring");
        let mut consumer = Consumer::attach(&words).expect("consumer");
        let mut out = Vec::new();
        words[TAIL].store(1_000, Ordering::SeqCst);
        assert!(matches!(consumer.pop(&mut out), Err(RingError::Corrupt(_))));
        words[TAIL].store(3, Ordering::SeqCst);
        words[HEADER_WORDS].store(u64::MAX, Ordering::SeqCst);
        assert!(matches!(consumer.pop(&mut out), Err(RingError::Corrupt(_))));
        words[HEADER_WORDS].store(60, Ordering::SeqCst);
        assert!(matches!(consumer.pop(&mut out), Err(RingError::Corrupt(_))), "8 words for 60 bytes, 3 published");
        // A capacity changed after attach is never read again.
        words[CAPACITY].store(1 << 40, Ordering::SeqCst);
        words[HEADER_WORDS].store(8, Ordering::SeqCst);
        assert_eq!(consumer.pop(&mut out), Ok(Some(false)));
        assert!(Consumer::attach(&words).is_err(), "a new attach sees the lie and refuses");
    }

    #[test]
    fn wake_ups_are_due_exactly_when_the_other_end_sleeps() {
        let words = local(8, 16).expect("ring");
        let mut producer = Producer::attach(&words).expect("producer");
        let mut consumer = Consumer::attach(&words).expect("consumer");
        assert!(consumer.sleep_if_empty());
        assert_eq!(producer.push(b"x"), Ok(Pushed::Done { wake: true }));
        consumer.awake();
        assert!(!consumer.sleep_if_empty(), "a message is there");
        let mut out = Vec::new();
        assert_eq!(consumer.pop(&mut out), Ok(Some(false)));
        while producer.push(&[0; 16]) != Ok(Pushed::Full) {}
        assert!(producer.sleep_if_full(16));
        // Room goes back lazily (here a quarter of the ring at once, else at release): either way, a wake-up.
        let woke = consumer.pop(&mut out).expect("pop").expect("a message") || consumer.release();
        assert!(woke, "the producer sleeps: releasing room must wake it");
    }

    proptest! {
        /// No loss, no duplication, order kept, across wrap-around, for any
        /// interleaving of pushes and pops.
        #[test]
        fn any_interleaving_delivers_every_message_once_in_order(
            capacity_log in 2u32..7,
            ops in proptest::collection::vec((any::<bool>(), 0usize..24), 1..400),
        ) {
            let capacity = 1usize << capacity_log;
            let max = (capacity - 1) * 8;
            let words = local(capacity, max).expect("ring");
            let mut producer = Producer::attach(&words).expect("producer");
            let mut consumer = Consumer::attach(&words).expect("consumer");
            let (mut sent, mut received) = (Vec::new(), Vec::new());
            let mut out = Vec::new();
            for (n, (push, len)) in ops.into_iter().enumerate() {
                if push {
                    let message: Vec<u8> = (0..len.min(max)).map(|i| (n + i) as u8).collect();
                    if producer.push(&message).expect("push") != Pushed::Full {
                        sent.push(message);
                    }
                } else if consumer.pop(&mut out).expect("pop").is_some() {
                    received.push(out.clone());
                }
            }
            while consumer.pop(&mut out).expect("pop").is_some() {
                received.push(out.clone());
            }
            prop_assert_eq!(sent, received);
        }
    }
}
