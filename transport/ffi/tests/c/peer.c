/* A ring peer in C: connects to the Unix socket argv[1], takes the end rtt
 * offers, and either sends argv[2] numbered messages (a producing end) or
 * echoes them back length-checked (never both here). */
#include "rtt_ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {0};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return perror("connect"), 3;
    RttRing *ring = rtt_ring_accept(fd, 2000);
    if (!ring) return fprintf(stderr, "accept: %s\n", rtt_ring_last_error()), 4;
    if (!rtt_ring_is_sender(ring)) return fprintf(stderr, "offered the receiving end\n"), 5;
    long count = atol(argv[2]);
    uint8_t message[100];
    for (long n = 0; n < count; n++) {
        size_t len = 1 + (size_t)(n % 100);
        memset(message, (int)(n & 0xff), len);
        memcpy(message, &n, len < sizeof n ? len : sizeof n);
        if (rtt_ring_send(ring, message, len, 10000) != 0) return fprintf(stderr, "send: %s\n", rtt_ring_last_error()), 6;
    }
    rtt_ring_free(ring);
    close(fd);
    return 0;
}
