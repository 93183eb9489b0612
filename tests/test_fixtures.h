/*  test_fixtures.h -- what the unit test programs share: scratch files under
    $HERALD_TEST_TMP (or /tmp), removed with their SQLite companions, the stream id of their
    records, and a ROUTER on a free loopback port for a test that plays a peer. Header-only
    (static functions): each program includes it once.
*/
#ifndef HERALD_TEST_FIXTURES_H
#define HERALD_TEST_FIXTURES_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zmq.h>

#define FIXTURE_STREAM "3f2b8c1e-9a4d-4e6f-8b1a-0c2d3e4f5a6b" /* the records' stream_id */

/*  Removes path and what may stand beside it: SQLite's -wal and -shm, a rotated log's .1. */
static inline void fixture_remove(const char *path)
{
    static const char *const suffixes[] = {"-wal", "-shm", ".1"};
    char extra[1100];
    unlink(path);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(extra, sizeof extra, "%s%s", path, suffixes[i]);
        unlink(extra);
    }
}

/*  Writes to out (len bytes) a scratch file name unique per program, process and name:
    $HERALD_TEST_TMP/PROGRAM_PID_NAME; removes what an earlier run left there. */
static inline void fixture_path(char *out, size_t len, const char *program, const char *name)
{
    const char *tmp = getenv("HERALD_TEST_TMP");
    snprintf(out, len, "%s/%s_%ld_%s", tmp && *tmp ? tmp : "/tmp", program, (long) getpid(), name);
    fixture_remove(out);
}

/*  A ROUTER of ctx bound to a free port of 127.0.0.1, its endpoint ("tcp://127.0.0.1:PORT")
    written to endpoint (cap bytes). NULL when it cannot be made or bound. */
static inline void *fixture_router(void *ctx, char *endpoint, size_t cap)
{
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    size_t size = cap;
    if (!router || zmq_bind(router, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &size) != 0) {
        if (router) {
            zmq_close(router);
        }
        return NULL;
    }
    return router;
}

#endif
