/*  bench_scan.c -- the publisher's own work per announcement, without any network: the
    change-log scan with its images (store_changes, pages of 2,000 as a replay reads
    them), then the same scan with each row encoded as an Announcement. The ceiling of what
    one publisher thread can announce, whatever the transport.

    bench_scan DB       prints {"rows":N,"scan_per_second":R,"encode_per_second":R}
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "codec.h"
#include "store.h"

#define PAGE 2000

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    const char *stream_id;
    int64_t last;
    size_t bytes;
    bool encode;
    uint8_t frame[CODEC_MAX_FRAME];
} s_scan_t;

static int s_row(const store_change_t *change, void *arg)
{
    s_scan_t *self = arg;
    self->last = change->seq;
    if (self->encode) {
        int len = codec_encode_change(change, self->stream_id, self->frame, sizeof self->frame);
        self->bytes += len > 0 ? (size_t) len : 0;
    }
    return 0;
}

/*  Reads the whole change log page by page; returns rows a second, or -1. */
static double s_pass(store_t *store, s_scan_t *scan, int64_t *rows)
{
    scan->last = 0;
    *rows = 0;
    double t0 = s_now();
    for (;;) {
        int64_t n = store_changes(store, scan->last, 0, PAGE, s_row, scan);
        if (n < 0) {
            fprintf(stderr, "bench_scan: %s\n", store_error(store));
            return -1;
        }
        *rows += n;
        if (n < PAGE) {
            break;
        }
    }
    return (double) *rows / (s_now() - t0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_scan DB\n");
        return 2;
    }
    char err[512];
    store_t *store = store_new(argv[1], STORE_READONLY, err, sizeof err);
    if (!store) {
        fprintf(stderr, "bench_scan: %s\n", err);
        return 1;
    }
    static s_scan_t scan;
    scan.stream_id = store_stream_id(store);
    int64_t rows = 0;
    double plain = s_pass(store, &scan, &rows);
    scan.encode = true;
    double encoded = s_pass(store, &scan, &rows);
    store_destroy(&store);
    if (plain < 0 || encoded < 0) {
        return 1;
    }
    printf("{\"rows\":%lld,\"scan_per_second\":%.0f,\"encode_per_second\":%.0f,"
           "\"bytes_per_announcement\":%.0f}\n",
           (long long) rows, plain, encoded, rows ? (double) scan.bytes / (double) rows : 0.0);
    return 0;
}
