/*  watch_test.c -- tests of the publisher's wait for a commit (services/publisher/watch.h):
    on a store in a directory of its own, a second connection commits while the wait runs.
    A new write's commit is found; the queued events of commits already published find
    nothing and do not make up one; after them a new write is found; and a commit whose one
    event was taken for a published one's is still found, by the wait's sparse reads. All of
    that both for a store's connection, whose commit touches the -wal once visible, and for
    another program's (plain SQLite), which touches nothing and is found by reads alone.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "test_fixtures.h"
#include "watch.h"

typedef struct {
    char dir[512];
    char path[600];
    store_t *writer; /* another connection, as a program that edits the store */
    sqlite3 *plain;  /* or one of plain SQLite's, when the test sets it: no touch */
    store_t *reader; /* the publisher's */
    watch_t *watch;
} s_world_t;

static sqlite3 *s_plain; /* when set, s_commit writes with it instead */

static void s_commit(store_t *writer, const char *id)
{
    if (s_plain) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO events (id, kind, title, start_date, end_date, country)"
                 " VALUES ('%s', 'course', 'Watched', '2026-12-01', '2026-12-02', 'FR')",
                 id);
        assert_int_equal(sqlite3_exec(s_plain, sql, NULL, NULL, NULL), SQLITE_OK);
        return;
    }
    store_event_t ev = {.id = id,
                        .kind = "course",
                        .title = "Watched",
                        .start_date = "2026-12-01",
                        .end_date = "2026-12-02",
                        .city = "Lyon",
                        .country = "FR",
                        .summary = "",
                        .url = "",
                        .status = "scheduled",
                        .cancel_reason = ""};
    assert_int_equal(store_put_event(writer, &ev), 0);
}

typedef struct {
    store_t *writer;
    const char *id;
} s_later_t;

static void *s_commit_later(void *arg)
{
    s_later_t *later = arg;
    usleep(2000);
    s_commit(later->writer, later->id);
    return NULL;
}

/*  The wait as the publisher runs it after a wake, and again, as its re-checks would: up to
    a few hundred ms in all, for a slow fsync on a loaded machine. */
static int s_settle(s_world_t *w, int64_t seen, int64_t *now)
{
    int rc = 0;
    for (int round = 0; round < 50 && rc == 0; round++) {
        rc = watch_settle(w->watch, w->reader, seen, now);
    }
    return rc;
}

/*  Waits for the watch's descriptor to have events and reads them, as the publisher's loop. */
static void s_wake(s_world_t *w)
{
    struct pollfd item = {watch_fd(w->watch), POLLIN, 0};
    assert_int_equal(poll(&item, 1, 5000), 1);
    assert_true(watch_drain(w->watch) & WATCH_CHANGED);
}

static int s_setup(void **state)
{
    s_world_t *w = calloc(1, sizeof *w);
    /* a folder of its own: the watch sees every file of the store's folder */
    fixture_path(w->dir, sizeof w->dir, "watch_test", "dir");
    assert_int_equal(mkdir(w->dir, 0700), 0);
    snprintf(w->path, sizeof w->path, "%s/h.db", w->dir);
    char err[256];
    w->writer = store_new(w->path, STORE_CREATE, err, sizeof err);
    assert_non_null(w->writer);
    w->reader = store_new(w->path, STORE_OPEN, err, sizeof err);
    assert_non_null(w->reader);
    w->watch = watch_new(w->path);
    assert_non_null(w->watch);
    *state = w;
    return 0;
}

/*  The same world, but the writer is plain SQLite: synchronous=FULL as the store's own. */
static int s_setup_plain(void **state)
{
    s_setup(state);
    s_world_t *w = *state;
    assert_int_equal(sqlite3_open(w->path, &w->plain), SQLITE_OK);
    assert_int_equal(sqlite3_exec(w->plain, "PRAGMA synchronous = FULL", NULL, NULL, NULL),
                     SQLITE_OK);
    s_plain = w->plain;
    return 0;
}

static int s_teardown(void **state)
{
    s_world_t *w = *state;
    s_plain = NULL;
    sqlite3_close(w->plain);
    watch_destroy(&w->watch);
    store_destroy(&w->reader);
    store_destroy(&w->writer);
    fixture_remove(w->path);
    rmdir(w->dir);
    free(w);
    return 0;
}

/*  A commit of id made a little after the wake (another thread): the wait finds it. The
    data_version before it; the one found in *now. */
static int64_t s_found_later(s_world_t *w, const char *id, int64_t *now)
{
    int64_t seen = store_data_version(w->reader);
    pthread_t thread;
    s_later_t later = {w->writer, id};
    assert_int_equal(pthread_create(&thread, NULL, s_commit_later, &later), 0);
    s_wake(w);
    assert_int_equal(s_settle(w, seen, now), 1);
    pthread_join(thread, NULL);
    assert_int_not_equal(*now, seen);
    return seen;
}

static void test_settle(void **state)
{
    s_world_t *w = *state;
    int64_t now = 0;

    /* A new write: its commit, made visible a little later, is found. */
    int64_t seen = s_found_later(w, "w-1", &now);

    /* A commit published with its events still queued: the wake they bring finds nothing,
       and the wait says so rather than inventing a change. */
    s_commit(w->writer, "w-2");
    seen = store_data_version(w->reader);
    watch_caught_up(w->watch);
    s_wake(w);
    assert_int_equal(watch_settle(w->watch, w->reader, seen, &now), 0);
    assert_int_equal(now, seen);

    /* After such a wake, a new write wakes the wait, which then finds its commit. */
    s_commit(w->writer, "w-3");
    seen = store_data_version(w->reader);
    watch_caught_up(w->watch);
    s_wake(w);
    pthread_t thread;
    s_later_t later = {w->writer, "w-4"};
    assert_int_equal(pthread_create(&thread, NULL, s_commit_later, &later), 0);
    assert_int_equal(s_settle(w, seen, &now), 1);
    pthread_join(thread, NULL);
    assert_int_not_equal(now, seen);

    /* A commit whose events were taken for a published one's (its write came just before
       watch_caught_up): no new event comes, and the wait's sparse reads still find it. */
    seen = now;
    s_commit(w->writer, "w-5");
    watch_caught_up(w->watch);
    s_wake(w);
    assert_int_equal(watch_settle(w->watch, w->reader, seen, &now), 1);
    assert_int_not_equal(now, seen);
}

/*  Without its second descriptor (the process out of descriptors when the watch is made):
    the watch says why, and a commit is still found, by the reads alone. */
static void test_settle_without_commit_watch(void **state)
{
    s_world_t *w = *state;
    watch_destroy(&w->watch);
    struct rlimit was;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
    struct rlimit low = {256, was.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fds[256];
    int n = 0;
    while (n < 256 && (fds[n] = dup(0)) != -1) {
        n++;
    }
    assert_true(n > 0 && n < 256);
    close(fds[--n]); /* one descriptor left: the first inotify takes it */
    w->watch = watch_new(w->path);
    int why = w->watch ? watch_commits_errno(w->watch) : -1;
    while (n > 0) {
        close(fds[--n]);
    }
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
    assert_non_null(w->watch);
    assert_int_equal(why, EMFILE);

    int64_t now = 0;
    s_found_later(w, "n-1", &now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_settle, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_settle, s_setup_plain, s_teardown),
        cmocka_unit_test_setup_teardown(test_settle_without_commit_watch, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
