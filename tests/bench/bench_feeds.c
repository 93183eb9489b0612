/*  bench_feeds.c -- the feed sinks' rewrite: a calendar of N events (default 10,000) in a
    --state file, rendered with libical and written atomically (write, fsync, rename), and an
    Atom feed of its entries (the last 100). The calendar's floor: 10,000 events in under half
    a second.

    bench_feeds DIR [N]   prints {"events":N,"calendar_ms":T,"calendar_bytes":B,
                          "atom_ms":T,"atom_bytes":B}; exit 1 if the calendar took 500 ms or
                          more (in an optimised build)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sink.h"
#include "state.h"

static double s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*  One event announcement; text in the caller's buffers. */
static void s_event(int i, uint64_t seq, Herald__V1__Announcement *a, Herald__V1__Event *e,
                    Herald__V1__Person **people, char *id, char *title, char *start, char *end)
{
    Herald__V1__Announcement a0 = HERALD__V1__ANNOUNCEMENT__INIT;
    Herald__V1__Event e0 = HERALD__V1__EVENT__INIT;
    *a = a0;
    *e = e0;
    snprintf(id, 64, "bench-%08d", i);
    snprintf(title, 128, "Conf\xc3\xa9rence internationale sur la s\xc3\xbbret\xc3\xa9 %d", i);
    snprintf(start, 16, "20%02d-%02d-%02d", 20 + i % 10, 1 + i % 12, 1 + i % 27);
    snprintf(end, 16, "20%02d-%02d-%02d", 20 + i % 10, 1 + i % 12, 2 + i % 27);
    a->stream_id = "5e5e5e5e-0000-4000-8000-000000000001";
    a->seq = seq;
    a->committed_at_ms = 1764320400000 + (int64_t) seq;
    a->change = HERALD__V1__CHANGE__CREATED;
    a->body_case = HERALD__V1__ANNOUNCEMENT__BODY_EVENT;
    a->event = e;
    e->id = id;
    e->kind = "conference";
    e->title = title;
    e->start_date = start;
    e->end_date = end;
    e->city = "Lyon";
    e->country = "FR";
    e->summary = "Experts from member countries share their experience and best practice with "
                 "an audience of law enforcement officials.";
    e->url = "https://www.interpol.int/News-and-Events/Events/2026/bench";
    e->status = HERALD__V1__EVENT_STATUS__EVENT_STATUS_SCHEDULED;
    e->cancel_reason = "";
    e->people = people;
    e->n_people = 1;
    e->version = 1;
}

/*  Fills a sink of type name with n events in one batch, then times a rewrite after a batch
    of one change (the best of five). Returns the ms, or -1; the file's size in *bytes. */
static double s_run(const char *dir, const char *name, const char *file, int n, long *bytes)
{
    char state_path[1024], out[1024], err[512];
    snprintf(state_path, sizeof state_path, "%s/%s.state", dir, name);
    snprintf(out, sizeof out, "%s/%s", dir, file);
    unlink(state_path);
    state_t *st = state_new(state_path, err, sizeof err);
    sink_options_t o = {.state = st};
    o.feed.out = out;
    sink_t *sink = st ? sink_new(name, &o, err, sizeof err) : NULL;
    if (!sink) {
        fprintf(stderr, "bench_feeds: %s\n", err);
        state_destroy(&st);
        return -1;
    }
    Herald__V1__Person person = HERALD__V1__PERSON__INIT;
    person.name = "J\xc3\xbcrgen Stock";
    person.role = "Secretary General";
    Herald__V1__Person *people[] = {&person};
    Herald__V1__Announcement a;
    Herald__V1__Event e;
    char id[64], title[128], start[16], end[16];
    const char *stream = "5e5e5e5e-0000-4000-8000-000000000001";
    double best = -1;
    uint64_t seq = 0;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        s_event(i, ++seq, &a, &e, people, id, title, start, end);
        rc = sink->apply(sink->self, &a, "");
    }
    rc = rc == 0 ? sink->flush(sink->self, stream, (int64_t) seq) : rc;
    int64_t now = 1000000000, next = 0;
    for (int round = 0; rc == 0 && round < 5; round++) {
        s_event(round, ++seq, &a, &e, people, id, title, start, end);
        e.version = 2 + round;
        rc = sink->apply(sink->self, &a, "") || sink->flush(sink->self, stream, (int64_t) seq);
        now += 60000;
        double t0 = s_now_ms();
        rc = rc || sink->tick(sink->self, now, &next);
        double ms = s_now_ms() - t0;
        best = best < 0 || ms < best ? ms : best;
    }
    if (rc != 0) {
        fprintf(stderr, "bench_feeds: %s\n", sink->error(sink->self));
        best = -1;
    }
    sink_destroy(&sink);
    state_destroy(&st);
    struct stat sb;
    *bytes = stat(out, &sb) == 0 ? (long) sb.st_size : -1;
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_feeds DIR [N]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 10000;
    long cal_bytes = 0, atom_bytes = 0;
    double cal = s_run(argv[1], "calendar", "bench.ics", n, &cal_bytes);
    double atom = s_run(argv[1], "atom", "bench.atom", n, &atom_bytes);
    if (cal < 0 || atom < 0) {
        return 1;
    }
    printf("{\"events\":%d,\"calendar_ms\":%.1f,\"calendar_bytes\":%ld,\"atom_ms\":%.1f,"
           "\"atom_bytes\":%ld}\n",
           n, cal, cal_bytes, atom, atom_bytes);
    return n >= 10000 && cal >= 500 ? 1 : 0;
}
