/*  grants_test.c -- the client directory (clients.c) and the grant mapping (grants.c): files
    read and refused, reload, lookup by key, and what subscriptions and replay topics become.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "clients.h"
#include "grants.h"
#include "log.h"

static char s_dir[512];

static void s_write(const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void s_remove(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    unlink(path);
}

typedef struct {
    char got[8][64];
    int n;
} s_calls_t;

static void s_collect(const char *prefix, size_t len, void *arg)
{
    s_calls_t *c = arg;
    snprintf(c->got[c->n++], sizeof c->got[0], "%.*s", (int) len, prefix);
}

static void test_map(void **state)
{
    (void) state;
    const char *granted[] = {"event.conference.", "press.", "hb"};
    s_calls_t c = {0};
    assert_int_equal(grants_map(granted, 3, "event.conference.FR.", 20, s_collect, &c), 1);
    assert_string_equal(c.got[0], "event.conference.FR.");
    memset(&c, 0, sizeof c);
    assert_int_equal(grants_map(granted, 3, "", 0, s_collect, &c), 3);
    assert_string_equal(c.got[1], "press.");
    memset(&c, 0, sizeof c);
    assert_int_equal(grants_map(granted, 3, "event.", 6, s_collect, &c), 1);
    assert_string_equal(c.got[0], "event.conference.");
    memset(&c, 0, sizeof c);
    assert_int_equal(grants_map(granted, 3, "event.course.", 13, s_collect, &c), 0);
    assert_int_equal(grants_map(granted, 0, "event.course.", 13, s_collect, &c), 1);
    assert_string_equal(c.got[0], "event.course.");
}

static void test_clients(void **state)
{
    (void) state;
    char pub_a[41], pub_b[41], secret[41];
    assert_int_equal(zmq_curve_keypair(pub_a, secret), 0);
    assert_int_equal(zmq_curve_keypair(pub_b, secret), 0);
    char text[256];
    snprintf(text, sizeof text, "%s\n", pub_a);
    s_write("all.pub", text);
    snprintf(text, sizeof text, "%s\n# comment\n\ngrant press.\ngrant event.conference.\n", pub_b);
    s_write("press.pub", text);
    snprintf(text, sizeof text, "%s\ngrnat press.\n", pub_b);
    s_write("typo.pub", text);            /* a bad line: refused whole */
    s_write("short.pub", "not a key\n");  /* a bad key */
    s_write("ignored.txt", "whatever\n"); /* not a .pub */
    char err[256];
    clients_t *clients = clients_new(s_dir, err, sizeof err);
    assert_non_null(clients);
    assert_int_equal(clients_count(clients), 2);
    uint8_t key[32];
    zmq_z85_decode(key, pub_b);
    assert_string_equal(clients_find(clients, key), "press");
    const char *const *grants = NULL;
    size_t n = 0;
    assert_int_equal(clients_grants(clients, "press", &grants, &n), 1);
    assert_int_equal(n, 2);
    assert_string_equal(grants[0], "press.");
    assert_int_equal(clients_grants(clients, "all", &grants, &n), 1);
    assert_int_equal(n, 0);

    /* replay topics */
    const char *out[64];
    size_t out_n = 0;
    char *none[] = {NULL};
    assert_int_equal(grants_narrow(NULL, NULL, none, 0, out, 64, &out_n), 0);
    assert_int_equal(grants_narrow(clients, "all", none, 0, out, 64, &out_n), 0);
    assert_int_equal(grants_narrow(clients, "press", none, 0, out, 64, &out_n), 1);
    assert_int_equal(out_n, 2);
    char *wide[] = {"event.", "event.conference.DE.", "event.course."};
    assert_int_equal(grants_narrow(clients, "press", wide, 3, out, 64, &out_n), 1);
    assert_int_equal(out_n, 2);
    assert_string_equal(out[0], "event.conference.");
    assert_string_equal(out[1], "event.conference.DE.");
    assert_int_equal(grants_narrow(clients, "gone", wide, 3, out, 64, &out_n), -1);

    /* reload: a removed key is gone, a missing directory keeps the old set */
    s_remove("press.pub");
    assert_int_equal(clients_reload(clients, err, sizeof err), 0);
    assert_int_equal(clients_count(clients), 1);
    assert_null(clients_find(clients, key));
    assert_int_equal(clients_grants(clients, "press", &grants, &n), 0);
    s_remove("all.pub");
    s_remove("typo.pub");
    s_remove("short.pub");
    s_remove("ignored.txt");
    rmdir(s_dir);
    assert_int_equal(clients_reload(clients, err, sizeof err), -1);
    assert_int_equal(clients_count(clients), 1);
    clients_destroy(&clients);
    assert_null(clients);
    clients_destroy(&clients);
    assert_null(clients_new(s_dir, err, sizeof err));
}

int main(void)
{
    log_setup(LOG_ERROR, 0);
    const char *tmp = getenv("HERALD_TEST_TMP");
    snprintf(s_dir, sizeof s_dir, "%s/grants-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(s_dir)) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_clients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
