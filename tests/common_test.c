/*  common_test.c -- what both services share (services/common): the logger and its rate
    limit (log.h), secrets and --print-config (config.h), CURVE keys and socket options
    (curve.h), the metrics and health server (metrics.h) with its probe client (health.h),
    the clock and RFC 3339 times (clock.h), int socket options (sockopt.h) and the options
    tables (options.h). One group per module, each calling
    every public function of it; files go to a scratch directory under HERALD_TEST_TMP, the
    network is 127.0.0.1 only.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_fixtures.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "config.h"
#include "curve.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "signals.h"
#include "sockmon.h"
#include "sockopt.h"

//  ---------------------------------------------------------------------------------------
//  Helpers: a scratch directory, capturing stdout or stderr, a plain HTTP client

static char s_dir[512];

static const char *s_path(const char *name)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    return path;
}

static void s_write(const char *name, const char *text)
{
    FILE *f = fopen(s_path(name), "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static char *s_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return NULL;
    }
    char *text = calloc(1, 65536);
    size_t n = text ? fread(text, 1, 65535, f) : 0;
    (void) n;
    fclose(f);
    return text;
}

static int s_setup_dir(void **state)
{
    (void) state;
    const char *tmp = getenv("HERALD_TEST_TMP");
    snprintf(s_dir, sizeof s_dir, "%s/common_test.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown_dir(void **state)
{
    (void) state;
    DIR *dir = opendir(s_dir);
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
                unlink(s_path(entry->d_name));
            }
        }
        closedir(dir);
    }
    return rmdir(s_dir);
}

/*  Sends what fd (1 or 2) writes to a file until s_capture_end, which returns the text. */
typedef struct {
    int fd;
    int saved;
    char path[1024];
} s_capture_t;

static void s_capture_begin(s_capture_t *cap, int fd, const char *target)
{
    fflush(stdout);
    fflush(stderr);
    cap->fd = fd;
    snprintf(cap->path, sizeof cap->path, "%s", target ? target : s_path("captured"));
    int file = open(cap->path, target ? O_WRONLY : O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(file >= 0);
    cap->saved = dup(fd);
    assert_true(cap->saved >= 0);
    assert_int_equal(dup2(file, fd), fd);
    close(file);
}

static char *s_capture_end(s_capture_t *cap)
{
    fflush(stdout);
    fflush(stderr);
    clearerr(stdout);
    dup2(cap->saved, cap->fd);
    close(cap->saved);
    if (strcmp(cap->path, s_path("captured")) != 0) {
        return NULL;
    }
    char *text = s_slurp(cap->path);
    unlink(cap->path);
    assert_non_null(text);
    return text;
}

/*  A port on 127.0.0.1 that was free a moment ago. */
static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/*  A listening socket on a free 127.0.0.1 port that never accepts; *port is set. */
static int s_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/*  Sends "METHOD path HTTP/1.0" to 127.0.0.1:port and reads the whole reply into reply
    (socket timeouts of 3 s bound every step). Returns the status code, or -1. */
static int s_http(int port, const char *method, const char *path, char *reply, size_t cap)
{
    reply[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t) port);
    if (connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    char request[256];
    int n = snprintf(request, sizeof request, "%s %s HTTP/1.0\r\nHost: test\r\n\r\n", method, path);
    if (send(fd, request, (size_t) n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t r = recv(fd, reply + got, cap - 1 - got, 0);
        if (r <= 0) {
            break;
        }
        got += (size_t) r;
    }
    reply[got] = '\0';
    close(fd);
    int status = -1;
    if (sscanf(reply, "HTTP/1.%*d %d", &status) != 1) {
        return -1;
    }
    return status;
}

static const char *s_body(const char *reply)
{
    const char *body = strstr(reply, "\r\n\r\n");
    return body ? body + 4 : "";
}

//  ---------------------------------------------------------------------------------------
//  log.h

static void test_log_level_parse(void **state)
{
    (void) state;
    assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("info"), LOG_INFO);
    assert_int_equal(log_level_parse("warn"), LOG_WARN);
    assert_int_equal(log_level_parse("error"), LOG_ERROR);
    assert_int_equal(log_level_parse("WARN"), -1);
    assert_int_equal(log_level_parse("warning"), -1);
    assert_int_equal(log_level_parse(""), -1);
    assert_int_equal(log_level_parse(NULL), -1);
}

/*  Splits text into lines (in place), returns how many (at most max). */
static int s_lines(char *text, char **lines, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && n < max;
         line = strtok_r(NULL, "\n", &save)) {
        lines[n++] = line;
    }
    return n;
}

static void test_log_json(void **state)
{
    (void) state;
    s_capture_t cap;
    log_setup(LOG_INFO, 0);
    s_capture_begin(&cap, STDERR_FILENO, NULL);
    log_debug("test.hidden", NULL);
    log_info("test.started", "{s:s, s:I}", "who", "me", "n", (json_int_t) 7);
    log_warn("test.plain", NULL);
    log_error("test.bad_format", "{s:s}", "key", NULL); /* json_pack refuses a NULL string */
    char *text = s_capture_end(&cap);

    assert_null(strstr(text, "test.hidden"));
    char *lines[8];
    assert_int_equal(s_lines(text, lines, 8), 3);
    /* the fixed fields first, in this order: ts, level, event */
    assert_memory_equal(lines[0], "{\"ts\":\"", 7);
    assert_non_null(strstr(lines[0], "\",\"level\":\"info\",\"event\":\"test.started\""));

    json_error_t error;
    json_t *line = json_loads(lines[0], 0, &error);
    assert_non_null(line);
    const char *ts = json_string_value(json_object_get(line, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen("2026-11-28T01:02:03.456Z"));
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
    assert_string_equal(json_string_value(json_object_get(line, "who")), "me");
    assert_int_equal(json_integer_value(json_object_get(line, "n")), 7);
    json_decref(line);

    line = json_loads(lines[1], 0, &error);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(line, "event")), "test.plain");
    assert_int_equal(json_object_size(line), 3);
    json_decref(line);

    line = json_loads(lines[2], 0, &error);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "level")), "error");
    assert_non_null(json_string_value(json_object_get(line, "log_error")));
    json_decref(line);
    free(text);
}

static void test_log_level_and_text(void **state)
{
    (void) state;
    s_capture_t cap;
    log_setup(LOG_ERROR, 1);
    s_capture_begin(&cap, STDERR_FILENO, NULL);
    log_warn("test.quiet", "{s:s}", "k", "v");
    log_error("test.loud", "{s:s}", "k", "v");
    log_error("test.bare", NULL);
    char *text = s_capture_end(&cap);
    log_setup(LOG_INFO, 0);

    assert_null(strstr(text, "test.quiet"));
    char *lines[8];
    assert_int_equal(s_lines(text, lines, 8), 2);
    /* "TS LEVEL event key=value": the level padded to 5, the extra fields as compact JSON */
    assert_int_equal(lines[0][10], 'T');
    assert_string_equal(lines[0] + 24, " error test.loud {\"k\":\"v\"}");
    assert_string_equal(lines[1] + 24, " error test.bare ");
    free(text);

    log_setup(LOG_DEBUG, 1);
    s_capture_begin(&cap, STDERR_FILENO, NULL);
    log_debug("test.debug", NULL);
    log_info("test.info", "{s:i}", "n", 1);
    text = s_capture_end(&cap);
    log_setup(LOG_INFO, 0);
    assert_int_equal(s_lines(text, lines, 8), 2);
    assert_string_equal(lines[0] + 24, " debug test.debug ");
    assert_string_equal(lines[1] + 24, " info  test.info {\"n\":1}");
    free(text);
}

static void *s_log_many(void *arg)
{
    const char *who = arg;
    for (int i = 0; i < 200; i++) {
        log_info("test.thread", "{s:s, s:i, s:s}", "who", who, "i", i, "pad",
                 "................................................................");
    }
    return NULL;
}

static void test_log_threads(void **state)
{
    (void) state;
    s_capture_t cap;
    log_setup(LOG_INFO, 0);
    s_capture_begin(&cap, STDERR_FILENO, NULL);
    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, s_log_many, "a"), 0);
    assert_int_equal(pthread_create(&b, NULL, s_log_many, "b"), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    char *text = s_capture_end(&cap);
    /* every line whole: 400 lines, each a JSON object */
    static char *lines[500];
    assert_int_equal(s_lines(text, lines, 500), 400);
    for (int i = 0; i < 400; i++) {
        json_t *line = json_loads(lines[i], 0, NULL);
        assert_non_null(line);
        json_decref(line);
    }
    free(text);
}

/*  Drains a pipe after a pause, keeping what it read. */
typedef struct {
    int fd;
    char buf[1 << 18];
    size_t len;
} s_drain_t;

static void *s_drain(void *arg)
{
    s_drain_t *d = arg;
    usleep(200 * 1000);
    int flags = fcntl(d->fd, F_GETFL);
    fcntl(d->fd, F_SETFL, flags & ~O_NONBLOCK);
    ssize_t n;
    while (d->len < sizeof d->buf &&
           (n = read(d->fd, d->buf + d->len, sizeof d->buf - d->len)) > 0) {
        d->len += (size_t) n;
    }
    return NULL;
}

/*  A line written while stderr is a full, non-blocking pipe arrives whole once the reader
    catches up: the logger waits out EAGAIN and finishes short writes instead of dropping
    the line (it may be the last one a service writes before it exits). */
static void test_log_stderr_full(void **state)
{
    (void) state;
    log_setup(LOG_INFO, 0);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(fcntl(pipefd[1], F_SETFL, O_NONBLOCK), 0);
    char fill[4096];
    memset(fill, 'x', sizeof fill);
    size_t filled = 0;
    ssize_t n;
    while ((n = write(pipefd[1], fill, sizeof fill)) > 0) {
        filled += (size_t) n;
    }
    assert_true(n < 0 && errno == EAGAIN);
    int saved = dup(STDERR_FILENO);
    assert_int_equal(dup2(pipefd[1], STDERR_FILENO), STDERR_FILENO);
    static s_drain_t drain;
    drain.fd = pipefd[0];
    drain.len = 0;
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, s_drain, &drain), 0);
    static char big[100000]; /* longer than the pipe: one write cannot take it all */
    memset(big, 'y', sizeof big - 1);
    log_error("test.full", "{s:s}", "error", big);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    close(pipefd[1]);
    pthread_join(reader, NULL);
    close(pipefd[0]);
    assert_true(drain.len > filled);
    assert_int_equal(drain.buf[drain.len - 1], '\n');
    drain.buf[drain.len - 1] = '\0';
    json_t *line = json_loads(drain.buf + filled, 0, NULL);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "event")), "test.full");
    assert_int_equal(strlen(json_string_value(json_object_get(line, "error"))), sizeof big - 1);
    json_decref(line);
}

//  ---------------------------------------------------------------------------------------
//  config.h

static void test_config_print(void **state)
{
    (void) state;
    s_capture_t cap;
    json_t *config = json_pack("{s:s, s:i, s:s}", "bind", "tcp://*:5556", "hwm", 1000, "secret",
                               CONFIG_REDACTED);
    assert_non_null(config);
    s_capture_begin(&cap, STDOUT_FILENO, NULL);
    int rc = config_print(config); /* taken over */
    char *text = s_capture_end(&cap);
    assert_int_equal(rc, 0);
    assert_memory_equal(text, "{\n  \"bind\": \"tcp://*:5556\",\n", 28); /* indented, in order */
    assert_int_equal(text[strlen(text) - 1], '\n');
    json_t *back = json_loads(text, 0, NULL);
    assert_non_null(back);
    assert_string_equal(json_string_value(json_object_get(back, "secret")), "***");
    assert_int_equal(json_integer_value(json_object_get(back, "hwm")), 1000);
    json_decref(back);
    free(text);

    assert_int_equal(config_print(NULL), -1);

    /* a stdout that cannot be written: -1 (and the object is still freed: valgrind) */
    if (access("/dev/full", W_OK) == 0) {
        s_capture_begin(&cap, STDOUT_FILENO, "/dev/full");
        rc = config_print(json_pack("{s:s}", "k", "v"));
        s_capture_end(&cap);
        assert_int_equal(rc, -1);
    }
}

//  ---------------------------------------------------------------------------------------
//  curve.h

static void test_curve_key_valid(void **state)
{
    (void) state;
    char public_key[CURVE_Z85_LEN + 1];
    char secret[CURVE_Z85_LEN + 1];
    assert_int_equal(zmq_curve_keypair(public_key, secret), 0);
    assert_true(curve_key_valid(public_key));
    assert_true(curve_key_valid(secret));

    char text[CURVE_Z85_LEN + 2];
    memcpy(text, public_key, sizeof public_key);
    text[CURVE_Z85_LEN - 1] = '\0';
    assert_false(curve_key_valid(text)); /* 39 */
    memcpy(text, public_key, CURVE_Z85_LEN);
    text[CURVE_Z85_LEN] = 'a';
    text[CURVE_Z85_LEN + 1] = '\0';
    assert_false(curve_key_valid(text)); /* 41 */
    memcpy(text, public_key, sizeof public_key);
    text[5] = ',';
    assert_false(curve_key_valid(text)); /* not Z85 */
    text[5] = ' ';
    assert_false(curve_key_valid(text));
    assert_false(curve_key_valid(""));
    assert_false(curve_key_valid(NULL));
}

static void test_curve_key_read(void **state)
{
    (void) state;
    char public_key[CURVE_Z85_LEN + 1];
    char secret[CURVE_Z85_LEN + 1];
    assert_int_equal(zmq_curve_keypair(public_key, secret), 0);
    char text[256];
    snprintf(text, sizeof text, "%s \t\r\nsubscribe event.\nreplay event.\n", public_key);
    s_write("alice.pub", text);
    char key[CURVE_Z85_LEN + 1] = "";
    char err[512] = "";
    assert_int_equal(curve_key_read(s_path("alice.pub"), key, err, sizeof err), 0);
    assert_string_equal(key, public_key);

    assert_int_equal(curve_key_read(s_path("nobody.pub"), key, err, sizeof err), -1);
    assert_non_null(strstr(err, s_path("nobody.pub")));
    s_write("empty.pub", "");
    assert_int_equal(curve_key_read(s_path("empty.pub"), key, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    s_write("short.pub", "abc\n");
    assert_int_equal(curve_key_read(s_path("short.pub"), key, err, sizeof err), -1);
    assert_non_null(strstr(err, s_path("short.pub")));
    assert_non_null(strstr(err, "not a CURVE key"));
}

static void test_curve_client_load(void **state)
{
    (void) state;
    char server_public[CURVE_Z85_LEN + 1], server_secret[CURVE_Z85_LEN + 1];
    char my_public[CURVE_Z85_LEN + 1], my_secret[CURVE_Z85_LEN + 1];
    assert_int_equal(zmq_curve_keypair(server_public, server_secret), 0);
    assert_int_equal(zmq_curve_keypair(my_public, my_secret), 0);
    char line[64];
    snprintf(line, sizeof line, "%s\n", server_public);
    s_write("server.pub", line);

    curve_client_t keys;
    char err[512] = "";
    char secret_field[64] = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7  ";
    char *field = secret_field; /* the option check of a CURVE secret: blanks cut */
    assert_int_equal(curve_check_secret(&field, err, sizeof err), 0);
    assert_string_equal(secret_field, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    snprintf(secret_field, sizeof secret_field, "not a key");
    assert_int_equal(curve_check_secret(&field, err, sizeof err), -1);
    assert_null(strstr(err, "not a key"));
    assert_int_equal(curve_client_load(&keys, my_secret, s_path("server.pub"), err, sizeof err), 0);
    assert_string_equal(keys.secret, my_secret);
    assert_string_equal(keys.public_key, my_public); /* derived */
    assert_string_equal(keys.server, server_public);

    assert_int_equal(curve_client_load(&keys, "nope", s_path("server.pub"), err, sizeof err), -1);
    assert_non_null(strstr(err, "secret"));
    assert_int_equal(curve_client_load(&keys, my_secret, s_path("nobody.pub"), err, sizeof err),
                     -1);
    assert_non_null(strstr(err, s_path("nobody.pub")));
}

/*  A CURVE handshake between a server and a client on 127.0.0.1, with the client's idea of
    the server's key given. Returns 1 if a message went through within timeout_ms. */
static int s_handshake(void *ctx, const char *server_secret, const curve_client_t *keys,
                       int timeout_ms)
{
    void *server = zmq_socket(ctx, ZMQ_PAIR);
    void *client = zmq_socket(ctx, ZMQ_PAIR);
    assert_non_null(server);
    assert_non_null(client);
    int zero = 0;
    zmq_setsockopt(server, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(client, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(server, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    assert_int_equal(curve_server_apply(server, server_secret), 0);
    int value = 0;
    size_t size = sizeof value;
    assert_int_equal(zmq_getsockopt(server, ZMQ_CURVE_SERVER, &value, &size), 0);
    assert_int_equal(value, 1);
    char domain[64] = "";
    size = sizeof domain;
    assert_int_equal(zmq_getsockopt(server, ZMQ_ZAP_DOMAIN, domain, &size), 0);
    assert_string_equal(domain, CURVE_ZAP_DOMAIN);
    assert_int_equal(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    char endpoint[128];
    size = sizeof endpoint;
    assert_int_equal(zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, endpoint, &size), 0);

    assert_int_equal(curve_client_apply(client, keys), 0);
    size = sizeof value;
    assert_int_equal(zmq_getsockopt(client, ZMQ_MECHANISM, &value, &size), 0);
    assert_int_equal(value, ZMQ_CURVE);
    assert_int_equal(zmq_connect(client, endpoint), 0);
    assert_int_equal(zmq_send(client, "hello", 5, ZMQ_DONTWAIT), 5);
    char buf[16] = "";
    int n = zmq_recv(server, buf, sizeof buf, 0);
    zmq_close(client);
    zmq_close(server);
    return n == 5 && memcmp(buf, "hello", 5) == 0;
}

static void test_curve_apply(void **state)
{
    (void) state;
    if (!zmq_has("curve")) {
        skip();
    }
    char server_public[CURVE_Z85_LEN + 1], server_secret[CURVE_Z85_LEN + 1];
    char my_public[CURVE_Z85_LEN + 1], my_secret[CURVE_Z85_LEN + 1];
    char other_public[CURVE_Z85_LEN + 1], other_secret[CURVE_Z85_LEN + 1];
    assert_int_equal(zmq_curve_keypair(server_public, server_secret), 0);
    assert_int_equal(zmq_curve_keypair(my_public, my_secret), 0);
    assert_int_equal(zmq_curve_keypair(other_public, other_secret), 0);
    char line[64];
    snprintf(line, sizeof line, "%s\n", server_public);
    s_write("server.pub", line);
    snprintf(line, sizeof line, "%s\n", other_public);
    s_write("other.pub", line);

    void *ctx = zmq_ctx_new();
    assert_non_null(ctx);
    curve_client_t keys;
    char err[512];
    assert_int_equal(curve_client_load(&keys, my_secret, s_path("server.pub"), err, sizeof err), 0);
    assert_true(s_handshake(ctx, server_secret, &keys, 5000));
    /* the wrong server key: nothing gets through */
    assert_int_equal(curve_client_load(&keys, my_secret, s_path("other.pub"), err, sizeof err), 0);
    assert_false(s_handshake(ctx, server_secret, &keys, 300));

    /* a secret that is not Z85: refused by zmq */
    void *socket = zmq_socket(ctx, ZMQ_PAIR);
    assert_int_equal(curve_server_apply(socket, "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"), -1);
    curve_client_t bad;
    memset(&bad, '~', sizeof bad);
    assert_int_equal(curve_client_apply(socket, &bad), -1);
    zmq_close(socket);
    zmq_ctx_term(ctx);
}

static void test_curve_keygen(void **state)
{
    (void) state;
    mode_t old = umask(022);
    char err[512] = "";
    const char *base_path = s_path("node");
    char base[1024];
    snprintf(base, sizeof base, "%s", base_path);
    assert_int_equal(curve_keygen(base, err, sizeof err), 0);

    char public_key[CURVE_Z85_LEN + 1], secret[CURVE_Z85_LEN + 1];
    assert_int_equal(curve_key_read(s_path("node.pub"), public_key, err, sizeof err), 0);
    assert_int_equal(curve_key_read(s_path("node.key"), secret, err, sizeof err), 0);
    char derived[CURVE_Z85_LEN + 1];
    assert_int_equal(zmq_curve_public(derived, secret), 0);
    assert_string_equal(derived, public_key); /* a pair */
    struct stat st;
    assert_int_equal(stat(s_path("node.key"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(s_path("node.pub"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* never overwrites: the old pair stays */
    assert_int_equal(curve_keygen(base, err, sizeof err), -1);
    assert_non_null(strstr(err, "refusing to overwrite"));
    char again[CURVE_Z85_LEN + 1];
    assert_int_equal(curve_key_read(s_path("node.key"), again, err, sizeof err), 0);
    assert_string_equal(again, secret);

    /* the public file exists, the secret not: nothing left behind */
    snprintf(base, sizeof base, "%s", s_path("half"));
    s_write("half.pub", "mine\n");
    assert_int_equal(curve_keygen(base, err, sizeof err), -1);
    assert_non_null(strstr(err, "half.pub"));
    assert_int_equal(access(s_path("half.key"), F_OK), -1);
    char *text = s_slurp(s_path("half.pub"));
    assert_string_equal(text, "mine\n");
    free(text);

    /* a directory that does not exist */
    snprintf(base, sizeof base, "%s", s_path("no/such/dir/node"));
    assert_int_equal(curve_keygen(base, err, sizeof err), -1);
    assert_non_null(strstr(err, "no/such/dir/node.key"));
    umask(old);
}

//  ---------------------------------------------------------------------------------------
//  metrics.h

static void test_metrics_parse_addr(void **state)
{
    (void) state;
    char host[64];
    int port = 0;
    char err[256] = "";
    const char *addr = "127.0.0.1:9100"; /* the option check of --metrics */
    assert_int_equal(metrics_check_addr(&addr, err, sizeof err), 0);
    addr = "nowhere:port";
    assert_int_equal(metrics_check_addr(&addr, err, sizeof err), -1);
    assert_int_equal(metrics_parse_addr("9100", host, sizeof host, &port, err, sizeof err), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 9100);
    assert_int_equal(metrics_parse_addr("0.0.0.0:80", host, sizeof host, &port, err, sizeof err),
                     0);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 80);
    assert_int_equal(metrics_parse_addr("[::1]:65535", host, sizeof host, &port, err, sizeof err),
                     0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 65535);
    assert_int_equal(
        metrics_parse_addr("metrics.local:9200", host, sizeof host, &port, err, sizeof err), 0);
    assert_string_equal(host, "metrics.local");

    const char *bad[] = {"",     "0",         "65536", "abc",   "host:", ":9100",
                         "h:9x", "[::1]9100", "[::1",  "[]:80", "h:-1",  "1:99999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(metrics_parse_addr(bad[i], host, sizeof host, &port, err, sizeof err), -1);
        assert_non_null(strstr(err, bad[i]));
    }
    /* a host longer than the buffer */
    char small[4];
    assert_int_equal(
        metrics_parse_addr("localhost:80", small, sizeof small, &port, err, sizeof err), -1);
}

static double s_half(void *arg)
{
    return (double) metrics_get(arg) / 2;
}

static void test_metrics_registry(void **state)
{
    (void) state;
    int64_t t0 = metrics_now_ms();
    assert_true(t0 > 0);
    metrics_t *metrics = metrics_new();
    assert_non_null(metrics);
    char *text = metrics_render(metrics);
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);

    metrics_value_t events = 0, depth = 0;
    metrics_add(&events, 40);
    metrics_add(&events, 2);
    metrics_set(&depth, -3);
    assert_int_equal(metrics_get(&events), 42);
    assert_int_equal(
        metrics_register(metrics, "herald_events_total", "Events sent.", METRICS_COUNTER, &events),
        0);
    assert_int_equal(
        metrics_register(metrics, "herald_queue_depth", "Queued.", METRICS_GAUGE, &depth), 0);
    assert_int_equal(
        metrics_register_fn(metrics, "herald_half", "Half the events.", s_half, &events), 0);
    text = metrics_render(metrics);
    assert_string_equal(text, "# HELP herald_events_total Events sent.\n"
                              "# TYPE herald_events_total counter\n"
                              "herald_events_total 42\n"
                              "# HELP herald_queue_depth Queued.\n"
                              "# TYPE herald_queue_depth gauge\n"
                              "herald_queue_depth -3\n"
                              "# HELP herald_half Half the events.\n"
                              "# TYPE herald_half gauge\n"
                              "herald_half 21\n");
    free(text);
    metrics_add(&events, 1);
    text = metrics_render(metrics);
    assert_non_null(strstr(text, "herald_events_total 43\n"));
    assert_non_null(strstr(text, "herald_half 21.5\n"));
    free(text);

    /* Prometheus' naming rules are the registry's: refused, and nothing registered */
    assert_int_equal(metrics_register(metrics, "herald_events", "x", METRICS_COUNTER, &events), -1);
    assert_int_equal(metrics_register(metrics, "herald_x_total", "x", METRICS_GAUGE, &depth), -1);
    assert_int_equal(metrics_register(metrics, "events_total", "x", METRICS_COUNTER, &events), -1);
    assert_int_equal(metrics_register(metrics, "herald_Lag", "x", METRICS_GAUGE, &depth), -1);
    assert_int_equal(metrics_register(metrics, "herald_lag-1", "x", METRICS_GAUGE, &depth), -1);
    assert_int_equal(metrics_register(metrics, "herald_", "x", METRICS_GAUGE, &depth), -1);
    assert_int_equal(metrics_register(metrics, "herald_lag", "", METRICS_GAUGE, &depth), -1);
    assert_int_equal(metrics_register_fn(metrics, "herald_fn_total", "x", s_half, &events), -1);
    text = metrics_render(metrics);
    assert_null(strstr(text, "herald_events "));
    assert_null(strstr(text, "herald_lag"));
    free(text);

    /* full at METRICS_MAX */
    for (int i = 3; i < METRICS_MAX; i++) {
        assert_int_equal(metrics_register(metrics, "herald_x", "x", METRICS_GAUGE, &depth), 0);
    }
    assert_int_equal(metrics_register(metrics, "herald_y", "y", METRICS_GAUGE, &depth), -1);
    assert_int_equal(metrics_register_fn(metrics, "herald_z", "z", s_half, &events), -1);

    metrics_destroy(&metrics);
    assert_null(metrics);
    metrics_destroy(&metrics); /* safe twice */
    assert_true(metrics_now_ms() >= t0);

    /* a value kept in ms shown in seconds; an info gauge; the build's */
    metrics = metrics_new();
    metrics_value_t took_ms = 1250;
    assert_int_equal(metrics_register_scaled(metrics, "herald_took_seconds", "Took.", METRICS_GAUGE,
                                             &took_ms, 0.001),
                     0);
    assert_int_equal(metrics_register_info(metrics, "herald_x_info", "Info.", "a=\"1\""), 0);
    assert_int_equal(metrics_register_build_info(metrics, "herald-test"), 0);
    text = metrics_render(metrics);
    assert_non_null(strstr(text, "\nherald_took_seconds 1.25\n"));
    assert_non_null(strstr(text, "# TYPE herald_x_info gauge\nherald_x_info{a=\"1\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE herald_build_info gauge\n"
                                 "herald_build_info{program=\"herald-test\",version=\""));
    assert_non_null(strstr(text, "\",revision=\""));
    free(text);
    metrics_destroy(&metrics);
}

typedef struct {
    atomic_int ready; /* what the readiness check answers */
    atomic_int calls; /* how often it was asked */
} s_ready_t;

static int s_ready(void *arg, char *why, size_t cap)
{
    s_ready_t *r = arg;
    atomic_fetch_add(&r->calls, 1);
    if (!atomic_load(&r->ready)) {
        snprintf(why, cap, "store not open");
        return 0;
    }
    return 1;
}

/*  Starts metrics on a free 127.0.0.1 port (a few tries, in case one is taken meanwhile). */
static int s_start(metrics_t *metrics, char *addr, size_t cap)
{
    char err[256] = "";
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = s_free_port();
        snprintf(addr, cap, "127.0.0.1:%d", port);
        if (metrics_start(metrics, addr, err, sizeof err) == 0) {
            return port;
        }
    }
    fail_msg("metrics_start: %s", err);
    return -1;
}

static void test_metrics_server(void **state)
{
    (void) state;
    metrics_t *metrics = metrics_new();
    assert_non_null(metrics);
    metrics_value_t events = 0, turn = 0;
    s_ready_t ready = {0, 0};
    assert_int_equal(
        metrics_register(metrics, "herald_events_total", "Events sent.", METRICS_COUNTER, &events),
        0);
    assert_int_equal(
        metrics_register_fn(metrics, "herald_half", "Half the events.", s_half, &events), 0);
    metrics_set(&turn, metrics_now_ms());
    metrics_health(metrics, &turn, s_ready, &ready);
    char addr[64];
    int port = s_start(metrics, addr, sizeof addr);
    /* the registry is fixed once started */
    assert_int_equal(metrics_register(metrics, "herald_late", "x", METRICS_GAUGE, &events), -1);

    static char reply[16384];
    metrics_add(&events, 7);
    assert_int_equal(s_http(port, "GET", "/metrics", reply, sizeof reply), 200);
    assert_non_null(strstr(reply, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(reply, "Cache-Control: no-store"));
    assert_string_equal(s_body(reply), "# HELP herald_events_total Events sent.\n"
                                       "# TYPE herald_events_total counter\n"
                                       "herald_events_total 7\n"
                                       "# HELP herald_half Half the events.\n"
                                       "# TYPE herald_half gauge\n"
                                       "herald_half 3.5\n");
    metrics_add(&events, 1000);
    assert_int_equal(s_http(port, "GET", "/metrics", reply, sizeof reply), 200);
    assert_non_null(strstr(s_body(reply), "\nherald_events_total 1007\n"));

    /* alive while the loop turns; ready when the check says so */
    assert_int_equal(s_http(port, "GET", "/healthz", reply, sizeof reply), 200);
    assert_string_equal(s_body(reply), "ok\n");
    assert_int_equal(s_http(port, "GET", "/readyz", reply, sizeof reply), 503);
    assert_string_equal(s_body(reply), "store not open\n");
    atomic_store(&ready.ready, 1);
    assert_int_equal(s_http(port, "GET", "/readyz", reply, sizeof reply), 200);
    assert_string_equal(s_body(reply), "ready\n");
    assert_true(atomic_load(&ready.calls) >= 2);

    /* a loop that stopped turning: neither alive nor ready (the check not even asked) */
    metrics_set(&turn, metrics_now_ms() - METRICS_STALE_MS - 5000);
    int calls = atomic_load(&ready.calls);
    assert_int_equal(s_http(port, "GET", "/healthz", reply, sizeof reply), 503);
    assert_non_null(strstr(s_body(reply), "stale: the loop last turned"));
    assert_int_equal(s_http(port, "GET", "/readyz", reply, sizeof reply), 503);
    assert_non_null(strstr(s_body(reply), "stale"));
    assert_int_equal(atomic_load(&ready.calls), calls);
    metrics_set(&turn, metrics_now_ms());

    /* HEAD answers like GET without a body; other methods and paths are refused */
    assert_int_equal(s_http(port, "HEAD", "/healthz", reply, sizeof reply), 200);
    assert_string_equal(s_body(reply), "");
    assert_int_equal(s_http(port, "POST", "/metrics", reply, sizeof reply), 405);
    assert_int_equal(s_http(port, "GET", "/", reply, sizeof reply), 404);
    assert_non_null(strstr(s_body(reply), "/metrics, /healthz, /readyz"));

    /* the probe, the health subcommand's client */
    char body[128];
    assert_int_equal(health_probe(addr, "/readyz", 2000, body, sizeof body), 200);
    assert_string_equal(body, "ready");
    atomic_store(&ready.ready, 0);
    assert_int_equal(health_probe(addr, "/readyz", 2000, body, sizeof body), 503);
    assert_string_equal(body, "store not open");
    assert_int_equal(health_probe(addr, "/healthz", 2000, body, sizeof body), 200);
    assert_string_equal(body, "ok");
    assert_int_equal(health_probe(addr, "/metrics", 2000, body, sizeof body), 200);
    assert_string_equal(body, "# HELP herald_events_total Events sent.");
    char tiny[6];
    assert_int_equal(health_probe(addr, "/healthz", 2000, tiny, sizeof tiny), 200);
    assert_string_equal(tiny, "ok");

    /* the same port again: in use */
    metrics_t *second = metrics_new();
    char err[256] = "";
    assert_int_equal(metrics_start(second, addr, err, sizeof err), -1);
    assert_non_null(strstr(err, addr));
    assert_int_equal(metrics_start(second, "nonsense", err, sizeof err), -1);
    assert_non_null(strstr(err, "nonsense"));
    metrics_destroy(&second);

    metrics_destroy(&metrics);
    assert_null(metrics);
    /* stopped: nobody answers */
    assert_int_equal(health_probe(addr, "/healthz", 1000, body, sizeof body), -1);
    assert_non_null(strstr(body, addr));
}

/*  Accepts one connection on fd within 3 s, reads the request, answers text and closes. */
typedef struct {
    int fd;
    const char *text;
} s_rogue_t;

static void *s_rogue(void *arg)
{
    s_rogue_t *rogue = arg;
    struct pollfd p = {rogue->fd, POLLIN, 0};
    if (poll(&p, 1, 3000) == 1) {
        int conn = accept(rogue->fd, NULL, NULL);
        if (conn >= 0) {
            char buf[512];
            struct timeval tv = {3, 0};
            setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            ssize_t n = recv(conn, buf, sizeof buf, 0);
            (void) n;
            n = send(conn, rogue->text, strlen(rogue->text), MSG_NOSIGNAL);
            close(conn);
        }
    }
    return NULL;
}

static void test_health_probe_failures(void **state)
{
    (void) state;
    char body[256];
    char addr[64];

    /* a peer that never answers: the deadline holds */
    int port = 0;
    int fd = s_listener(&port);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int64_t start = metrics_now_ms();
    assert_int_equal(health_probe(addr, "/readyz", 300, body, sizeof body), -1);
    int64_t took = metrics_now_ms() - start;
    assert_true(took >= 250 && took < 2500);
    assert_non_null(strstr(body, "no answer"));

    close(fd);

    /* a peer that does not speak HTTP */
    char rogue_addr[64];
    s_rogue_t rogue = {s_listener(&port), "SSH-2.0-OpenSSH_9.2\r\n"};
    snprintf(rogue_addr, sizeof rogue_addr, "127.0.0.1:%d", port);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_rogue, &rogue), 0);
    int status = health_probe(rogue_addr, "/readyz", 3000, body, sizeof body);
    pthread_join(thread, NULL);
    close(rogue.fd);
    assert_int_equal(status, -1);
    assert_non_null(strstr(body, "did not answer HTTP"));

    /* nobody there; not an address */
    assert_int_equal(health_probe(addr, "/readyz", 1000, body, sizeof body), -1);
    assert_non_null(strstr(body, "connect"));
    assert_int_equal(health_probe("nope:x", "/readyz", 1000, body, sizeof body), -1);
    assert_non_null(strstr(body, "nope:x"));
}

static int s_health(char **argv, int argc, char **out)
{
    s_capture_t cap;
    s_capture_begin(&cap, STDOUT_FILENO, NULL);
    int rc = health_main("herald-test", argc, argv);
    *out = s_capture_end(&cap);
    return rc;
}

static void test_health_main(void **state)
{
    (void) state;
    unsetenv(METRICS_ENV);
    char *out = NULL;
    char *help[] = {"health", "--help"};
    assert_int_equal(s_health(help, 2, &out), 0);
    assert_non_null(strstr(out, "usage: herald-test health [--metrics ADDR]"));
    free(out);
    char *none[] = {"health"};
    assert_int_equal(s_health(none, 1, &out), 2);
    free(out);
    char *unknown[] = {"health", "--verbose"};
    assert_int_equal(s_health(unknown, 2, &out), 2);
    free(out);
    char *bad[] = {"health", "--metrics", "host:0"};
    assert_int_equal(s_health(bad, 3, &out), 2);
    free(out);
    char *dangling[] = {"health", "--metrics"};
    assert_int_equal(s_health(dangling, 2, &out), 2);
    free(out);

    metrics_t *metrics = metrics_new();
    assert_non_null(metrics);
    s_ready_t ready = {1, 0};
    metrics_health(metrics, NULL, s_ready, &ready);
    char addr[64];
    s_start(metrics, addr, sizeof addr);
    char flag[80];
    snprintf(flag, sizeof flag, "--metrics=%s", addr);
    char *ok[] = {"health", flag};
    assert_int_equal(s_health(ok, 2, &out), 0);
    assert_string_equal(out, "ready\n");
    free(out);
    atomic_store(&ready.ready, 0);
    char *spaced[] = {"health", "--metrics", addr};
    assert_int_equal(s_health(spaced, 3, &out), 1);
    assert_string_equal(out, "");
    free(out);
    /* ADDR from the environment */
    atomic_store(&ready.ready, 1);
    setenv(METRICS_ENV, addr, 1);
    assert_int_equal(s_health(none, 1, &out), 0);
    free(out);
    /* no readiness check: ready when alive */
    metrics_health(metrics, NULL, NULL, NULL);
    atomic_store(&ready.ready, 0);
    assert_int_equal(s_health(none, 1, &out), 0);
    free(out);
    metrics_destroy(&metrics);
    /* unreachable */
    assert_int_equal(s_health(none, 1, &out), 1);
    free(out);
    unsetenv(METRICS_ENV);
}

//  ---------------------------------------------------------------------------------------
//  clock.h

static void test_clock_ms(void **state)
{
    (void) state;
    int64_t a = clock_ms(CLOCK_MONOTONIC);
    struct timespec pause = {0, 20 * 1000000L};
    nanosleep(&pause, NULL);
    int64_t b = clock_ms(CLOCK_MONOTONIC);
    assert_true(b - a >= 19 && b - a < 5000);
    int64_t now = clock_ms(CLOCK_REALTIME);
    int64_t secs = (int64_t) time(NULL);
    assert_true(now / 1000 >= secs - 1 && now / 1000 <= secs + 1);
}

static void test_clock_parse_rfc3339(void **state)
{
    (void) state;
    const struct {
        const char *text;
        int64_t ms;
    } valid[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2026-11-28T10:00:00Z", 1795860000000},
        {"2026-11-28t10:00:00z", 1795860000000},
        {"2026-11-28 10:00:00Z", 1795860000000},
        {"2026-11-28T10:00:00.5Z", 1795860000500},
        {"2026-11-28T10:00:00.123456Z", 1795860000123},
        {"2026-11-28T11:30:00+01:30", 1795860000000},
        {"2026-11-28T05:00:00-05:00", 1795860000000},
        {"2024-02-29T00:00:00Z", 1709164800000},
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(clock_parse_rfc3339(valid[i].text, &ms), 0);
        assert_int_equal(ms, valid[i].ms);
    }
    const char *refused[] = {
        "",
        "2026-11-28",
        "2026-11-28T10:00:00",      /* no offset */
        "2026-11-28T10:00Z",        /* no seconds */
        "2026-11-28T10:00:00.Z",    /* an empty fraction */
        "2026-11-28T10:00:00+0100", /* the offset without its colon */
        "2026-11-28T10:00:00+24:00",
        "2026-11-28T10:00:00Zjunk",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-02-30T00:00:00Z", /* does not exist */
        "2025-02-29T00:00:00Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T10:60:00Z",
        "2026-11-28X10:00:00Z",
        "26-11-28T10:00:00Z",
        "latest",
        "12345",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int64_t ms = 42;
        assert_int_equal(clock_parse_rfc3339(refused[i], &ms), -1);
        assert_int_equal(ms, 42);
    }
}

//  ---------------------------------------------------------------------------------------
//  log.h: the rate limit

static void test_log_limit(void **state)
{
    (void) state;
    log_limit_t limit = {0};
    int64_t count = 0;
    assert_true(log_limit_pass(&limit, 5000, 1000, &count)); /* the first one */
    assert_int_equal(count, 1);
    assert_false(log_limit_pass(&limit, 5100, 1000, &count));
    assert_false(log_limit_pass(&limit, 5999, 1000, &count));
    assert_true(log_limit_quiet(&limit, 5999, 1000));
    assert_false(log_limit_quiet(&limit, 6000, 1000));
    assert_true(log_limit_pass(&limit, 6000, 1000, &count)); /* stands for three */
    assert_int_equal(count, 3);
    assert_false(log_limit_pass(&limit, 6500, 1000, &count));
    log_limit_wrote(&limit, 6600); /* a line of the caller's own */
    assert_int_equal(limit.unlogged, 0);
    assert_true(log_limit_quiet(&limit, 7599, 1000));
    assert_true(log_limit_pass(&limit, 7600, 1000, &count));
    assert_int_equal(count, 1);
    log_limit_t fresh = {0};
    assert_false(log_limit_quiet(&fresh, 1, 1000));
}

//  ---------------------------------------------------------------------------------------
//  sockopt.h

static void test_sockopt_set_int(void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new();
    void *socket = zmq_socket(ctx, ZMQ_SUB);
    assert_int_equal(sockopt_set_int(socket, ZMQ_RCVHWM, 1234), 0);
    int value = 0;
    size_t size = sizeof value;
    assert_int_equal(zmq_getsockopt(socket, ZMQ_RCVHWM, &value, &size), 0);
    assert_int_equal(value, 1234);
    assert_int_equal(sockopt_set_int(socket, ZMQ_LINGER, 0), 0);
    assert_int_equal(sockopt_set_int(socket, -12345, 1), -1);
    assert_int_equal(errno, EINVAL);
    zmq_close(socket);
    zmq_ctx_term(ctx);
}

static void test_log_printable(void **state)
{
    (void) state;
    char out[8];
    log_printable(out, sizeof out, "tcp\x01:\xff", 6);
    assert_string_equal(out, "tcp?:?");
    log_printable(out, sizeof out, "0123456789", 10); /* cut to fit */
    assert_string_equal(out, "0123456");
    log_printable(out, sizeof out, NULL, 0);
    assert_string_equal(out, "");
}

/*  Sends frames (count of them, each a NUL-terminated string but the first, 6 bytes) on
    socket as one message. */
static void s_send_event(void *socket, const char *const *frames, int count)
{
    for (int i = 0; i < count; i++) {
        size_t len = i == 0 ? 6 : strlen(frames[i]);
        assert_int_equal(zmq_send(socket, frames[i], len, i + 1 < count ? ZMQ_SNDMORE : 0),
                         (int) len);
    }
}

static void test_sockmon_read(void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new();
    void *in = zmq_socket(ctx, ZMQ_PAIR);
    void *out = zmq_socket(ctx, ZMQ_PAIR);
    assert_int_equal(zmq_bind(in, "inproc://sockmon_test"), 0);
    assert_int_equal(zmq_connect(out, "inproc://sockmon_test"), 0);
    sockmon_event_t event;
    assert_int_equal(sockmon_read(in, &event), 0); /* nothing waiting */

    /* a real event, from a real monitor */
    void *watched = zmq_socket(ctx, ZMQ_PUB);
    assert_int_equal(zmq_socket_monitor(watched, "inproc://sockmon_real", ZMQ_EVENT_LISTENING), 0);
    void *pair = zmq_socket(ctx, ZMQ_PAIR);
    assert_int_equal(zmq_connect(pair, "inproc://sockmon_real"), 0);
    assert_int_equal(zmq_bind(watched, "tcp://127.0.0.1:*"), 0);
    zmq_pollitem_t item = {pair, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&item, 1, 5000), 1);
    assert_int_equal(sockmon_read(pair, &event), 1);
    assert_int_equal(event.event, ZMQ_EVENT_LISTENING);
    assert_non_null(strstr(event.endpoint, "tcp://127.0.0.1:"));
    zmq_socket_monitor(watched, NULL, 0);
    zmq_close(pair);
    zmq_close(watched);

    /* [event 0x0200, value 7][endpoint with a control byte] */
    char head[6] = {0};
    uint16_t code = 0x0200;
    uint32_t value = 7;
    memcpy(head, &code, sizeof code);
    memcpy(head + 2, &value, sizeof value);
    const char *const good[] = {head, "tcp://x\n"};
    s_send_event(out, good, 2);
    assert_int_equal(sockmon_read(in, &event), 1);
    assert_int_equal(event.event, 0x0200);
    assert_int_equal(event.value, 7);
    assert_string_equal(event.endpoint, "tcp://x?");

    /* three frames: the third drained, not taken for the next message; one frame: skipped */
    const char *const three[] = {head, "a", "b"};
    s_send_event(out, three, 3);
    s_send_event(out, good, 1);
    s_send_event(out, good, 2);
    assert_int_equal(sockmon_read(in, &event), 1);
    assert_string_equal(event.endpoint, "a");
    assert_int_equal(sockmon_read(in, &event), -1);
    assert_int_equal(sockmon_read(in, &event), 1);
    assert_string_equal(event.endpoint, "tcp://x?");
    assert_int_equal(sockmon_read(in, &event), 0);

    zmq_close(in);
    zmq_close(out);
    zmq_ctx_term(ctx);
}

//  ---------------------------------------------------------------------------------------
//  options.h

typedef struct {
    const char *name;   /* --name */
    int count;          /* --count */
    int64_t big;        /* --big */
    bool loud;          /* --loud, -l */
    option_list_t tags; /* --tag */
    int level;          /* --level */
    int64_t every_ms;   /* --every */
    const char *secret; /* HERALD_T_SECRET, --t-secret-file */
    const char *port;   /* --port, HERALD_T_PORT_NUMBER */
} s_opts_t;

typedef struct {
    const char *where; /* --where, a plug-in's */
} s_plugin_t;

static int s_check_port(void *field, char *why, size_t cap)
{
    const char *port = *(const char **) field;
    if (strspn(port, "0123456789") != strlen(port)) {
        snprintf(why, cap, "'%s' is not a port", port);
        return -1;
    }
    return 0;
}

static int s_check_secret(void *field, char *why, size_t cap)
{
    char *secret = *(char **) field;
    secret[strcspn(secret, " ")] = '\0'; /* normalized in place */
    if (strlen(secret) < 4) {
        snprintf(why, cap, "too short");
        return -1;
    }
    return 0;
}

static const char *const s_levels_words[] = {"low", "mid", "high", NULL};

#define S_F(field) .offset = offsetof(s_opts_t, field)
static const option_t s_table[] = {{.name = "name",
                                    .kind = OPTION_STRING,
                                    S_F(name),
                                    .arg = "NAME",
                                    .short_name = 'n',
                                    .env = "HERALD_T_NAME",
                                    .flags = OPTION_REQUIRED,
                                    .help = "a name"},
                                   {.name = "count",
                                    .kind = OPTION_INT,
                                    S_F(count),
                                    .arg = "N",
                                    .env = "HERALD_T_COUNT",
                                    .min = 1,
                                    .max = 10,
                                    .def = "3",
                                    .help = "how many"},
                                   {.name = "big",
                                    .kind = OPTION_INT64,
                                    S_F(big),
                                    .arg = "N",
                                    .env = "HERALD_T_BIG",
                                    .min = 0,
                                    .max = INT64_MAX,
                                    .what = "a big number",
                                    .help = "a big one"},
                                   {.name = "loud",
                                    .kind = OPTION_BOOL,
                                    S_F(loud),
                                    .short_name = 'l',
                                    .env = "HERALD_T_LOUD",
                                    .help = "shout"},
                                   {.name = "tag",
                                    .kind = OPTION_LIST,
                                    S_F(tags),
                                    .arg = "TAG",
                                    .env = "HERALD_T_TAG",
                                    .max = 3,
                                    .help = "tags\nmore than one line"},
                                   {.name = "level",
                                    .kind = OPTION_ENUM,
                                    S_F(level),
                                    .arg = "L",
                                    .env = "HERALD_T_LEVEL",
                                    .words = s_levels_words,
                                    .def = "mid",
                                    .help = "a level"},
                                   {.name = "every",
                                    .kind = OPTION_DURATION,
                                    S_F(every_ms),
                                    .arg = "D",
                                    .env = "HERALD_T_EVERY",
                                    .min = 0,
                                    .max = 86400000,
                                    .def = "15m",
                                    .help = "how often"},
                                   {.name = "t-secret",
                                    .kind = OPTION_SECRET,
                                    S_F(secret),
                                    .arg = "FILE",
                                    .check = s_check_secret,
                                    .help = "the secret"},
                                   {.name = "port",
                                    .kind = OPTION_STRING,
                                    S_F(port),
                                    .arg = "PORT",
                                    .env = "HERALD_T_PORT_NUMBER",
                                    .check = s_check_port,
                                    .help = "a port"},
                                   OPTION_END};
#undef S_F

static const option_t s_plugin_table[] = {{.name = "where",
                                           .kind = OPTION_STRING,
                                           .offset = offsetof(s_plugin_t, where),
                                           .arg = "W",
                                           .def = "here",
                                           .help = "a plug-in's option"},
                                          OPTION_END};

static const char *const s_test_vars[] = {
    "HERALD_T_NAME",        "HERALD_T_COUNT",       "HERALD_T_BIG",   "HERALD_T_LOUD",
    "HERALD_T_TAG",         "HERALD_T_LEVEL",       "HERALD_T_EVERY", "HERALD_T_SECRET",
    "HERALD_T_SECRET_FILE", "HERALD_T_PORT_NUMBER", "HERALD_WHERE",   NULL};

static int s_options_clean(void **state)
{
    (void) state;
    for (size_t i = 0; s_test_vars[i]; i++) {
        unsetenv(s_test_vars[i]);
    }
    return 0;
}

/*  One parse of argv (NULL-terminated) with both groups; the result, stderr in *err (the
    caller frees it), the object in *out (NULL: destroyed here). */
typedef struct {
    s_opts_t opts;
    s_plugin_t plugin;
    option_group_t groups[3];
    options_spec_t spec;
} s_fixture_t;

static void s_fixture(s_fixture_t *f)
{
    memset(f, 0, sizeof *f);
    f->groups[0] = (option_group_t){NULL, s_table, &f->opts};
    f->groups[1] = (option_group_t){"plug-in:", s_plugin_table, &f->plugin};
    f->spec = (options_spec_t){.program = "herald-test",
                               .usage = "herald-test --name NAME [OPTIONS]",
                               .about = "Tests options.",
                               .epilog = "Exit status: 0, 1, 2.",
                               .groups = f->groups,
                               .print_config = true};
}

static int s_parse_args(s_fixture_t *f, char **argv, int *first, options_t **out, char **err)
{
    int argc = 0;
    while (argv[argc]) {
        argc++;
    }
    options_t *options = options_new(&f->spec);
    assert_non_null(options);
    s_capture_t cap;
    s_capture_begin(&cap, STDERR_FILENO, NULL);
    int rc = options_parse(options, argc, argv, first);
    *err = s_capture_end(&cap);
    if (out) {
        *out = options;
    } else {
        options_destroy(&options);
    }
    return rc;
}

static void test_options_values(void **state)
{
    (void) state;
    s_fixture_t f;
    s_fixture(&f);
    char *err = NULL;
    options_t *options = NULL;
    char *argv[] = {"herald-test", "--name", "one",     "--count=7", "--big", "9000000000", "-l",
                    "--tag",       "a",      "--tag=b", "--level",   "high",  "--every",    "30s",
                    "--port",      "80",     "--where", "there",     NULL};
    assert_int_equal(s_parse_args(&f, argv, NULL, &options, &err), OPTIONS_RUN);
    assert_string_equal(err, "");
    free(err);
    assert_string_equal(f.opts.name, "one");
    assert_int_equal(f.opts.count, 7);
    assert_int_equal(f.opts.big, 9000000000LL);
    assert_true(f.opts.loud);
    assert_int_equal(f.opts.tags.count, 2);
    assert_string_equal(f.opts.tags.items[0], "a");
    assert_string_equal(f.opts.tags.items[1], "b");
    assert_int_equal(f.opts.level, 2);
    assert_int_equal(f.opts.every_ms, 30000);
    assert_null(f.opts.secret);
    assert_string_equal(f.opts.port, "80");
    assert_string_equal(f.plugin.where, "there");
    assert_string_equal(options_source(options, "count"), "--count");
    assert_string_equal(options_source(options, "loud"), "-l");
    assert_null(options_source(options, "nope"));
    assert_true(options_given(options, "name"));
    assert_false(options_given(options, "t-secret"));
    assert_false(options_given(options, "nope"));
    assert_false(options_want_config(options));
    options_destroy(&options);
    assert_null(options);
    options_destroy(&options); /* twice */

    /* defaults, set by options_new already */
    s_fixture(&f);
    options = options_new(&f.spec);
    assert_int_equal(f.opts.count, 3);
    assert_int_equal(f.opts.level, 1);
    assert_int_equal(f.opts.every_ms, 900000);
    assert_string_equal(f.plugin.where, "here");
    assert_null(f.opts.name);
    assert_false(f.opts.loud);
    options_destroy(&options);

    /* the environment; flags win, a list's flags replace its variable's list */
    setenv("HERALD_T_NAME", "env-name", 1);
    setenv("HERALD_T_COUNT", "5", 1);
    setenv("HERALD_T_LOUD", "yes", 1);
    setenv("HERALD_T_TAG", "x,y,,z", 1);
    setenv("HERALD_T_EVERY", "0", 1);
    setenv("HERALD_WHERE", "env-where", 1);
    setenv("HERALD_T_PORT_NUMBER", "", 1); /* empty is unset */
    s_fixture(&f);
    char *env_only[] = {"herald-test", NULL};
    assert_int_equal(s_parse_args(&f, env_only, NULL, &options, &err), OPTIONS_RUN);
    free(err);
    assert_string_equal(f.opts.name, "env-name");
    assert_int_equal(f.opts.count, 5);
    assert_true(f.opts.loud);
    assert_int_equal(f.opts.tags.count, 3);
    assert_string_equal(f.opts.tags.items[2], "z");
    assert_int_equal(f.opts.every_ms, 0);
    assert_string_equal(f.plugin.where, "env-where");
    assert_null(f.opts.port);
    assert_string_equal(options_source(options, "name"), "HERALD_T_NAME");
    assert_true(options_given(options, "tag"));
    assert_false(options_given(options, "port"));
    options_destroy(&options);
    s_fixture(&f);
    char *flags_win[] = {"herald-test", "-n", "flag-name", "--tag", "only", "--loud=no", NULL};
    assert_int_equal(s_parse_args(&f, flags_win, NULL, NULL, &err), OPTIONS_RUN);
    free(err);
    assert_string_equal(f.opts.name, "flag-name");
    assert_int_equal(f.opts.tags.count, 1);
    assert_string_equal(f.opts.tags.items[0], "only");
    assert_false(f.opts.loud);
    s_options_clean(NULL);

    /* arguments after the options */
    s_fixture(&f);
    char *args[] = {"herald-test", "first", "--name", "n", "second", NULL};
    int first = 0;
    assert_int_equal(s_parse_args(&f, args, &first, NULL, &err), OPTIONS_RUN);
    free(err);
    assert_int_equal(first, 3);
    assert_string_equal(args[first], "first");
    assert_string_equal(args[first + 1], "second");
    assert_string_equal(f.opts.name, "n");
    s_fixture(&f);
    char *args2[] = {"herald-test", "--name", "n", "--", "--count", NULL};
    assert_int_equal(s_parse_args(&f, args2, &first, NULL, &err), OPTIONS_RUN);
    free(err);
    assert_string_equal(args2[first], "--count");
    assert_int_equal(f.opts.count, 3);

    /* stop_at_command: the first argument ends the options */
    s_fixture(&f);
    f.spec.stop_at_command = true;
    char *command[] = {"herald-test", "--name", "n", "run", "--count", "99", NULL};
    assert_int_equal(s_parse_args(&f, command, &first, NULL, &err), OPTIONS_RUN);
    free(err);
    assert_string_equal(command[first], "run");
    assert_int_equal(f.opts.count, 3);
}

/*  Parses argv and expects a usage error whose message has each of needles and none of
    the words in hidden. */
static void s_refused(char **argv, const char *const *needles, const char *hidden)
{
    s_fixture_t f;
    s_fixture(&f);
    char *err = NULL;
    assert_int_equal(s_parse_args(&f, argv, NULL, NULL, &err), OPTIONS_USAGE);
    for (size_t i = 0; needles[i]; i++) {
        if (!strstr(err, needles[i])) {
            fail_msg("'%s' lacks '%s'", err, needles[i]);
        }
    }
    assert_non_null(strstr(err, "herald-test: "));
    assert_non_null(strstr(err, "Try 'herald-test --help'."));
    if (hidden) {
        assert_null(strstr(err, hidden));
    }
    free(err);
}

static void test_options_refusals(void **state)
{
    (void) state;
#define S_REFUSED(hidden, ...)                                                                     \
    do {                                                                                           \
        char *argv_[] = {"herald-test", __VA_ARGS__, NULL};                                        \
        const char *const needles_[] = {S_NEEDLES, NULL};                                          \
        s_refused(argv_, needles_, hidden);                                                        \
    } while (0)
#define S_NEEDLES "missing --name (or HERALD_T_NAME)"
    S_REFUSED(NULL, "--count", "2");
#undef S_NEEDLES
#define S_NEEDLES "--count: '11' is not a number in 1..10"
    S_REFUSED(NULL, "-n", "x", "--count", "11");
#undef S_NEEDLES
#define S_NEEDLES "--big: not a big number (-1)"
    S_REFUSED(NULL, "-n", "x", "--big=-1");
#undef S_NEEDLES
#define S_NEEDLES "--level: 'top' is not one of low, mid, high"
    S_REFUSED(NULL, "-n", "x", "--level", "top");
#undef S_NEEDLES
#define S_NEEDLES "--every: '5' is not a duration"
    S_REFUSED(NULL, "-n", "x", "--every", "5");
#undef S_NEEDLES
#define S_NEEDLES "--every: '2d' is not a duration (250ms, 30s, 15m, 1h, 1d) in 0..1d"
    S_REFUSED(NULL, "-n", "x", "--every", "2d");
#undef S_NEEDLES
#define S_NEEDLES "--loud: 'maybe' is not 1/0, true/false or yes/no"
    S_REFUSED(NULL, "-n", "x", "--loud=maybe");
#undef S_NEEDLES
#define S_NEEDLES "--tag: more than 3 values"
    S_REFUSED(NULL, "-n", "x", "--tag", "1", "--tag", "2", "--tag", "3", "--tag", "4");
#undef S_NEEDLES
#define S_NEEDLES "--port: 'http' is not a port"
    S_REFUSED(NULL, "-n", "x", "--port", "http");
#undef S_NEEDLES
#define S_NEEDLES "--count needs a value"
    S_REFUSED(NULL, "-n", "x", "--count");
#undef S_NEEDLES
#define S_NEEDLES "-n needs a value"
    S_REFUSED(NULL, "-n");
#undef S_NEEDLES
#define S_NEEDLES "unknown option '--colour'"
    S_REFUSED("hush", "-n", "x", "--colour=hush");
#undef S_NEEDLES
#define S_NEEDLES "unknown option '-z'"
    S_REFUSED(NULL, "-n", "x", "-z");
#undef S_NEEDLES
#define S_NEEDLES "unknown option '--cou'" /* an abbreviation */
    S_REFUSED(NULL, "-n", "x", "--cou", "4");
#undef S_NEEDLES
#define S_NEEDLES "unexpected argument 'extra'"
    S_REFUSED(NULL, "-n", "x", "extra");
#undef S_NEEDLES
    /* a secret on the command line: refused, never echoed, also as a flag's prefix */
#define S_NEEDLES "--t-secret is not taken on the command line", "HERALD_T_SECRET"
    S_REFUSED("hunter2", "-n", "x", "--t-secret=hunter2");
    S_REFUSED("hunter2", "-n", "x", "--t-secret", "hunter2");
#undef S_NEEDLES

    /* the variables, named */
    setenv("HERALD_T_COUNT", "many", 1);
#define S_NEEDLES "HERALD_T_COUNT: 'many' is not a number in 1..10"
    S_REFUSED(NULL, "-n", "x");
#undef S_NEEDLES
    unsetenv("HERALD_T_COUNT");
    setenv("HERALD_T_TAG", "a,b,c,d", 1);
#define S_NEEDLES "HERALD_T_TAG: more than 3 values"
    S_REFUSED(NULL, "-n", "x");
#undef S_NEEDLES
    unsetenv("HERALD_T_TAG");
    setenv("HERALD_T_PORT_NUMBER", "http", 1);
#define S_NEEDLES "HERALD_T_PORT_NUMBER: 'http' is not a port"
    S_REFUSED(NULL, "-n", "x");
#undef S_NEEDLES
    s_options_clean(NULL);
#undef S_REFUSED
}

static void test_options_secret(void **state)
{
    (void) state;
    s_fixture_t f;
    char *err = NULL;
    options_t *options = NULL;

    /* from the variable, normalized by the check */
    setenv("HERALD_T_SECRET", "hunter2 trailing", 1);
    s_fixture(&f);
    char *plain[] = {"herald-test", "-n", "x", NULL};
    assert_int_equal(s_parse_args(&f, plain, NULL, &options, &err), OPTIONS_RUN);
    free(err);
    assert_string_equal(f.opts.secret, "hunter2");
    assert_string_equal(options_source(options, "t-secret"), "HERALD_T_SECRET");
    assert_true(options_given(options, "t-secret"));
    options_destroy(&options);

    /* from a file, by the flag or by the variable */
    unsetenv("HERALD_T_SECRET");
    s_write("t.secret", "from-file\nsecond line\n");
    char path[1100];
    snprintf(path, sizeof path, "%s", s_path("t.secret"));
    s_fixture(&f);
    char *by_flag[] = {"herald-test", "-n", "x", "--t-secret-file", path, NULL};
    assert_int_equal(s_parse_args(&f, by_flag, NULL, &options, &err), OPTIONS_RUN);
    free(err);
    assert_string_equal(f.opts.secret, "from-file");
    assert_string_equal(options_source(options, "t-secret"), "--t-secret-file");
    json_t *config = options_config(options);
    assert_string_equal(json_string_value(json_object_get(config, "t_secret")), "***");
    assert_string_equal(json_string_value(json_object_get(config, "t_secret_file")), path);
    json_decref(config);
    options_destroy(&options);
    setenv("HERALD_T_SECRET_FILE", path, 1);
    s_fixture(&f);
    assert_int_equal(s_parse_args(&f, plain, NULL, NULL, &err), OPTIONS_RUN);
    free(err);

    /* both ways: refused naming both variables (and the flag), never showing the secret */
    setenv("HERALD_T_SECRET", "hunter2", 1);
    s_fixture(&f);
    assert_int_equal(s_parse_args(&f, plain, NULL, NULL, &err), OPTIONS_USAGE);
    assert_non_null(strstr(err, "HERALD_T_SECRET and HERALD_T_SECRET_FILE are both set"));
    assert_null(strstr(err, "hunter2"));
    free(err);
    unsetenv("HERALD_T_SECRET_FILE");
    s_fixture(&f);
    assert_int_equal(s_parse_args(&f, by_flag, NULL, NULL, &err), OPTIONS_USAGE);
    assert_non_null(strstr(err, "HERALD_T_SECRET and HERALD_T_SECRET_FILE (or --t-secret-file)"));
    assert_null(strstr(err, "hunter2"));
    free(err);

    /* refused by its check: named, not shown */
    setenv("HERALD_T_SECRET", "abc", 1);
    s_fixture(&f);
    assert_int_equal(s_parse_args(&f, plain, NULL, NULL, &err), OPTIONS_USAGE);
    assert_non_null(strstr(err, "HERALD_T_SECRET: too short"));
    assert_null(strstr(err, "abc"));
    free(err);
    unsetenv("HERALD_T_SECRET");
    s_write("short.secret", "abc\n");
    char short_path[1100];
    snprintf(short_path, sizeof short_path, "%s", s_path("short.secret"));
    char *short_flag[] = {"herald-test", "-n", "x", "--t-secret-file", short_path, NULL};
    s_fixture(&f);
    assert_int_equal(s_parse_args(&f, short_flag, NULL, NULL, &err), OPTIONS_USAGE);
    assert_non_null(strstr(err, "--t-secret-file"));
    assert_non_null(strstr(err, "too short"));
    free(err);

    /* a missing file, an empty first line */
    char *missing[] = {"herald-test", "-n", "x", "--t-secret-file", "/nonexistent/s", NULL};
    s_fixture(&f);
    assert_int_equal(s_parse_args(&f, missing, NULL, NULL, &err), OPTIONS_USAGE);
    assert_non_null(strstr(err, "--t-secret-file /nonexistent/s: No such file"));
    free(err);
    s_write("empty.secret", "\nsecond\n");
    snprintf(short_path, sizeof short_path, "%s", s_path("empty.secret"));
    s_fixture(&f);
    assert_int_equal(s_parse_args(&f, short_flag, NULL, NULL, &err), OPTIONS_USAGE);
    assert_non_null(strstr(err, "the first line is empty"));
    free(err);
    s_options_clean(NULL);
}

static void test_options_help_and_config(void **state)
{
    (void) state;
    s_fixture_t f;
    s_fixture(&f);
    char *err = NULL;
    options_t *options = NULL;

    /* --help: exit 0, every option, its variable, range, words and default, the groups */
    s_capture_t cap;
    char out_path[1100];
    snprintf(out_path, sizeof out_path, "%s", s_path("help.out"));
    s_write("help.out", "");
    s_capture_begin(&cap, STDOUT_FILENO, out_path); /* s_parse_args captures stderr */
    char *help_argv[] = {"herald-test", "--count", "1", "--help", NULL};
    assert_int_equal(s_parse_args(&f, help_argv, NULL, NULL, &err), OPTIONS_HELP);
    s_capture_end(&cap);
    char *help = s_slurp(out_path);
    assert_non_null(help);
    free(err);
    assert_int_equal(options_exit_status(OPTIONS_HELP), 0);
    const char *expected[] = {"usage: herald-test --name NAME [OPTIONS]",
                              "Tests options.",
                              "  -n, --name NAME",
                              "[HERALD_T_NAME; required]",
                              "[HERALD_T_COUNT; 1..10; default 3]",
                              "  -l, --loud",
                              "[HERALD_T_LOUD=1]",
                              "tags\n                            more than one line",
                              "[HERALD_T_TAG; repeatable, a comma-separated list",
                              "[HERALD_T_LEVEL; low|mid|high; default mid]",
                              "[HERALD_T_EVERY; 0..1d; default 15m]",
                              "  --t-secret-file FILE",
                              "[HERALD_T_SECRET_FILE, or the secret itself in\n",
                              "HERALD_T_SECRET; never on the command line]",
                              "[HERALD_T_PORT_NUMBER]",
                              "plug-in:\n  --where W",
                              "[HERALD_WHERE; default here]",
                              "  -h, --help",
                              "  --print-config",
                              "Exit status: 0, 1, 2.\n"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        if (!strstr(help, expected[i])) {
            fprintf(stderr, "%s", help);
            fail_msg("--help lacks '%s'", expected[i]);
        }
    }
    char *line = help;
    while (line && *line) {
        size_t len = strcspn(line, "\n");
        assert_true(len <= 100);
        line += len + (line[len] == '\n');
    }
    free(help);

    /* --print-config: every effective value, defaults included, the secret as "***" */
    setenv("HERALD_T_SECRET", "hunter2", 1);
    s_fixture(&f);
    char *config_argv[] = {"herald-test", "-n", "x", "--tag", "a", "--print-config", NULL};
    assert_int_equal(s_parse_args(&f, config_argv, NULL, &options, &err), OPTIONS_RUN);
    free(err);
    assert_true(options_want_config(options));
    s_capture_begin(&cap, STDOUT_FILENO, NULL);
    assert_int_equal(options_print_config(options), 0);
    char *printed = s_capture_end(&cap);
    assert_null(strstr(printed, "hunter2"));
    json_error_t error;
    json_t *config = json_loads(printed, 0, &error);
    free(printed);
    assert_non_null(config);
    json_t *want = json_pack("{s:s,s:i,s:i,s:b,s:[s],s:s,s:s,s:n,s:s,s:n,s:s}", "name", "x",
                             "count", 3, "big", 0, "loud", 0, "tag", "a", "level", "mid", "every",
                             "15m", "t_secret_file", "t_secret", "***", "port", "where", "here");
    assert_true(json_equal(config, want));
    json_decref(want);
    json_decref(config);
    options_destroy(&options);
    s_options_clean(NULL);

    /* options_usage, options_exit_status */
    s_fixture(&f);
    f.spec.command = "sub";
    options = options_new(&f.spec);
    s_capture_begin(&cap, STDERR_FILENO, NULL);
    assert_int_equal(options_usage(options, "a %s problem", "big"), OPTIONS_EXIT_USAGE);
    char *usage = s_capture_end(&cap);
    assert_string_equal(usage, "herald-test: sub: a big problem\nTry 'herald-test sub --help'.\n");
    free(usage);
    FILE *sink = fopen("/dev/null", "w");
    assert_non_null(sink);
    options_help(options, sink);
    fclose(sink);
    options_destroy(&options);
    assert_int_equal(options_exit_status(OPTIONS_RUN), 0);
    assert_int_equal(options_exit_status(OPTIONS_USAGE), 2);
    assert_int_equal(options_exit_status(OPTIONS_FAILED), 1);
}

/*  options_read's program checks for the test: refuses --count 7, counts its calls. */
static int s_verify_count(options_t *options, void *arg)
{
    s_fixture_t *f = arg;
    f->plugin.where = "verified";
    if (f->opts.count == 7) {
        return options_usage(options, "seven is refused");
    }
    return 0;
}

static int s_print_name(const options_t *options, void *arg)
{
    s_fixture_t *f = arg;
    assert_true(options_given(options, "name"));
    printf("name %s\n", f->opts.name);
    return 0;
}

static void test_options_read(void **state)
{
    (void) state;
    s_fixture_t f;
    int status = -1;
    s_capture_t cap;

    /* runs: the object, status 0, verify called */
    s_fixture(&f);
    char *run_argv[] = {"herald-test", "-n", "x", NULL};
    options_t *options = options_read(&f.spec, 3, run_argv, s_verify_count, NULL, &f, &status);
    assert_non_null(options);
    assert_int_equal(status, 0);
    assert_string_equal(f.plugin.where, "verified");
    assert_string_equal(options_source(options, "name"), "-n");
    options_destroy(&options);

    /* the program's refusal: NULL, its exit status, its message */
    s_fixture(&f);
    char *refused_argv[] = {"herald-test", "-n", "x", "--count", "7", NULL};
    s_capture_begin(&cap, STDERR_FILENO, NULL);
    options = options_read(&f.spec, 5, refused_argv, s_verify_count, NULL, &f, &status);
    char *err = s_capture_end(&cap);
    assert_null(options);
    assert_int_equal(status, OPTIONS_EXIT_USAGE);
    assert_non_null(strstr(err, "herald-test: seven is refused"));
    free(err);

    /* a refusal of options_parse: verify is not called */
    s_fixture(&f);
    char *bad_argv[] = {"herald-test", "--count", "x", NULL};
    s_capture_begin(&cap, STDERR_FILENO, NULL);
    options = options_read(&f.spec, 3, bad_argv, s_verify_count, NULL, &f, &status);
    free(s_capture_end(&cap));
    assert_null(options);
    assert_int_equal(status, OPTIONS_EXIT_USAGE);
    assert_string_equal(f.plugin.where, "here");

    /* --print-config: the program's printer, then NULL and status 0 */
    s_fixture(&f);
    char *config_argv[] = {"herald-test", "-n", "x", "--print-config", NULL};
    s_capture_begin(&cap, STDOUT_FILENO, NULL);
    options = options_read(&f.spec, 4, config_argv, NULL, s_print_name, &f, &status);
    char *printed = s_capture_end(&cap);
    assert_null(options);
    assert_int_equal(status, 0);
    assert_string_equal(printed, "name x\n");
    free(printed);

    /* --print-config without a printer: options_print_config */
    s_fixture(&f);
    s_capture_begin(&cap, STDOUT_FILENO, NULL);
    options = options_read(&f.spec, 4, config_argv, NULL, NULL, NULL, &status);
    printed = s_capture_end(&cap);
    assert_null(options);
    assert_int_equal(status, 0);
    assert_non_null(strstr(printed, "\"name\": \"x\""));
    free(printed);
}

/*  sockmon_stop returns while the monitor's queue is full and libzmq's I/O thread is blocked
    sending the next event with the monitor's lock held (the publisher hung at its exit under
    a connect storm): plain TCP connections opened and closed until the listener stalls. */
static void test_sockmon_stop_full(void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new();
    char endpoint[128];
    void *router = fixture_router(ctx, endpoint, sizeof endpoint);
    assert_non_null(router);
    int port = atoi(strrchr(endpoint, ':') + 1);
    assert_int_equal(zmq_socket_monitor(router, "inproc://test.sockmon.full",
                                        ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED),
                     0);
    void *pair = zmq_socket(ctx, ZMQ_PAIR);
    assert_int_equal(zmq_connect(pair, "inproc://test.sockmon.full"), 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int opened = 0, refused = 0;
    while (opened < 5000 && refused < 5) { /* two events each; the queue holds about 1,000 */
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fd >= 0);
        int rc = connect(fd, (struct sockaddr *) &addr, sizeof addr);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        bool up = rc == 0 || (errno == EINPROGRESS && poll(&p, 1, 200) == 1);
        close(fd);
        /* the backlog is full: the listener is slow, or stalled for good (5 times running) */
        refused = up ? 0 : refused + 1;
        opened += up;
    }
    usleep(200 * 1000); /* the last ones accepted and closed, their events queued */
    alarm(20);          /* a hang is a failure, not a stuck test */
    sockmon_stop(router, pair);
    alarm(0);
    assert_int_equal(zmq_close(router), 0);
    assert_int_equal(zmq_ctx_term(ctx), 0);
    assert_true(opened >= 500); /* enough events to fill the queue: the stall was reached */
}

/*  signals_open: a SIGHUP sent to the process is read from the signalfd, not delivered. */
static void test_signals(void **state)
{
    (void) state;
    char err[256] = "";
    int fd = signals_open(err, sizeof err);
    assert_true(fd >= 0);
    struct signalfd_siginfo info;
    assert_int_equal(read(fd, &info, sizeof info), -1); /* nothing yet, and it does not block */
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    assert_int_equal(read(fd, &info, sizeof info), (ssize_t) sizeof info);
    assert_int_equal(info.ssi_signo, SIGHUP);
    assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(fd);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int main(void)
{
    const struct CMUnitTest log_tests[] = {
        cmocka_unit_test(test_log_level_parse),    cmocka_unit_test(test_log_json),
        cmocka_unit_test(test_log_level_and_text), cmocka_unit_test(test_log_threads),
        cmocka_unit_test(test_log_stderr_full),
    };
    const struct CMUnitTest config_tests[] = {
        cmocka_unit_test(test_config_print),
    };
    const struct CMUnitTest curve_tests[] = {
        cmocka_unit_test(test_curve_key_valid),   cmocka_unit_test(test_curve_key_read),
        cmocka_unit_test(test_curve_client_load), cmocka_unit_test(test_curve_apply),
        cmocka_unit_test(test_curve_keygen),
    };
    const struct CMUnitTest metrics_tests[] = {
        cmocka_unit_test(test_metrics_parse_addr), cmocka_unit_test(test_metrics_registry),
        cmocka_unit_test(test_metrics_server),     cmocka_unit_test(test_health_probe_failures),
        cmocka_unit_test(test_health_main),
    };
    const struct CMUnitTest helper_tests[] = {
        cmocka_unit_test(test_clock_ms),          cmocka_unit_test(test_clock_parse_rfc3339),
        cmocka_unit_test(test_log_limit),         cmocka_unit_test(test_sockopt_set_int),
        cmocka_unit_test(test_log_printable),     cmocka_unit_test(test_sockmon_read),
        cmocka_unit_test(test_sockmon_stop_full),
    };
    const struct CMUnitTest options_tests[] = {
        cmocka_unit_test_setup_teardown(test_options_values, s_options_clean, s_options_clean),
        cmocka_unit_test_setup_teardown(test_options_refusals, s_options_clean, s_options_clean),
        cmocka_unit_test_setup_teardown(test_options_secret, s_options_clean, s_options_clean),
        cmocka_unit_test_setup_teardown(test_options_help_and_config, s_options_clean,
                                        s_options_clean),
        cmocka_unit_test_setup_teardown(test_options_read, s_options_clean, s_options_clean),
        cmocka_unit_test(test_signals),
    };
    unsetenv("HERALD_CURVE_SECRET");
    unsetenv("HERALD_CURVE_SECRET_FILE");
    int failed = cmocka_run_group_tests_name("log", log_tests, s_setup_dir, s_teardown_dir);
    failed += cmocka_run_group_tests_name("config", config_tests, s_setup_dir, s_teardown_dir);
    failed += cmocka_run_group_tests_name("curve", curve_tests, s_setup_dir, s_teardown_dir);
    failed += cmocka_run_group_tests_name("metrics", metrics_tests, s_setup_dir, s_teardown_dir);
    failed += cmocka_run_group_tests_name("helpers", helper_tests, s_setup_dir, s_teardown_dir);
    failed += cmocka_run_group_tests_name("options", options_tests, s_setup_dir, s_teardown_dir);
    return failed ? 1 : 0;
}
