/*  bench_zmq.c -- the baseline: raw libzmq PUB/SUB throughput for announcement-sized frames.

    bench_zmq sub ENDPOINT COUNT        binds a SUB, receives COUNT [topic][body] messages,
                                        prints {"received":N,"seconds":S,"per_second":R}
    bench_zmq pub ENDPOINT COUNT SIZE   connects a PUB (XPUB_NODROP: blocks instead of
                                        dropping, so the figure is sustained, not offered, load)
    The SUB binds so the PUB can start after it; the PUB waits for the subscription.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int s_sub(void *ctx, const char *endpoint, long count)
{
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int hwm = 100000;
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_bind(sub, endpoint) != 0) {
        fprintf(stderr, "bench_zmq: bind %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 1;
    }
    char buf[2048];
    double start = 0;
    for (long i = 0; i < count; i++) {
        int more = 1;
        while (more) {
            if (zmq_recv(sub, buf, sizeof buf, 0) < 0) {
                return 1;
            }
            size_t len = sizeof more;
            zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &len);
        }
        if (i == 0) {
            start = s_now();
        }
    }
    double secs = s_now() - start;
    printf("{\"received\":%ld,\"seconds\":%.3f,\"per_second\":%.0f}\n", count, secs,
           (count - 1) / secs);
    zmq_close(sub);
    return 0;
}

static int s_pub(void *ctx, const char *endpoint, long count, int size)
{
    void *pub = zmq_socket(ctx, ZMQ_XPUB);
    int on = 1, hwm = 100000;
    zmq_setsockopt(pub, ZMQ_XPUB_NODROP, &on, sizeof on);
    zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_connect(pub, endpoint) != 0) {
        fprintf(stderr, "bench_zmq: connect %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 1;
    }
    char sub[64];
    if (zmq_recv(pub, sub, sizeof sub, 0) < 0) { /* the subscription: the SUB is there */
        return 1;
    }
    char *body = malloc(size);
    memset(body, 'x', size);
    const char *topic = "event.conference.FR.";
    for (long i = 0; i < count; i++) {
        zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
        zmq_send(pub, body, size, 0);
    }
    free(body);
    int linger = -1;
    zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(pub);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_zmq sub ENDPOINT COUNT | pub ENDPOINT COUNT SIZE\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    int rc = strcmp(argv[1], "sub") == 0
                 ? s_sub(ctx, argv[2], atol(argv[3]))
                 : s_pub(ctx, argv[2], atol(argv[3]), argc > 4 ? atoi(argv[4]) : 400);
    zmq_ctx_term(ctx);
    return rc;
}
