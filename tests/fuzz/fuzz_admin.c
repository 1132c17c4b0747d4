/* libFuzzer harness: admin request handling. One admin server listens on
 * 127.0.0.1 (an ephemeral port) for the whole run, serving the documents the
 * daemon publishes; each input is sent as raw bytes on a fresh connection,
 * the write side is closed, and the reply read to the end. The server must
 * answer or close every connection (a read that waits 5 s means it hung), and
 * any reply must start with an HTTP status line.
 *
 * The harness writes first and closes its write side first, so every input
 * leaves a client socket in TIME_WAIT for 60 s. At thousands of inputs a
 * second that exhausts the ~28,000 ephemeral ports of one source address
 * unless the kernel reuses TIME_WAIT ports on loopback (net.ipv4.tcp_tw_reuse,
 * 2 on most machines, 0 on CI's): connect() then fails with EADDRNOTAVAIL.
 * Each connection therefore comes from the next of 65,024 loopback source
 * addresses (127.1.0.1 ... 127.1.254.254, port chosen at connect time). */
#include "io/admin.h"
#include "core/tri_err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static admin_t *adm;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_admin: %s: %s\n", what, strerror(errno));
    abort();
}

/* A socket bound to the next loopback source address (see the top). */
static int client_socket(void)
{
    static unsigned next;
    unsigned n = next++ % (254u * 254u);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one))
        die("IP_BIND_ADDRESS_NO_PORT");
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((n / 254 + 1) << 8) | (n % 254 + 1));
    if (bind(fd, (struct sockaddr *)&src, sizeof src))
        die("bind to a loopback source address");
    return fd;
}

/* A POST route like the daemon's /classify: echoes what it was given. */
static int echo(void *ctx, const admin_req_t *req, buf_t *out, const char **type)
{
    (void)ctx;
    size_t len;
    const char *body = admin_req_body(req, &len);
    const char *x = admin_req_arg(req, "explain");
    buf_printf(out, "%zu bytes, explain=%s, first=%d\n", len, x ? "yes" : "no", len ? (unsigned char)body[0] : -1);
    *type = "text/plain";
    return 200;
}

static void start(void)
{
    char err[TRI_ERRLEN];
    signal(SIGPIPE, SIG_IGN);
    if (admin_start("127.0.0.1:0", 64, &adm, err, sizeof err)) {
        fprintf(stderr, "fuzz_admin: %s\n", err);
        abort();
    }
    static const char metrics[] = "# TYPE triaged_up gauge\ntriaged_up 1\n";
    admin_publish(adm, "/metrics", 200, "text/plain; version=0.0.4", metrics, sizeof metrics - 1);
    admin_publish(adm, "/readyz", 503, "text/plain", "not ready\n", 10);
    admin_publish(adm, "/", 200, "text/html; charset=utf-8", "<!doctype html>", 15);
    admin_heartbeat(adm);
    if (admin_route_post(adm, "/classify", 256, echo, NULL))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!adm)
        start();
    int fd = client_socket();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)admin_port(adm))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa))
        die("connect");
    /* The server may reply and close before reading everything (405, 413):
     * a failed write is not a finding. */
    for (size_t off = 0; off < size;) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    char reply[4096];
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, 5000);
        if (n == 0) {
            fprintf(stderr, "fuzz_admin: no reply and no close within 5 s\n");
            abort();
        }
        char tmp[4096];
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r <= 0)
            break;
        size_t k = (size_t)r < sizeof reply - got ? (size_t)r : sizeof reply - got;
        memcpy(reply + got, tmp, k);
        got += k;
    }
    close(fd);
    if (got && (got < 12 || memcmp(reply, "HTTP/1.", 7))) {
        fprintf(stderr, "fuzz_admin: reply is not HTTP: %.*s\n", (int)got, reply);
        abort();
    }
    admin_heartbeat(adm);
    return 0;
}
