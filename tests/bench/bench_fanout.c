/*  bench_fanout.c -- the subscribers' side of the fan-out benchmark: N subscribers, each a
    CURVE client with its own key, in one process; per commit the delay to its arrival at the
    last subscriber, the connect storm, lost, duplicated and leaked deliveries, and its own CPU
    time.

    bench_fanout keypair
        prints "PUBLIC SECRET" (Z85) of a new CURVE key pair: the publisher's, for the driver.
    bench_fanout run|run-zmtp ENDPOINT SERVER_PUBLIC CLIENTS_DIR N [FROM [MAX_SECONDS
                 [GRACE_SECONDS]]]
        run: libzmq SUB sockets; run-zmtp: the light client of zmtp_curve.c (ENDPOINT
        tcp://HOST:PORT), one read and one decryption a delivery. Either makes N client key pairs,
   writes each public key to CLIENTS_DIR/agency-I.pub for I from FROM (default 0) (Z85 and a
   newline: the publisher's --clients format) and prints "keys". It then reads its orders on stdin,
   one a line: connect          connect the N sockets (the publisher now runs); "connected" is
                           printed when every socket has received its first message (the storm)
          end FIRST LAST   the commits were seq FIRST..LAST: once every socket has LAST, or
                           GRACE_SECONDS (default 10) later, print one JSON line of results
        and stops after MAX_SECONDS (default 600) whatever happens. Beside the totals, the
        JSON line has "per_commit": [sockets reached, delay to the last of them in ms, sockets
        meant to receive it] for each seq FIRST..LAST (the delay null when none), so that the
        lines of several processes, each with its share of the sockets, can be merged: the
        open-files limit (two descriptors a libzmq socket) may hold fewer than one run needs.
    Environment: BENCH_FANOUT_LIMIT_EVERY=K limits every K-th socket to S_PREFIX (below; the
    last commit must then be one of S_PREFIX, so that every socket can finish);
    BENCH_FANOUT_SPIN=1 polls without ever sleeping.

    tests/bench/bench_fanout.py drives it: it makes the store, starts herald-pub and this
    program on different cores (taskset), commits, and adds the publisher's memory and the
    machine's state to the JSON line.

    How it reads libzmq's sockets: libzmq 4.3's zmq_poller is a draft API (not exported by the
   distributions' builds), and zmq_poll asks every item's ZMQ_EVENTS on every call, which at N =
   10,000 is the harness's whole time. So each socket's ZMQ_FD goes into one epoll set
   (level-triggered) and a ready socket is drained with ZMQ_DONTWAIT until EAGAIN; the receive that
   finds nothing also runs the socket's pending commands, which reads its ZMQ_FD back to quiet. Two
   zmq_msg_t are reused for every message and the per-commit figures live in a fixed ring indexed by
   seq, so the loop allocates nothing and the memory is bounded (RING commits, N sockets).

    A message is decoded only as far as needed: the topic frame ("hb" is a heartbeat, counted
    for the storm only) and, in the Announcement (docs/protocol.md, proto/herald/v1), the
    varints seq (field 2) and committed_at_ms (field 3), which come before the body. The
    arrival time is CLOCK_REALTIME, as committed_at_ms is; both are on this machine.
*/
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "zmtp_curve.h"

#define RING 65536      /* commits remembered: 655 s at 100 a second */
#define MAX_EVENTS 1024 /* epoll events taken per wake */
#define STDIN_TAG UINT32_MAX
#define S_PREFIX "event.conference." /* all that a limited subscriber receives ("hb" aside) */

/*  What a subscriber is meant to receive: everything, or S_PREFIX only, limited by the
    publisher's grant ("grant event.conference." in its --clients file) or by its own
    subscription. BENCH_FANOUT_LIMIT_EVERY=K limits every K-th socket (K - 1, 2K - 1, ...
    counted across the harness processes), by grant and by subscription in turn. */
enum { S_ALL, S_GRANTED, S_SUBSCRIBED };

typedef struct {
    void *sock;       /* the SUB socket (run), or NULL */
    zmtp_curve_t *zc; /* the light client's connection (run-zmtp), or NULL */
    uint64_t last;    /* highest seq received, 0 before the first */
    uint64_t dups;    /* announcements at or below last */
    uint64_t gaps;    /* seqs jumped over */
    uint64_t got;     /* announcements received, duplicates excluded */
    bool seen;        /* has received anything (a heartbeat counts) */
    int limit;        /* S_ALL, S_GRANTED or S_SUBSCRIBED */
} s_sub_t;

typedef struct {
    uint64_t seq;         /* the commit in this slot, 0 for none */
    uint32_t count;       /* sockets that received it */
    int64_t committed_ms; /* its committed_at_ms */
    double last_ms;       /* its latest arrival, CLOCK_REALTIME ms */
    bool for_limited;     /* an S_PREFIX announcement: the limited sockets receive it too */
} s_commit_t;

typedef struct {
    int n;                 /* sockets */
    int limited;           /* of them, those limited to S_PREFIX */
    uint64_t leaked;       /* announcements a limited socket received outside S_PREFIX */
    s_sub_t *subs;         /* [n] */
    s_commit_t *ring;      /* [RING] by seq % RING */
    uint64_t overwritten;  /* commits pushed out of the ring before the end (none expected) */
    uint64_t heartbeats;   /* heartbeats received */
    uint64_t undecodable;  /* bodies without seq */
    int seen;              /* sockets that have received anything */
    double t_connect;      /* CLOCK_MONOTONIC s of "connect" */
    double storm_s;        /* "connect" to the last socket's first message, -1 before */
    uint64_t first, last;  /* the commits' seqs, from "end"; 0 before */
    int complete_subs;     /* sockets whose last >= the "end" LAST */
    zmq_msg_t topic, body; /* reused for every message */
} s_bench_t;

static double s_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double s_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double s_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*  Reads the varint at buf[*i], advancing *i; -1 when truncated or longer than 10 bytes. */
static int s_varint(const uint8_t *buf, size_t len, size_t *i, uint64_t *value)
{
    *value = 0;
    for (int shift = 0; shift < 70 && *i < len; shift += 7) {
        uint8_t b = buf[(*i)++];
        *value |= (uint64_t) (b & 0x7F) << shift;
        if (b < 0x80) {
            return 0;
        }
    }
    return -1;
}

/*  The seq and committed_at_ms of an Announcement; -1 if it has no seq. */
static int s_decode(const uint8_t *buf, size_t len, uint64_t *seq, int64_t *committed)
{
    size_t i = 0;
    *seq = 0;
    *committed = 0;
    while (i < len) {
        uint64_t key, v;
        if (s_varint(buf, len, &i, &key) != 0) {
            break;
        }
        if ((key & 7) == 0) {
            if (s_varint(buf, len, &i, &v) != 0) {
                break;
            }
            if (key >> 3 == 2) {
                *seq = v;
            } else if (key >> 3 == 3) {
                *committed = (int64_t) v;
                break; /* fields are written in order: nothing after 3 is needed */
            }
        } else if ((key & 7) == 2) {
            if (s_varint(buf, len, &i, &v) != 0 || v > len - i) {
                break;
            }
            i += v;
        } else {
            break;
        }
    }
    return *seq ? 0 : -1;
}

static void s_handle_message(s_bench_t *self, s_sub_t *sub, const uint8_t *topic, size_t topic_len,
                             const uint8_t *body, size_t body_len)
{
    if (!sub->seen) {
        sub->seen = true;
        if (++self->seen == self->n) {
            self->storm_s = s_mono() - self->t_connect;
            printf("connected\n");
            fflush(stdout);
        }
    }
    if (topic_len == 2 && memcmp(topic, "hb", 2) == 0) {
        self->heartbeats++;
        return;
    }
    double now = s_real_ms();
    uint64_t seq;
    int64_t committed;
    if (s_decode(body, body_len, &seq, &committed) != 0) {
        self->undecodable++;
        return;
    }
    size_t plen = strlen(S_PREFIX);
    bool in_prefix = topic_len >= plen && memcmp(topic, S_PREFIX, plen) == 0;
    if (sub->limit != S_ALL && !in_prefix) {
        self->leaked++; /* past its grant, or its own subscription */
        return;
    }
    if (seq <= sub->last) {
        sub->dups++;
        return;
    }
    if (sub->limit == S_ALL && sub->last && seq > sub->last + 1) {
        sub->gaps += seq - sub->last - 1; /* a limited socket's seqs are not gapless */
    }
    if (self->last && sub->last < self->last && seq >= self->last) {
        self->complete_subs++;
    }
    sub->last = seq;
    sub->got++;
    s_commit_t *c = &self->ring[seq % RING];
    if (c->seq != seq) {
        if (c->seq) {
            self->overwritten++;
        }
        c->seq = seq;
        c->count = 0;
        c->committed_ms = committed;
        c->last_ms = 0;
        c->for_limited = false;
    }
    c->for_limited |= in_prefix;
    c->count++;
    if (now > c->last_ms) {
        c->last_ms = now;
    }
}

/*  Receives everything the socket holds: [topic][body] pairs, without waiting. */
static int s_drain(s_bench_t *self, s_sub_t *sub)
{
    while (zmq_msg_recv(&self->topic, sub->sock, ZMQ_DONTWAIT) >= 0) {
        if (!zmq_msg_more(&self->topic)) {
            continue; /* not our framing; skip it */
        }
        if (zmq_msg_recv(&self->body, sub->sock, 0) < 0) {
            return -1;
        }
        while (zmq_msg_more(&self->body)) { /* extra frames: not ours either */
            if (zmq_msg_recv(&self->body, sub->sock, 0) < 0) {
                return -1;
            }
        }
        s_handle_message(self, sub, zmq_msg_data(&self->topic), zmq_msg_size(&self->topic),
                         zmq_msg_data(&self->body), zmq_msg_size(&self->body));
    }
    return zmq_errno() == EAGAIN ? 0 : -1;
}

/*  The light client's side of the same: zmtp_curve_read hands each message here. */
typedef struct {
    s_bench_t *bench;
    s_sub_t *sub;
} s_reading_t;

static void s_on_zmtp_message(void *arg, const uint8_t *topic, size_t topic_len,
                              const uint8_t *body, size_t body_len)
{
    s_reading_t *reading = arg;
    s_handle_message(reading->bench, reading->sub, topic, topic_len, body, body_len);
}

/*  Connects socket i as the light client to ENDPOINT (tcp://HOST:PORT) and adds it to ep. */
static int s_connect_zmtp(s_sub_t *sub, int i, int ep, const char *endpoint, const uint8_t *server,
                          const char *pub_z85, const char *sec_z85)
{
    static const char *const limited[] = {S_PREFIX, "hb"};
    char host[64];
    int port;
    uint8_t pub[ZMTP_CURVE_KEY], sec[ZMTP_CURVE_KEY];
    char err[256];
    if (sscanf(endpoint, "tcp://%63[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "bench_fanout: run-zmtp needs tcp://HOST:PORT, not %s\n", endpoint);
        return -1;
    }
    if (!zmq_z85_decode(pub, pub_z85) || !zmq_z85_decode(sec, sec_z85)) {
        fprintf(stderr, "bench_fanout: a key that is not Z85\n");
        return -1;
    }
    bool own = sub->limit == S_SUBSCRIBED;
    sub->zc = zmtp_curve_connect(host, port, server, pub, sec, own ? limited : NULL, own ? 2 : 0,
                                 err, sizeof err);
    sodium_memzero(sec, sizeof sec);
    if (!sub->zc) {
        fprintf(stderr, "bench_fanout: socket %d: %s\n", i, err);
        return -1;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t) i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, zmtp_curve_fd(sub->zc), &e) != 0) {
        fprintf(stderr, "bench_fanout: epoll_ctl: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/*  Prints the results: delays over the commits FIRST..LAST, a commit that did not reach every
    socket counting as infinitely late (its percentile prints null). */
static void s_report(s_bench_t *self, double cpu0, double wall0, double drain_s)
{
    uint64_t commits = self->last >= self->first && self->first ? self->last - self->first + 1 : 0;
    double *delays = malloc((commits ? commits : 1) * sizeof *delays);
    uint64_t complete = 0, in_range = 0, expected = 0, for_limited = 0;
    for (uint64_t seq = self->first; commits && seq <= self->last; seq++) {
        s_commit_t *c = &self->ring[seq % RING];
        double d = 1e300;
        /* a commit nobody received counts as one for everybody: lost by all */
        bool all = c->seq != seq || c->for_limited;
        uint32_t want = (uint32_t) (self->n - (all ? 0 : self->limited));
        expected += want;
        for_limited += all;
        if (c->seq == seq) {
            in_range += c->count;
            if (c->count >= want) {
                d = c->last_ms - (double) c->committed_ms;
                complete++;
            }
        }
        delays[seq - self->first] = d;
    }
    qsort(delays, commits, sizeof *delays, s_cmp_double);
    char pct[3][32];
    const double ps[3] = {50, 99, 100};
    for (int k = 0; k < 3; k++) {
        uint64_t at = (uint64_t) (commits * ps[k] / 100);
        if (at >= commits) {
            at = commits ? commits - 1 : 0;
        }
        if (commits && delays[at] < 1e299) {
            snprintf(pct[k], sizeof pct[k], "%.1f", delays[at]);
        } else {
            snprintf(pct[k], sizeof pct[k], "null");
        }
    }
    free(delays);
    uint64_t dups = 0, gaps = 0, lossy = 0, max_lost = 0;
    for (int i = 0; i < self->n; i++) {
        s_sub_t *s = &self->subs[i];
        dups += s->dups;
        gaps += s->gaps;
        /* the store holds only the commits FIRST..LAST: all a socket receives is of them */
        uint64_t meant = s->limit == S_ALL ? commits : for_limited;
        uint64_t lost = meant > s->got ? meant - s->got : 0;
        lossy += lost > 0;
        max_lost = lost > max_lost ? lost : max_lost;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"n\":%d,\"connected\":%d,\"storm_s\":", self->n, self->seen);
    if (self->storm_s >= 0) {
        printf("%.3f", self->storm_s);
    } else {
        printf("null");
    }
    printf(
        ",\"first_seq\":%llu,\"last_seq\":%llu,\"commits\":%llu,\"complete_commits\":%llu,"
        "\"deliveries\":%llu,\"lost\":%llu,\"dup\":%llu,\"gaps\":%llu,\"sockets_with_loss\":%llu,"
        "\"max_lost_per_socket\":%llu,\"heartbeats\":%llu,\"undecodable\":%llu,"
        "\"ring_overwritten\":%llu,\"p50_ms\":%s,\"p99_ms\":%s,\"max_ms\":%s,\"drain_s\":%.3f,"
        "\"cpu_s\":%.3f,\"wall_s\":%.3f,\"maxrss_kib\":%ld,\"limited\":%d,\"leaked\":%llu,"
        "\"for_limited\":%llu,\"per_commit\":[",
        (unsigned long long) self->first, (unsigned long long) self->last,
        (unsigned long long) commits, (unsigned long long) complete, (unsigned long long) in_range,
        (unsigned long long) (expected - in_range), (unsigned long long) dups,
        (unsigned long long) gaps, (unsigned long long) lossy, (unsigned long long) max_lost,
        (unsigned long long) self->heartbeats, (unsigned long long) self->undecodable,
        (unsigned long long) self->overwritten, pct[0], pct[1], pct[2], drain_s, s_cpu_s() - cpu0,
        s_mono() - wall0, ru.ru_maxrss, self->limited, (unsigned long long) self->leaked,
        (unsigned long long) for_limited);
    for (uint64_t seq = self->first; commits && seq <= self->last; seq++) {
        s_commit_t *c = &self->ring[seq % RING];
        const char *sep = seq > self->first ? "," : "";
        /* [sockets reached, delay to the last of them, sockets meant to receive it] */
        int want = self->n - (c->seq != seq || c->for_limited ? 0 : self->limited);
        if (c->seq == seq && c->count) {
            printf("%s[%u,%.1f,%d]", sep, c->count, c->last_ms - (double) c->committed_ms, want);
        } else {
            printf("%s[0,null,%d]", sep, want);
        }
    }
    printf("]}\n");
    fflush(stdout);
}

/*  Raises this process's soft limit of open files to the hard one: each socket holds two (its
    TCP connection and its mailbox's eventfd). -1 if the result is still short of need. */
static int s_raise_nofile(rlim_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need) {
        fprintf(stderr, "bench_fanout: %llu open files needed, the limit is %llu (hard %llu)\n",
                (unsigned long long) need, (unsigned long long) rl.rlim_cur,
                (unsigned long long) rl.rlim_max);
        return -1;
    }
    return 0;
}

/*  Makes the N key pairs; the secret ones stay in memory, the public ones go to DIR, with the
    grant of those limited by one. */
static int s_make_keys(const char *dir, int from, int n, const s_sub_t *subs, char (*pub)[41],
                       char (*sec)[41])
{
    for (int i = 0; i < n; i++) {
        if (zmq_curve_keypair(pub[i], sec[i]) != 0) {
            fprintf(stderr, "bench_fanout: zmq_curve_keypair: %s\n", zmq_strerror(zmq_errno()));
            return -1;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/agency-%d.pub", dir, from + i);
        FILE *f = fopen(path, "w");
        const char *grant = subs[i].limit == S_GRANTED ? "grant " S_PREFIX "\n" : "";
        if (!f || fprintf(f, "%s\n%s", pub[i], grant) < 0 || fclose(f) != 0) {
            fprintf(stderr, "bench_fanout: %s: %s\n", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/*  Reads what stdin has (one read) and obeys the complete lines; *connect and *end are set by
    "connect" and "end FIRST LAST". -1 at EOF. */
static int s_handle_stdin(s_bench_t *self, bool *connect, bool *end)
{
    static char buf[256];
    static size_t used;
    ssize_t r = read(STDIN_FILENO, buf + used, sizeof buf - 1 - used);
    if (r <= 0) {
        return -1;
    }
    used += (size_t) r;
    buf[used] = '\0';
    char *nl;
    while ((nl = strchr(buf, '\n'))) {
        *nl = '\0';
        unsigned long long first, last;
        if (strcmp(buf, "connect") == 0) {
            *connect = true;
        } else if (sscanf(buf, "end %llu %llu", &first, &last) == 2) {
            self->first = first;
            self->last = last;
            for (int i = 0; i < self->n; i++) {
                self->complete_subs += self->subs[i].last >= last;
            }
            *end = true;
        }
        used -= (size_t) (nl + 1 - buf);
        memmove(buf, nl + 1, used + 1);
    }
    if (used == sizeof buf - 1) {
        used = 0; /* a line longer than any order: drop it */
    }
    return 0;
}

static int s_run(const char *endpoint, const char *server, const char *dir, int n, int from,
                 double max_s, double grace_s, bool zmtp)
{
    if (s_raise_nofile((rlim_t) n * 2 + 64) != 0) {
        return 1;
    }
    int rc = 1, ep = -1;
    void *ctx = NULL;
    char(*pub)[41] = calloc((size_t) n, sizeof *pub);
    char(*sec)[41] = calloc((size_t) n, sizeof *sec);
    s_bench_t self = {.n = n, .storm_s = -1};
    zmq_msg_init(&self.topic);
    zmq_msg_init(&self.body);
    self.subs = calloc((size_t) n, sizeof *self.subs);
    self.ring = calloc(RING, sizeof *self.ring);
    if (!pub || !sec || !self.subs || !self.ring) {
        goto done;
    }
    const char *every_env = getenv("BENCH_FANOUT_LIMIT_EVERY");
    int every = every_env ? atoi(every_env) : 0;
    for (int i = 0; every > 0 && i < n; i++) {
        int g = from + i;
        if (g % every == every - 1) {
            self.subs[i].limit = (g / every) % 2 == 0 ? S_GRANTED : S_SUBSCRIBED;
            self.limited++;
        }
    }
    if (s_make_keys(dir, from, n, self.subs, pub, sec) != 0) {
        goto done;
    }
    printf("keys\n");
    fflush(stdout);

    ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev) != 0) {
        fprintf(stderr, "bench_fanout: epoll: %s\n", strerror(errno));
        goto done;
    }
    bool connect = false, end = false;
    while (!connect) {
        struct epoll_event e;
        if (epoll_wait(ep, &e, 1, -1) == 1 && s_handle_stdin(&self, &connect, &end) != 0) {
            goto done;
        }
    }

    uint8_t server_bin[ZMTP_CURVE_KEY];
    if (zmtp && (sodium_init() < 0 || !zmq_z85_decode(server_bin, server))) {
        fprintf(stderr, "bench_fanout: libsodium's start, or a server key that is not Z85\n");
        goto done;
    }
    ctx = zmtp ? NULL : zmq_ctx_new();
    if (!zmtp && (!ctx || zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, n + 64) != 0)) {
        fprintf(stderr, "bench_fanout: ZMQ_MAX_SOCKETS %d: %s\n", n + 64,
                zmq_strerror(zmq_errno()));
        goto done;
    }
    double cpu0 = s_cpu_s();
    self.t_connect = s_mono();
    double deadline = self.t_connect + max_s;
    int hwm = 1000000, linger = 0;
    for (int i = 0; zmtp && i < n; i++) {
        if (s_connect_zmtp(&self.subs[i], i, ep, endpoint, server_bin, pub[i], sec[i]) != 0) {
            goto done;
        }
    }
    for (int i = 0; !zmtp && i < n; i++) {
        void *s = zmq_socket(ctx, ZMQ_SUB);
        int fd = -1;
        size_t fdlen = sizeof fd;
        if (!s || zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server, 40) != 0 ||
            zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub[i], 40) != 0 ||
            zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec[i], 40) != 0 ||
            zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
            zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
            (self.subs[i].limit != S_SUBSCRIBED && zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0) != 0) ||
            (self.subs[i].limit == S_SUBSCRIBED &&
             (zmq_setsockopt(s, ZMQ_SUBSCRIBE, S_PREFIX, strlen(S_PREFIX)) != 0 ||
              zmq_setsockopt(s, ZMQ_SUBSCRIBE, "hb", 2) != 0)) ||
            zmq_connect(s, endpoint) != 0 || zmq_getsockopt(s, ZMQ_FD, &fd, &fdlen) != 0) {
            fprintf(stderr, "bench_fanout: socket %d: %s\n", i, zmq_strerror(zmq_errno()));
            goto done;
        }
        self.subs[i].sock = s;
        struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t) i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) {
            fprintf(stderr, "bench_fanout: epoll_ctl: %s\n", strerror(errno));
            goto done;
        }
    }

    struct epoll_event events[MAX_EVENTS];
    double t_end = 0, drain_s = -1;
    /* BENCH_FANOUT_SPIN=1: never sleep in epoll_wait, so that a delivery never has to wake
       this process: on one machine that wake-up is the sender's cost (sock_def_readable), which
       a subscriber on a machine of its own does not put on the publisher */
    const char *spin_env = getenv("BENCH_FANOUT_SPIN");
    int wait_ms = spin_env && strcmp(spin_env, "1") == 0 ? 0 : 100;
    bool stdin_open = true;
    while (s_mono() < deadline) {
        int k = epoll_wait(ep, events, MAX_EVENTS, wait_ms);
        for (int j = 0; j < k; j++) {
            uint32_t i = events[j].data.u32;
            if (i == STDIN_TAG) {
                bool was_end = end;
                if (s_handle_stdin(&self, &connect, &end) != 0 && stdin_open) {
                    stdin_open = false; /* the driver is gone: finish at the deadline */
                    epoll_ctl(ep, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
                }
                if (end && !was_end) {
                    t_end = s_mono();
                    deadline = t_end + grace_s < deadline ? t_end + grace_s : deadline;
                }
            } else if (self.subs[i].zc) {
                s_reading_t reading = {&self, &self.subs[i]};
                if (zmtp_curve_read(self.subs[i].zc, s_on_zmtp_message, &reading) != 0) {
                    fprintf(stderr, "bench_fanout: socket %u: %s\n", i,
                            zmtp_curve_error(self.subs[i].zc));
                    goto done;
                }
            } else if (s_drain(&self, &self.subs[i]) != 0) {
                fprintf(stderr, "bench_fanout: recv: %s\n", zmq_strerror(zmq_errno()));
                goto done;
            }
        }
        if (end && self.complete_subs >= n) {
            drain_s = s_mono() - t_end;
            break;
        }
    }
    s_report(&self, cpu0, self.t_connect, drain_s);
    rc = 0;
done:
    zmq_msg_close(&self.topic);
    zmq_msg_close(&self.body);
    for (int i = 0; self.subs && i < n; i++) {
        if (self.subs[i].sock) {
            zmq_close(self.subs[i].sock);
        }
        zmtp_curve_destroy(&self.subs[i].zc);
    }
    if (ctx) {
        zmq_ctx_term(ctx);
    }
    if (ep >= 0) {
        close(ep);
    }
    free(self.subs);
    free(self.ring);
    free(sec);
    free(pub);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "keypair") == 0) {
        char pub[41], sec[41];
        if (zmq_curve_keypair(pub, sec) != 0) {
            fprintf(stderr, "bench_fanout: zmq_curve_keypair: %s\n", zmq_strerror(zmq_errno()));
            return 1;
        }
        printf("%s %s\n", pub, sec);
        return 0;
    }
    bool zmtp = argc >= 2 && strcmp(argv[1], "run-zmtp") == 0;
    if (argc >= 6 && argc <= 9 && (zmtp || strcmp(argv[1], "run") == 0)) {
        int n = atoi(argv[5]);
        int from = argc > 6 ? atoi(argv[6]) : 0;
        double max_s = argc > 7 ? atof(argv[7]) : 600;
        double grace_s = argc > 8 ? atof(argv[8]) : 10;
        if (n < 1 || from < 0 || strlen(argv[3]) != 40 || max_s <= 0 || grace_s < 0) {
            fprintf(stderr, "bench_fanout: N >= 1, FROM >= 0, a 40-character Z85 server key\n");
            return 2;
        }
        return s_run(argv[2], argv[3], argv[4], n, from, max_s, grace_s, zmtp);
    }
    fprintf(stderr, "usage: bench_fanout keypair\n"
                    "       bench_fanout run|run-zmtp ENDPOINT SERVER_PUBLIC CLIENTS_DIR N "
                    "[FROM [MAX_SECONDS [GRACE_SECONDS]]]\n");
    return 2;
}
