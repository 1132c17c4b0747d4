/* Unit tests for the admin HTTP server (include/adm.h), spoken to with plain
 * POSIX sockets. (/healthz turning 503 takes ADMIN_STALL_MS = 10 s: not tested.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "io/admin.h"
#include "core/tri_err.h"

typedef struct resp {
    int status;       /* 0: no status line (connection closed or reset) */
    char *raw;        /* the whole response, NUL-terminated */
    size_t rawlen;
    const char *body; /* into raw */
    size_t bodylen;
} resp_t;

static void resp_free(resp_t *r)
{
    free(r->raw);
    memset(r, 0, sizeof *r);
}

/* A TCP connection to 127.0.0.1:port from the loopback address src (e.g.
 * "127.0.0.2": all of 127/8 is local), or -1. */
static int connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in from = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &from.sin_addr);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&from, sizeof from) || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Connects to 127.0.0.1:port from src, sends req (len bytes), reads until
 * the server closes. Returns 0, or -1 when connecting failed. Sending or
 * reading may fail part way (a server refusing a request may reset the
 * connection): whatever arrived is parsed. */
static int http_raw_from(const char *src, int port, const char *req, size_t len, resp_t *r)
{
    memset(r, 0, sizeof *r);
    int fd = connect_from(src, port);
    if (fd < 0)
        return -1;
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (n + 1024 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t got = recv(fd, buf + n, cap - n - 1, 0);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    buf[n] = '\0';
    r->raw = buf;
    r->rawlen = n;
    int st;
    if (sscanf(buf, "HTTP/1.%*d %d", &st) == 1)
        r->status = st;
    char *eoh = strstr(buf, "\r\n\r\n");
    if (eoh) {
        r->body = eoh + 4;
        r->bodylen = n - (size_t)(eoh + 4 - buf);
    } else {
        r->body = buf + n;
        r->bodylen = 0;
    }
    return 0;
}

static int http_raw(int port, const char *req, size_t len, resp_t *r)
{
    return http_raw_from("127.0.0.1", port, req, len, r);
}

static void http(int port, const char *method, const char *path, resp_t *r)
{
    char req[512];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", method, path);
    assert_int_equal(http_raw(port, req, (size_t)n, r), 0);
}

/* Value of a response header (case-insensitive name), copied into out; 0 if
 * absent. */
static int header(const resp_t *r, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *end = r->body ? r->body : r->raw + r->rawlen;
    const char *l = strstr(r->raw, "\r\n");
    while (l && l + 2 < end) {
        l += 2;
        if (!strncasecmp(l, name, nl) && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t vl = e ? (size_t)(e - v) : strlen(v);
            snprintf(out, outlen, "%.*s", (int)vl, v);
            return 1;
        }
        l = strstr(l, "\r\n");
    }
    return 0;
}

static void expect_body(const resp_t *r, const char *body, size_t len)
{
    if (r->bodylen != len || memcmp(r->body, body, len))
        fail_msg("body (%zu bytes) '%.*s', expected (%zu bytes) '%.*s'", r->bodylen, (int)r->bodylen, r->body, len,
                 (int)len, body);
}

static int setup(void **state)
{
    admin_t *a = NULL;
    char err[TRI_ERRLEN] = "";
    int rc = admin_start("127.0.0.1:0", 16, &a, err, sizeof err);
    if (rc) {
        print_error("adm_start: %s\n", err);
        return -1;
    }
    *state = a;
    return 0;
}

static int teardown(void **state)
{
    admin_stop(*state);
    return 0;
}

static void test_port(void **state)
{
    admin_t *a = *state;
    assert_true(admin_port(a) > 0);
    assert_true(admin_port(a) < 65536);
}

static void test_get_published(void **state)
{
    admin_t *a = *state;
    int port = admin_port(a);
    const char *text = "# HELP x X.\nx 1\n";
    assert_int_equal(admin_publish(a, "/metrics", 200, "text/plain; version=0.0.4", text, strlen(text)), 0);
    resp_t r;
    char v[128];
    http(port, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_true(header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/plain; version=0.0.4");
    assert_true(header(&r, "Content-Length", v, sizeof v));
    assert_int_equal(atoi(v), (int)strlen(text));
    expect_body(&r, text, strlen(text));
    resp_free(&r);

    /* A query string does not change the path. */
    http(port, "GET", "/metrics?name[]=x", &r);
    assert_int_equal(r.status, 200);
    expect_body(&r, text, strlen(text));
    resp_free(&r);
}

static void test_republish_replaces(void **state)
{
    admin_t *a = *state;
    int port = admin_port(a);
    assert_int_equal(admin_publish(a, "/readyz", 503, "text/plain", "not ready\n", 10), 0);
    resp_t r;
    char v[128];
    http(port, "GET", "/readyz", &r);
    assert_int_equal(r.status, 503);
    expect_body(&r, "not ready\n", 10);
    resp_free(&r);

    /* New status, type and body; binary bytes kept exactly. */
    static const char bin[] = {'{', '"', 'a', '"', ':', '1', '}', '\0', 'z'};
    assert_int_equal(admin_publish(a, "/readyz", 200, "application/json", bin, sizeof bin), 0);
    http(port, "GET", "/readyz", &r);
    assert_int_equal(r.status, 200);
    assert_true(header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "application/json");
    expect_body(&r, bin, sizeof bin);
    resp_free(&r);

    /* An empty document. */
    assert_int_equal(admin_publish(a, "/readyz", 200, "application/json", "", 0), 0);
    http(port, "GET", "/readyz", &r);
    assert_int_equal(r.status, 200);
    assert_true(header(&r, "Content-Length", v, sizeof v));
    assert_string_equal(v, "0");
    assert_int_equal(r.bodylen, 0);
    resp_free(&r);
}

static void test_head(void **state)
{
    admin_t *a = *state;
    int port = admin_port(a);
    assert_int_equal(admin_publish(a, "/status", 200, "text/html", "<p>hello</p>", 12), 0);
    resp_t r;
    char v[128];
    http(port, "HEAD", "/status", &r);
    assert_int_equal(r.status, 200);
    assert_true(header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/html");
    assert_int_equal(r.bodylen, 0);
    resp_free(&r);
    http(port, "HEAD", "/nope", &r);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.bodylen, 0);
    resp_free(&r);
}

static void test_method_not_allowed(void **state)
{
    admin_t *a = *state;
    int port = admin_port(a);
    assert_int_equal(admin_publish(a, "/metrics", 200, "text/plain", "x 1\n", 4), 0);
    static const char *const methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        resp_t r;
        char v[128];
        http(port, methods[i], "/metrics", &r);
        if (r.status != 405)
            fail_msg("%s: status %d, expected 405", methods[i], r.status);
        assert_true(header(&r, "Allow", v, sizeof v));
        assert_string_equal(v, "GET, HEAD");
        resp_free(&r);
    }
    /* A POST with a body. */
    static const char post[] = "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                               "Content-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world";
    resp_t r;
    char v[128];
    assert_int_equal(http_raw(port, post, sizeof post - 1, &r), 0);
    assert_int_equal(r.status, 405);
    assert_true(header(&r, "Allow", v, sizeof v));
    resp_free(&r);
    /* The document is unchanged and served. */
    http(port, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    expect_body(&r, "x 1\n", 4);
    resp_free(&r);
}

static void test_get_with_body_refused(void **state)
{
    admin_t *a = *state;
    int port = admin_port(a);
    assert_int_equal(admin_publish(a, "/metrics", 200, "text/plain", "x 1\n", 4), 0);
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                              "Content-Length: 5\r\n\r\nhello";
    resp_t r;
    assert_int_equal(http_raw(port, req, sizeof req - 1, &r), 0);
    /* Bodies are refused: an error status or a closed connection, never the
     * document. */
    int st = r.status;
    int served = r.bodylen == 4 && !memcmp(r.body, "x 1\n", 4);
    resp_free(&r);
    if (st != 0 && st < 400)
        fail_msg("GET with a body answered with status %d", st);
    assert_false(served);
    /* The server still answers. */
    http(port, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    expect_body(&r, "x 1\n", 4);
    resp_free(&r);
}

static void test_unknown_path(void **state)
{
    admin_t *a = *state;
    int port = admin_port(a);
    resp_t r;
    http(port, "GET", "/does-not-exist", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    assert_int_equal(admin_publish(a, "/metrics", 200, "text/plain", "x 1\n", 4), 0);
    /* Paths match exactly. */
    http(port, "GET", "/metrics/", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    http(port, "GET", "/metric", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    http(port, "GET", "/", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
}

static void test_healthz(void **state)
{
    admin_t *a = *state;
    int port = admin_port(a);
    admin_heartbeat(a);
    resp_t r;
    http(port, "GET", "/healthz", &r);
    assert_int_equal(r.status, 200);
    expect_body(&r, "ok\n", 3);
    resp_free(&r);
    admin_heartbeat(a);
    http(port, "HEAD", "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.bodylen, 0);
    resp_free(&r);
}

static void test_huge_headers(void **state)
{
    admin_t *a = *state;
    int port = admin_port(a);
    assert_int_equal(admin_publish(a, "/metrics", 200, "text/plain", "x 1\n", 4), 0);
    /* 64 KB of headers. */
    size_t cap = 70 * 1024, n = 0;
    char *req = malloc(cap);
    assert_non_null(req);
    n += (size_t)snprintf(req + n, cap - n, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (int i = 0; n < 64 * 1024 + 200; i++) {
        n += (size_t)snprintf(req + n, cap - n, "X-Fill-%d: ", i);
        memset(req + n, 'a', 200);
        n += 200;
        memcpy(req + n, "\r\n", 2);
        n += 2;
    }
    memcpy(req + n, "\r\n", 2);
    n += 2;
    resp_t r;
    assert_int_equal(http_raw(port, req, n, &r), 0);
    /* An error status, or the connection closed without a status. */
    if (r.status != 0 && r.status < 400)
        fail_msg("64 KB of headers answered with status %d", r.status);
    resp_free(&r);
    free(req);
    /* One very long header line too. */
    size_t big = 64 * 1024;
    req = malloc(big + 256);
    assert_non_null(req);
    n = (size_t)snprintf(req, 256, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: ");
    memset(req + n, 'b', big);
    n += big;
    memcpy(req + n, "\r\n\r\n", 4);
    n += 4;
    assert_int_equal(http_raw(port, req, n, &r), 0);
    if (r.status != 0 && r.status < 400)
        fail_msg("a 64 KB header line answered with status %d", r.status);
    resp_free(&r);
    free(req);
    /* The server still answers. */
    http(port, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    expect_body(&r, "x 1\n", 4);
    resp_free(&r);
}

static void test_many_sequential(void **state)
{
    admin_t *a = *state;
    int port = admin_port(a);
    assert_int_equal(admin_publish(a, "/metrics", 200, "text/plain", "x 1\n", 4), 0);
    for (int i = 0; i < 100; i++) {
        resp_t r;
        admin_heartbeat(a);
        http(port, i % 2 ? "GET" : "HEAD", i % 3 ? "/metrics" : "/healthz", &r);
        if (r.status != 200)
            fail_msg("request %d: status %d", i, r.status);
        resp_free(&r);
    }
}

static void test_doc_table_full(void **state)
{
    admin_t *a = *state;
    int port = admin_port(a);
    char path[32], body[32];
    int published = 0;
    /* Fill the table (some slots are already used by earlier tests). */
    for (int i = 0; i < ADMIN_MAX_DOCS + 4; i++) {
        snprintf(path, sizeof path, "/d%d", i);
        snprintf(body, sizeof body, "doc %d\n", i);
        if (admin_publish(a, path, 200, "text/plain", body, strlen(body)) == 0)
            published++;
        else
            assert_int_equal(admin_publish(a, path, 200, "text/plain", body, strlen(body)), TRI_ENOMEM);
    }
    assert_true(published < ADMIN_MAX_DOCS + 4);
    assert_true(published >= 1);
    /* Replacing an existing path still works when the table is full. */
    assert_int_equal(admin_publish(a, "/d0", 200, "text/plain", "new\n", 4), 0);
    resp_t r;
    http(port, "GET", "/d0", &r);
    assert_int_equal(r.status, 200);
    expect_body(&r, "new\n", 4);
    resp_free(&r);
    snprintf(path, sizeof path, "/d%d", published - 1);
    snprintf(body, sizeof body, "doc %d\n", published - 1);
    http(port, "GET", path, &r);
    assert_int_equal(r.status, 200);
    expect_body(&r, body, strlen(body));
    resp_free(&r);
    snprintf(path, sizeof path, "/d%d", published);
    http(port, "GET", path, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
}

/* Expects admin_start(listen) to fail with a message. */
static void expect_start_fails(const char *listen)
{
    admin_t *a = NULL;
    char err[TRI_ERRLEN] = "";
    int rc = admin_start(listen, 4, &a, err, sizeof err);
    if (rc == 0) {
        int port = admin_port(a);
        admin_stop(a);
        fail_msg("adm_start(\"%s\") succeeded (listening on port %d), expected an error", listen, port);
    }
    assert_true(rc < 0);
    if (!err[0])
        fail_msg("adm_start(\"%s\") failed without a message", listen);
    if (!strstr(err, listen))
        fail_msg("adm_start(\"%s\"): message '%s' does not name the address", listen, err);
}

static void test_start_bad_address(void **state)
{
    (void)state;
    expect_start_fails("nonsense");
    expect_start_fails("");
    expect_start_fails(":9464");
    expect_start_fails("256.1.1.1:80");
    expect_start_fails("127.0.0.1:http");
    expect_start_fails("127.0.0.1:-1");
}

static void test_start_port_out_of_range(void **state)
{
    (void)state;
    expect_start_fails("127.0.0.1:99999");
    expect_start_fails("127.0.0.1:65536");
}

static void test_start_port_in_use(void **state)
{
    admin_t *a = *state;
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", admin_port(a));
    expect_start_fails(listen);
}

/* Slow clients (issue 9, defect 5): 64 connections from one address trickling
 * a header byte every second used to hold every slot (each byte restarted
 * the idle timeout), so /healthz was unreachable. Now a probe from another
 * address gets through at once, and every slow connection is closed by the
 * header deadline although its bytes keep coming. */
static void test_slow_clients(void **state)
{
    (void)state;
    admin_t *a = NULL;
    char err[TRI_ERRLEN] = "";
    assert_int_equal(admin_start("127.0.0.1:0", 64, &a, err, sizeof err), 0);
    int port = admin_port(a);
    enum { NSLOW = 64 };
    int fds[NSLOW], open_ = 0;
    for (int i = 0; i < NSLOW; i++) {
        fds[i] = connect_from("127.0.0.1", port);
        static const char start[] = "GET /healthz HTTP/1.1\r\nX-Slow: ";
        if (fds[i] >= 0 && send(fds[i], start, sizeof start - 1, MSG_NOSIGNAL) > 0)
            open_++;
    }
    assert_int_equal(open_, NSLOW);
    usleep(300 * 1000);
    resp_t r;
    const char probe[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(http_raw_from("127.0.0.2", port, probe, sizeof probe - 1, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* Trickle one byte a second to each until the server has closed them all,
     * for at most the deadline plus 10 s. */
    int rounds = ADMIN_HEADER_DEADLINE_MS / 1000 + 10;
    for (int round = 0; round < rounds && open_; round++) {
        sleep(1);
        for (int i = 0; i < NSLOW; i++) {
            if (fds[i] < 0)
                continue;
            char c;
            ssize_t got = recv(fds[i], &c, 1, MSG_DONTWAIT);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
                send(fds[i], "x", 1, MSG_NOSIGNAL) < 0) {
                close(fds[i]);
                fds[i] = -1;
                open_--;
            }
        }
    }
    for (int i = 0; i < NSLOW; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (open_)
        fail_msg("%d of %d trickling connections still open after %d s", open_, NSLOW, rounds);
    /* And the same address is served again. */
    assert_int_equal(http_raw_from("127.0.0.1", port, probe, sizeof probe - 1, &r), 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    admin_stop(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port),
        cmocka_unit_test(test_get_published),
        cmocka_unit_test(test_republish_replaces),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_get_with_body_refused),
        cmocka_unit_test(test_unknown_path),
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_huge_headers),
        cmocka_unit_test(test_many_sequential),
        cmocka_unit_test(test_doc_table_full),
        cmocka_unit_test(test_start_port_in_use),
        cmocka_unit_test(test_start_bad_address),
        cmocka_unit_test(test_start_port_out_of_range),
        cmocka_unit_test(test_slow_clients),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
