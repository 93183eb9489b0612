/*  common_test.c -- what both services share (services/common): the logger (log.h), secrets
    and --print-config (config.h), CURVE keys and socket options (curve.h), and the metrics
    and health server with its probe client (metrics.h). One group per module, each calling
    every public function of it; files go to a scratch directory under HERALD_TEST_TMP, the
    network is 127.0.0.1 only.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "config.h"
#include "clock.h"
#include "curve.h"
#include "health.h"
#include "log.h"
#include "metrics.h"

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

//  ---------------------------------------------------------------------------------------
//  config.h

#define VAR "HERALD_UT_SECRET"

static int s_config_clean(void **state)
{
    (void) state;
    unsetenv(VAR);
    unsetenv(VAR "_FILE");
    return 0;
}

static void test_config_secret_value(void **state)
{
    (void) state;
    char err[256] = "";
    char *secret = (char *) "junk";
    assert_int_equal(config_secret(VAR, NULL, &secret, err, sizeof err), 0);
    assert_null(secret);
    assert_false(config_secret_set(VAR));

    setenv(VAR, "", 1); /* empty is unset */
    assert_int_equal(config_secret(VAR, NULL, &secret, err, sizeof err), 0);
    assert_false(config_secret_set(VAR));

    setenv(VAR, "s3cret value", 1);
    assert_true(config_secret_set(VAR));
    assert_int_equal(config_secret(VAR, NULL, &secret, err, sizeof err), 1);
    assert_string_equal(secret, "s3cret value");
    config_secret_free(&secret);
    assert_null(secret);
    config_secret_free(&secret); /* twice, and on NULL */
    config_secret_free(NULL);

    /* the value and a file flag: an error naming both variables */
    s_write("secret", "from file\n");
    assert_int_equal(config_secret(VAR, s_path("secret"), &secret, err, sizeof err), -1);
    assert_null(secret);
    assert_non_null(strstr(err, VAR " and " VAR "_FILE"));
    assert_null(strstr(err, "s3cret"));
    setenv(VAR "_FILE", s_path("secret"), 1);
    err[0] = '\0';
    assert_int_equal(config_secret(VAR, NULL, &secret, err, sizeof err), -1);
    assert_non_null(strstr(err, VAR " and " VAR "_FILE"));
}

static void test_config_secret_file(void **state)
{
    (void) state;
    char err[256] = "";
    char *secret = NULL;
    s_write("secret", "first line\r\nsecond line\n");
    setenv(VAR "_FILE", s_path("secret"), 1);
    assert_true(config_secret_set(VAR));
    assert_int_equal(config_secret(VAR, NULL, &secret, err, sizeof err), 1);
    assert_string_equal(secret, "first line");
    config_secret_free(&secret);

    /* the flag's file wins over VAR_FILE */
    s_write("other", "other line");
    setenv(VAR "_FILE", s_path("missing"), 1);
    assert_int_equal(config_secret(VAR, s_path("other"), &secret, err, sizeof err), 1);
    assert_string_equal(secret, "other line");
    config_secret_free(&secret);

    /* unreadable, empty, an empty first line: refused, naming the variable and the file */
    assert_int_equal(config_secret(VAR, NULL, &secret, err, sizeof err), -1);
    assert_null(secret);
    assert_non_null(strstr(err, VAR "_FILE"));
    assert_non_null(strstr(err, s_path("missing")));
    assert_non_null(strstr(err, strerror(ENOENT)));
    s_write("empty", "");
    assert_int_equal(config_secret(VAR, s_path("empty"), &secret, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    s_write("blank", "\nsecond\n");
    assert_int_equal(config_secret(VAR, s_path("blank"), &secret, err, sizeof err), -1);
    assert_null(secret);
    assert_non_null(strstr(err, s_path("blank")));

    /* an empty flag means no file */
    unsetenv(VAR "_FILE");
    assert_int_equal(config_secret(VAR, "", &secret, err, sizeof err), 0);
    assert_null(secret);
}

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

static void test_curve_secret_load(void **state)
{
    (void) state;
    char public_key[CURVE_Z85_LEN + 1];
    char secret[CURVE_Z85_LEN + 1];
    assert_int_equal(zmq_curve_keypair(public_key, secret), 0);
    char key[CURVE_Z85_LEN + 1] = "x";
    char err[512] = "";

    /* none given */
    assert_int_equal(curve_secret_load(NULL, key, err, sizeof err), 0);
    assert_string_equal(key, "");

    /* the value, trailing blanks ignored */
    char value[64];
    snprintf(value, sizeof value, "%s  ", secret);
    setenv(CURVE_SECRET_VAR, value, 1);
    assert_int_equal(curve_secret_load(NULL, key, err, sizeof err), 1);
    assert_string_equal(key, secret);

    /* a value that is not a key: named, never shown */
    setenv(CURVE_SECRET_VAR, "not-a-key-but-a-secret-all-the-same", 1);
    assert_int_equal(curve_secret_load(NULL, key, err, sizeof err), -1);
    assert_non_null(strstr(err, CURVE_SECRET_VAR));
    assert_null(strstr(err, "not-a-key"));
    assert_string_equal(key, "");

    /* both the value and a file */
    setenv(CURVE_SECRET_VAR, secret, 1);
    s_write("me.key", secret);
    assert_int_equal(curve_secret_load(s_path("me.key"), key, err, sizeof err), -1);
    assert_non_null(strstr(err, CURVE_SECRET_VAR "_FILE"));
    assert_null(strstr(err, secret));
    unsetenv(CURVE_SECRET_VAR);

    /* the file of the flag, then of the variable */
    assert_int_equal(curve_secret_load(s_path("me.key"), key, err, sizeof err), 1);
    assert_string_equal(key, secret);
    memset(key, 0, sizeof key);
    setenv(CURVE_SECRET_VAR "_FILE", s_path("me.key"), 1);
    assert_int_equal(curve_secret_load(NULL, key, err, sizeof err), 1);
    assert_string_equal(key, secret);

    /* a file whose first line is not a key: the file named, the line not shown */
    s_write("bad.key", "hunter2-hunter2\n");
    setenv(CURVE_SECRET_VAR "_FILE", s_path("bad.key"), 1);
    assert_int_equal(curve_secret_load(NULL, key, err, sizeof err), -1);
    assert_non_null(strstr(err, s_path("bad.key")));
    assert_null(strstr(err, "hunter2"));
    assert_int_equal(curve_secret_load(s_path("bad.key"), key, err, sizeof err), -1);
    assert_non_null(strstr(err, s_path("bad.key")));
    unsetenv(CURVE_SECRET_VAR "_FILE");
    assert_int_equal(curve_secret_load(s_path("missing.key"), key, err, sizeof err), -1);
    assert_non_null(strstr(err, s_path("missing.key")));
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

int main(void)
{
    const struct CMUnitTest log_tests[] = {
        cmocka_unit_test(test_log_level_parse),
        cmocka_unit_test(test_log_json),
        cmocka_unit_test(test_log_level_and_text),
        cmocka_unit_test(test_log_threads),
    };
    const struct CMUnitTest config_tests[] = {
        cmocka_unit_test_setup_teardown(test_config_secret_value, s_config_clean, s_config_clean),
        cmocka_unit_test_setup_teardown(test_config_secret_file, s_config_clean, s_config_clean),
        cmocka_unit_test(test_config_print),
    };
    const struct CMUnitTest curve_tests[] = {
        cmocka_unit_test(test_curve_key_valid),   cmocka_unit_test(test_curve_key_read),
        cmocka_unit_test(test_curve_secret_load), cmocka_unit_test(test_curve_client_load),
        cmocka_unit_test(test_curve_apply),       cmocka_unit_test(test_curve_keygen),
    };
    const struct CMUnitTest metrics_tests[] = {
        cmocka_unit_test(test_metrics_parse_addr),  cmocka_unit_test(test_metrics_registry),
        cmocka_unit_test(test_metrics_server),      cmocka_unit_test(test_health_probe_failures),
        cmocka_unit_test(test_health_main),
    };
    unsetenv(CURVE_SECRET_VAR);
    unsetenv(CURVE_SECRET_VAR "_FILE");
    int failed = cmocka_run_group_tests_name("log", log_tests, s_setup_dir, s_teardown_dir);
    failed += cmocka_run_group_tests_name("config", config_tests, s_setup_dir, s_teardown_dir);
    failed += cmocka_run_group_tests_name("curve", curve_tests, s_setup_dir, s_teardown_dir);
    failed += cmocka_run_group_tests_name("metrics", metrics_tests, s_setup_dir, s_teardown_dir);
    return failed ? 1 : 0;
}
