/* {{name}}: an rtt driver (protocol 1, docs/drivers.md) in C.
 *
 * rtt_driver.h and rtt_driver.c beside this file are the SDK: framing, a
 * strict JSON reader, envelopes, fencing and durable two-phase transactions
 * (C99 and POSIX only). This file only picks the backend. rtt_dir_backend
 * keeps each host's placements in <root>/<host>/placements.json; replace it
 * with an rtt_backend of your own that talks to your system. Build with
 * ./build, check with: rtt driver test -- ./driver */
#include "rtt_driver.h"

#define NAME "{{name}}"

int main(int argc, char **argv) {
    const char *root = rtt_root_from_env(NAME, argc, argv);
    return rtt_run(NAME, root, rtt_dir_backend(root));
}
