/* rtt_ring.h: the rtt shared-memory ring from C, C++ or anything with a C FFI.
 *
 * A ring is offered by rtt (or any rtt-transport user) over a connected Unix
 * socket: its memfd (sealed against resizing) and two eventfds arrive with
 * SCM_RIGHTS, with the end this side takes. Messages are byte strings up to
 * the ring's cap; the reader checks every length and cursor, so a hostile
 * peer can make a call fail, never make it read out of bounds.
 *
 * Link with librtt_ring_ffi.a and -lpthread -ldl -lm. Not thread-safe: one
 * thread per end. */
#ifndef RTT_RING_H
#define RTT_RING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct RttRing RttRing;

/* Takes the end of a ring offered on `socket_fd` (not closed). NULL on
 * failure; rtt_ring_last_error() says why. `spin`: polls before sleeping. */
RttRing *rtt_ring_accept(int socket_fd, uint32_t spin);

/* 1 when this end sends, 0 when it receives. */
int rtt_ring_is_sender(const RttRing *ring);

/* Sends one message, waiting up to timeout_ms for room. 0, or -1. */
int rtt_ring_send(RttRing *ring, const uint8_t *data, size_t len, uint32_t timeout_ms);

/* Receives one message into out[0..cap), waiting up to timeout_ms; *len is
 * its length. 0; 1 when cap is too small (the message stays, *len says how
 * much room it needs); -1 on failure. */
int rtt_ring_recv(RttRing *ring, uint8_t *out, size_t cap, size_t *len, uint32_t timeout_ms);

/* The last failure of this thread, or "" (owned by the library). */
const char *rtt_ring_last_error(void);

void rtt_ring_free(RttRing *ring);

#ifdef __cplusplus
}
#endif

#endif
