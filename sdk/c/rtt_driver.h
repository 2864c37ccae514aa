/* rtt_driver.h: write an rtt driver in C or C++ (protocol 1, docs/drivers.md).
 *
 * A driver carries rtt's plans to the systems that run agents. It speaks
 * protocol 1 over stdin and stdout. rtt_driver.c holds the whole protocol --
 * line framing with the 1 MiB cap, a strict JSON reader and writer, the
 * envelopes, fencing by epoch, granted hosts and capabilities, durable
 * two-phase transactions -- so a driver only says how to stage, commit,
 * abort and read placements on its own system (an rtt_backend, like
 * rtt_dir_backend):
 *
 *     int main(int argc, char **argv) {
 *         const char *root = rtt_root_from_env("my-driver", argc, argv);
 *         return rtt_run("my-driver", root, rtt_dir_backend(root));
 *     }
 *
 * The same engine exists in every SDK; sdk/vectors holds the exchanges all
 * of them answer alike. C99 and POSIX; no other library. */
#ifndef RTT_DRIVER_H
#define RTT_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RTT_PROTOCOL 1
#define RTT_MAX_LINE (1u << 20)
#define RTT_PLACEMENTS_WRITE "placements.write"

/* One placement row on a host. */
typedef struct rtt_placement {
    char *agent;
    uint32_t numa;
    uint32_t replicas;
} rtt_placement;

/* A host's full desired placements (rows sorted by agent, numa, replicas). */
typedef struct rtt_host {
    char *name;
    rtt_placement *rows;
    size_t count;
} rtt_host;

/* What a driver does on its own system. Every function may be called again
 * for the same transaction after a crash, so each must be idempotent. Each
 * returns 0, or -1 with *error set to a malloc'd message. */
typedef struct rtt_backend {
    void *state;
    /* Stages durably, applies nothing. A vote of no sets *reason (malloc'd) and returns 0. */
    int (*stage)(void *state, const char *txn, const char *plan, const rtt_host *hosts, size_t count, char **reason,
                 char **error);
    /* Applies what txn staged on hosts. */
    int (*commit)(void *state, const char *txn, char *const *hosts, size_t count, char **error);
    /* Drops what txn staged on hosts (some may have nothing staged). */
    int (*abort)(void *state, const char *txn, char *const *hosts, size_t count, char **error);
    /* The placements in force on host, any order: *rows is malloc'd, each agent too. */
    int (*read)(void *state, const char *host, rtt_placement **rows, size_t *count, char **error);
    /* Nonzero when the driver can work. */
    int (*healthy)(void *state);
} rtt_backend;

/* Placements as files, in the layout of rtt's built-in dir driver:
 * <root>/<host>/placements.json holds {"plan", "placements"}; a stage writes
 * placements.json.<txn> beside it and a commit renames it into place. */
rtt_backend rtt_dir_backend(const char *root);

/* RTT_DRIVER_ROOT (set by rtt apply and rtt driver test), else --root DIR,
 * else .rtt/drivers/NAME. The string lives as long as the process. */
const char *rtt_root_from_env(const char *name, int argc, char **argv);

typedef struct rtt_driver rtt_driver;

/* Opens the journal under root (created if missing) and reads the highest
 * epoch seen; NULL with *error (malloc'd) when it cannot. */
rtt_driver *rtt_driver_open(const char *name, const char *root, rtt_backend backend, char **error);

/* Serves request lines from in until Close or the end of input: 0, or 1
 * when the input broke the framing (a line over the cap, not UTF-8, cut
 * off), with the reason in *error (malloc'd). */
int rtt_driver_serve(rtt_driver *driver, FILE *in, FILE *out, char **error);

void rtt_driver_free(rtt_driver *driver);

/* Opens, serves stdin and stdout, and returns the exit code. Logs go to stderr. */
int rtt_run(const char *name, const char *root, rtt_backend backend);

#ifdef __cplusplus
}
#endif

#endif
