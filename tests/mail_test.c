/*  mail_test.c -- tests of the mail sink's pure parts, and an example of their use: the
    settings (services/subscriber/mail_config.h) and the digest's words
    (services/subscriber/mail_render.h): grouping, CRLF lines, HTML escaping that leaves
    UTF-8 alone, RFC 2047 subjects split between characters, header values that no CR or LF
    can break.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail_config.h"
#include "mail_render.h"

static json_t *s_items(void)
{
    json_error_t err;
    json_t *items = json_loads(
        "[{\"seq\":5,\"type\":\"event\",\"change\":\"created\",\"id\":\"ev-1\",\"id_only\":false,"
        "\"kind\":\"conference\",\"title\":\"Talk <b> & 'Q' \\\"x\\\"\",\"start_date\":"
        "\"2026-12-01\",\"end_date\":\"2026-12-03\",\"city\":\"Lyon\",\"country\":\"FR\","
        "\"summary\":\"One\\nTwo\",\"url\":\"https://e.org/?a=1&b=2\",\"cancel_reason\":\"\","
        "\"people\":[{\"name\":\"J\\u00fcrgen Stock\",\"role\":\"SG\"}]},"
        "{\"seq\":6,\"type\":\"event\",\"change\":\"updated\",\"id\":\"ev-2\",\"id_only\":false,"
        "\"kind\":\"course\",\"title\":\"Course\",\"start_date\":\"2026-01-01\",\"end_date\":"
        "\"2026-01-01\",\"city\":\"\",\"country\":\"TH\",\"summary\":\"\",\"url\":\"\","
        "\"cancel_reason\":\"\",\"people\":[]},"
        "{\"seq\":7,\"type\":\"event\",\"change\":\"cancelled\",\"id\":\"ev-3\",\"id_only\":false,"
        "\"kind\":\"course\",\"title\":\"Gone course\",\"start_date\":\"2026-01-01\",\"end_date\":"
        "\"2026-01-02\",\"city\":\"Lyon\",\"country\":\"FR\",\"summary\":\"\",\"url\":\"\","
        "\"cancel_reason\":\"rain\",\"people\":[]},"
        "{\"seq\":8,\"type\":\"event\",\"change\":\"deleted\",\"id\":\"ev-4\",\"id_only\":true},"
        "{\"seq\":9,\"type\":\"press_release\",\"change\":\"created\",\"id\":\"pr-1\","
        "\"id_only\":false,\"event_id\":\"ev-1\",\"title\":\"Press\",\"published_on\":"
        "\"2026-12-02\",\"url\":\"\",\"summary\":\"\"},"
        "{\"seq\":10,\"type\":\"press_release\",\"change\":\"updated\",\"id\":\"pr-2\","
        "\"id_only\":false,\"event_id\":\"\",\"title\":\"Press 2\",\"published_on\":"
        "\"2026-12-02\",\"url\":\"\",\"summary\":\"\"}]",
        0, &err);
    assert_non_null(items);
    return items;
}

static void test_digest(void **state)
{
    (void) state;
    json_t *items = s_items();
    mail_digest_t d;
    assert_int_equal(mail_render_digest(items, &d), 0);
    assert_int_equal(d.items, 6);
    assert_string_equal(d.subject,
                        "Herald: 1 new event, 1 changed, 1 cancelled, 1 deleted, 2 press releases");
    /* every line ends in CRLF */
    for (const char *p = d.text; (p = strchr(p, '\n')); p++) {
        assert_true(p > d.text && p[-1] == '\r');
    }
    for (const char *p = d.html; (p = strchr(p, '\n')); p++) {
        assert_true(p > d.html && p[-1] == '\r');
    }
    /* groups in order, the plain text plain, the html escaped and UTF-8 */
    char *new_at = strstr(d.text, "New events (1)");
    char *changed_at = strstr(d.text, "Changed events (1)");
    char *cancelled_at = strstr(d.text, "Cancelled events (1)");
    char *deleted_at = strstr(d.text, "Deleted (records removed) (1)");
    char *press_at = strstr(d.text, "Press releases (2)");
    assert_true(new_at && changed_at && cancelled_at && deleted_at && press_at);
    assert_true(new_at < changed_at && changed_at < cancelled_at && cancelled_at < deleted_at &&
                deleted_at < press_at);
    assert_non_null(strstr(d.text, "* Talk <b> & 'Q' \"x\"\r\n"));
    assert_non_null(strstr(d.text, "  One\r\n  Two\r\n"));
    assert_non_null(strstr(d.text, "Jürgen Stock (SG)"));
    assert_non_null(strstr(d.text, "Cancelled: rain"));
    assert_non_null(strstr(d.text, "Event ev-4 removed"));
    assert_non_null(strstr(d.html, "Talk &lt;b&gt; &amp; &#39;Q&#39; &quot;x&quot;"));
    assert_null(strstr(d.html, "<b>"));
    assert_non_null(strstr(d.html, "Jürgen Stock"));
    assert_non_null(strstr(d.html, "href=\"https://e.org/?a=1&amp;b=2\""));
    mail_digest_clear(&d);
    mail_digest_clear(&d);

    /* one record: its title in the subject */
    json_t *one = json_array();
    json_array_append(one, json_array_get(items, 0));
    assert_int_equal(mail_render_digest(one, &d), 0);
    assert_string_equal(d.subject, "Herald: 1 new event: Talk <b> & 'Q' \"x\"");
    mail_digest_clear(&d);
    json_decref(one);
    json_decref(items);
}

static void test_header(void **state)
{
    (void) state;
    char *h = mail_render_header("Subject", "plain\r\nBcc: evil@example.org");
    assert_string_equal(h, "Subject: plain  Bcc: evil@example.org");
    free(h);
    h = mail_render_header("Subject", "Jürgen");
    assert_string_equal(h, "Subject: =?UTF-8?B?SsO8cmdlbg==?=");
    free(h);
    /* 40 two-byte characters: split into words of whole characters, each <= 75 chars */
    char value[200] = "";
    for (int i = 0; i < 40; i++) {
        strcat(value, "é");
    }
    h = mail_render_header("Subject", value);
    assert_non_null(strstr(h, "\r\n =?UTF-8?B?"));
    char *word = strstr(h, "=?UTF-8?B?");
    while (word) {
        char *end = strstr(word, "?=");
        assert_non_null(end);
        assert_true(end + 2 - word <= 75);
        word = strstr(end, "=?UTF-8?B?");
    }
    free(h);
    char *e = mail_render_html_escape("<a href='x'>&\"é\"</a>");
    assert_string_equal(e, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;é&quot;&lt;/a&gt;");
    free(e);
    char date[64];
    assert_int_equal(mail_render_date(date, sizeof date, 0), 0);
    setenv("TZ", "UTC", 1);
    tzset();
    assert_int_equal(mail_render_date(date, sizeof date, 86400), 0);
    assert_string_equal(date, "Fri, 02 Jan 1970 00:00:00 +0000");
    assert_int_equal(mail_render_date(date, 4, 0), -1);
}

static void test_config(void **state)
{
    (void) state;
    mail_args_t args = {0};
    args.smtp = "smtp://127.0.0.1:25";
    args.from = "herald@example.org";
    args.to.items[args.to.count++] = "a@example.org";
    args.to.items[args.to.count++] = "a@example.org";
    args.to.items[args.to.count++] = "b@example.org";
    args.state_path = "state.db";
    args.digest_at = "07:30";
    char err[512] = "";
    mail_config_t *c = mail_config_new(&args, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->to_count, 2);
    assert_int_equal(c->at_minute, 7 * 60 + 30);
    assert_int_equal(c->every_ms, -1); /* --digest-at alone: no default every */
    assert_int_equal(c->tls, MAIL_TLS_OPPORTUNISTIC);
    assert_string_equal(c->unsubscribe, "mailto:herald@example.org?subject=unsubscribe");
    assert_non_null(strstr(c->list_id, "herald."));
    assert_null(c->password);
    mail_config_destroy(&c);
    mail_config_destroy(&c);
    assert_null(c);

    args.digest_at = NULL;
    args.password = "pw"; /* read by options.h from HERALD_SMTP_PASSWORD or its file */
    c = mail_config_new(&args, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->every_ms, 15 * 60 * 1000); /* the default schedule */
    assert_string_equal(c->password, "pw");
    mail_config_destroy(&c);
    args.password = NULL;

    args.digest_at = "07:30"; /* --digest-at and a --digest-every given: both */
    args.digest_every = 0;
    args.digest_every_given = true;
    c = mail_config_new(&args, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->every_ms, 0);
    assert_int_equal(c->at_minute, 7 * 60 + 30);
    mail_config_destroy(&c);
    args.digest_at = "25:00";
    assert_null(mail_config_new(&args, err, sizeof err));
    assert_non_null(strstr(err, "--digest-at"));
    args.digest_at = NULL;
    args.digest_every_given = false;

    args.ca_file = "/nonexistent/ca.pem";
    assert_null(mail_config_new(&args, err, sizeof err));
    assert_non_null(strstr(err, "--smtp-ca-file"));
    args.ca_file = "/dev/null"; /* readable: its contents are libcurl's to judge */
    c = mail_config_new(&args, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c->ca_file, "/dev/null");
    mail_config_destroy(&c);
    args.ca_file = NULL;

    args.to.items[0] = "not an address";
    assert_null(mail_config_new(&args, err, sizeof err));
    assert_non_null(strstr(err, "--mail-to"));
    args.to.items[0] = "a@example.org";
    args.starttls = MAIL_TLS_REQUIRED; /* --smtp-starttls's words are options.h's to check */
    c = mail_config_new(&args, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->tls, MAIL_TLS_REQUIRED);
    mail_config_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
