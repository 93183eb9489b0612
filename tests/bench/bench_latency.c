/*  bench_latency.c -- commit-to-subscriber latency: commits events into a store at a fixed
    rate from this process and reads the subscriber's JSON log lines from a pipe; both
    timestamps come from this process's CLOCK_MONOTONIC, so no clocks are compared.

    bench_latency DB RATE COUNT -- SUBSCRIBER-COMMAND...
    The subscriber command must log JSON lines (--sink log --format json) to stdout; a
    publisher must already be running on DB. Prints {"p50_ms":..,"p99_ms":..,"p999_ms":..}.
    BENCH_LATENCY_SAMPLES=FILE also writes every sample there (below).
    BENCH_LATENCY_REALTIME=N runs this program's two threads (the writer, which stamps each
    commit, and the reader, which stamps each arrival) under SCHED_FIFO at priority N, so
    that on a busy machine the stamps are taken when things happen, not when the instrument
    gets a core; the subscriber it starts stays ordinary (SCHED_RESET_ON_FORK) unless its
    command asks otherwise (--realtime).
*/
#define _GNU_SOURCE /* SCHED_RESET_ON_FORK */
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define WARMUP 200

typedef struct {
    store_t *store;
    long rate;
    long count;
    int64_t first_seq; /* seq of the first measured commit */
    double *committed; /* [count] commit times by seq - first_seq */
    double *arrived;   /* [count] arrival times */
    int warm;          /* set by the reader when the warm-up commits arrived */
    pid_t subscriber;  /* the subscriber's pid: stopped 5 s after the last commit */
} bench_t;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*  BENCH_LATENCY_REALTIME: the calling thread under SCHED_FIFO; exits if refused. */
static void s_realtime(void)
{
    const char *prio = getenv("BENCH_LATENCY_REALTIME");
    if (!prio || !*prio) {
        return;
    }
    struct sched_param param = {.sched_priority = atoi(prio)};
    if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &param) != 0) {
        perror("bench_latency: BENCH_LATENCY_REALTIME");
        exit(1);
    }
}

static int s_commit(bench_t *self, long i)
{
    char id[64], title[96];
    snprintf(id, sizeof id, "lat-%ld", i);
    snprintf(title, sizeof title, "Latency probe %ld", i);
    store_event_t e = {.id = id,
                       .kind = "conference",
                       .title = title,
                       .start_date = "2026-01-01",
                       .end_date = "2026-01-02",
                       .city = "Lyon",
                       .country = "FR",
                       .summary = "",
                       .url = "",
                       .status = "scheduled",
                       .cancel_reason = ""};
    if (store_put_event(self->store, &e) != 0) {
        fprintf(stderr, "bench_latency: commit: %s\n", store_error(self->store));
        return -1;
    }
    return 0;
}

static void s_sleep_until(double t)
{
    double d = t - s_now();
    if (d > 0) {
        struct timespec ts = {(time_t) d, (long) ((d - (time_t) d) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static void *s_writer(void *arg)
{
    bench_t *self = arg;
    s_realtime();
    for (long i = 0; i < WARMUP; i++) { /* the subscriber joins while these flow */
        s_commit(self, -1 - i);
        usleep(5000);
        if (__atomic_load_n(&self->warm, __ATOMIC_ACQUIRE)) {
            break;
        }
    }
    for (int i = 0; i < 400 && !__atomic_load_n(&self->warm, __ATOMIC_ACQUIRE); i++) {
        usleep(10000);
    }
    self->first_seq = store_head_seq(self->store) + 1;
    __atomic_store_n(&self->warm, 2, __ATOMIC_RELEASE);
    double start = s_now();
    for (long i = 0; i < self->count; i++) {
        s_sleep_until(start + (double) i / self->rate);
        if (s_commit(self, i) != 0) {
            break;
        }
        double t = s_now();
        int64_t seq = store_head_seq(self->store);
        if (seq >= self->first_seq && seq - self->first_seq < self->count) {
            self->committed[seq - self->first_seq] = t;
        }
    }
    /* Whatever has not arrived 5 s after the last commit never will: stopping the
       subscriber ends the reader's input, so a lost announcement cannot hang the run. */
    sleep(5);
    kill(self->subscriber, SIGTERM);
    return NULL;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 6 || strcmp(argv[4], "--") != 0) {
        fprintf(stderr, "usage: bench_latency DB RATE COUNT -- SUBSCRIBER-COMMAND...\n");
        return 2;
    }
    char err[512];
    bench_t self = {.rate = atol(argv[2]), .count = atol(argv[3])};
    self.store = store_new(argv[1], STORE_OPEN, err, sizeof err);
    if (!self.store) {
        fprintf(stderr, "bench_latency: %s\n", err);
        return 1;
    }
    self.committed = calloc(self.count, sizeof(double));
    self.arrived = calloc(self.count, sizeof(double));
    int fds[2];
    if (pipe(fds) != 0) {
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[5], argv + 5);
        perror("bench_latency: exec");
        _exit(127);
    }
    close(fds[1]);
    self.subscriber = pid;
    s_realtime(); /* after the fork: the subscriber is not ours to raise */
    pthread_t writer;
    pthread_create(&writer, NULL, s_writer, &self);
    FILE *in = fdopen(fds[0], "r");
    char *line = NULL;
    size_t cap = 0;
    long seen = 0;
    while (seen < self.count && getline(&line, &cap, in) > 0) {
        double t = s_now();
        json_t *j = json_loads(line, 0, NULL);
        json_int_t seq = json_integer_value(json_object_get(j, "seq"));
        json_decref(j);
        int phase = __atomic_load_n(&self.warm, __ATOMIC_ACQUIRE);
        if (phase == 0) {
            __atomic_store_n(&self.warm, 1, __ATOMIC_RELEASE);
        } else if (phase == 2 && seq >= self.first_seq && seq - self.first_seq < self.count) {
            self.arrived[seq - self.first_seq] = t;
            seen++;
        }
    }
    free(line);
    if (seen == self.count) {
        kill(pid, SIGTERM);
    }
    pthread_join(writer, NULL);
    waitpid(pid, NULL, 0);
    fclose(in);

    /* BENCH_LATENCY_SAMPLES=FILE: every sample as "seq commit arrival" (CLOCK_MONOTONIC
       seconds), to be laid beside a trace taken on the same clock (perf record -k mono). */
    const char *dump = getenv("BENCH_LATENCY_SAMPLES");
    FILE *samples = dump && *dump ? fopen(dump, "w") : NULL;
    for (long i = 0; samples && i < self.count; i++) {
        fprintf(samples, "%ld %.6f %.6f\n", (long) (self.first_seq + i), self.committed[i],
                self.arrived[i]);
    }
    if (samples) {
        fclose(samples);
    }
    long n = 0;
    for (long i = 0; i < self.count; i++) {
        if (self.arrived[i] > 0 && self.committed[i] > 0) {
            self.arrived[n++] = (self.arrived[i] - self.committed[i]) * 1e3;
        }
    }
    qsort(self.arrived, n, sizeof(double), s_cmp);
    if (n == 0) {
        fprintf(stderr, "bench_latency: nothing arrived\n");
        return 1;
    }
    if (n < self.count) {
        fprintf(stderr, "bench_latency: %ld of %ld commits arrived\n", n, self.count);
    }
    printf("{\"samples\":%ld,\"rate\":%ld,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
           "\"max_ms\":%.3f}\n",
           n, self.rate, self.arrived[n / 2], self.arrived[(long) (n * 0.99)],
           self.arrived[(long) (n * 0.999)], self.arrived[n - 1]);
    free(self.committed);
    free(self.arrived);
    store_destroy(&self.store);
    return 0;
}
