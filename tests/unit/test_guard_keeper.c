/*
 * test_guard_keeper — the keeper's sealed network namespace and its DNS
 * responder, for real: the keeper is started as the launcher starts it, and
 * the sockets it hands out are used from this process (the real network
 * namespace), as a guarded program would use them.
 *
 * Addresses asked (10.77.0.1, 2001:db8::53, 192.0.2.9) exist nowhere here:
 * inside the namespace every address is local, so they are answered by the
 * responder or by nothing, never by a network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "core/fakemap.h"
#include "guard/internal.h"

static struct guard_sup sup;
static bool started;

static int setup(void **st)
{
    (void)st;
    memset(&sup, 0, sizeof sup);
    torify_config_defaults(&sup.cfg);
    torify_logger_setup(&sup.log, TORIFY_LOG_QUIET, -1);
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    if (torify_fakemap_create(&sup.map, &o) != TORIFY_OK)
        return -1;
    /* Started as the launcher does, then its status waited for as the
     * first UDP socket of a program waits for it. */
    guard_keeper_start(&sup.keeper);
    started = true;
    if (!guard_keeper_ready(&sup.keeper, &sup)) {
        started = false;
        guard_keeper_stop(&sup.keeper);
    }
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    if (started)
        guard_keeper_stop(&sup.keeper);
    torify_fakemap_destroy(sup.map);
    return 0;
}

static void need_keeper(void)
{
    if (!started) {
        char why[200];
        guard_keeper_probe(why, sizeof why);
        /* Only a machine without namespaces may skip: then the probe must
         * say so too. */
        assert_int_not_equal(guard_keeper_probe(why, sizeof why), 0);
        skip();
    }
}

/* A query for name of type qtype with id. */
static size_t query(uint8_t *q, uint16_t id, const char *name, uint16_t qtype)
{
    size_t n = 0;
    q[n++] = (uint8_t)(id >> 8);
    q[n++] = (uint8_t)id;
    q[n++] = 0x01; /* RD */
    q[n++] = 0;
    q[n++] = 0;
    q[n++] = 1; /* QDCOUNT */
    memset(q + n, 0, 6);
    n += 6;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        q[n++] = (uint8_t)l;
        memcpy(q + n, p, l);
        n += l;
        p += l + (dot ? 1 : 0);
    }
    q[n++] = 0;
    q[n++] = (uint8_t)(qtype >> 8);
    q[n++] = (uint8_t)qtype;
    q[n++] = 0;
    q[n++] = 1; /* IN */
    return n;
}

static ssize_t recv_wait(int fd, void *buf, size_t len, struct sockaddr_storage *from, socklen_t *fl)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 3000) != 1)
        return -1;
    return recvfrom(fd, buf, len, 0, (struct sockaddr *)from, fl);
}

static void test_udp_socket_from_the_keeper_lives_in_its_namespace(void **st)
{
    (void)st;
    need_keeper();
    int u = guard_keeper_socket(&sup.keeper, AF_INET, SOCK_DGRAM, 0);
    assert_true(u >= 0);
    assert_true(guard_keeper_owns(&sup.keeper, u));
    int mine = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(mine >= 0);
    assert_false(guard_keeper_owns(&sup.keeper, mine));
    close(mine);
    close(u);
}

static void test_a_query_to_any_address_is_answered_from_that_address(void **st)
{
    (void)st;
    need_keeper();
    int u = guard_keeper_socket(&sup.keeper, AF_INET, SOCK_DGRAM, 0);
    assert_true(u >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(53)};
    inet_pton(AF_INET, "10.77.0.1", &to.sin_addr);
    uint8_t q[512], r[512];
    size_t n = query(q, 0x1234, "web.test", 1);
    assert_int_equal(sendto(u, q, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t k = recv_wait(u, r, sizeof r, &from, &fl);
    assert_true(k > (ssize_t)n);
    const struct sockaddr_in *f = (const struct sockaddr_in *)&from;
    assert_int_equal(f->sin_family, AF_INET);
    assert_int_equal(ntohs(f->sin_port), 53);
    assert_memory_equal(&f->sin_addr, &to.sin_addr, 4);
    assert_int_equal(r[0], 0x12);
    assert_int_equal(r[1], 0x34);
    assert_int_equal(r[3] & 0x0f, 0);   /* NOERROR */
    assert_int_equal(r[7], 1);          /* one answer */
    /* The answer is the fake address the map holds for the name. */
    uint32_t slot;
    assert_int_equal(torify_fakemap_assign(sup.map, "web.test", 8, &slot), TORIFY_OK);
    uint8_t a4[4];
    torify_fakemap_addr4(sup.map, slot, a4);
    assert_memory_equal(r + k - 4, a4, 4);
    close(u);
}

static void test_ipv6_server_address_answers_aaaa_from_it(void **st)
{
    (void)st;
    need_keeper();
    if (!sup.keeper.ipv6)
        skip();
    int u = guard_keeper_socket(&sup.keeper, AF_INET6, SOCK_DGRAM, 0);
    assert_true(u >= 0);
    struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = htons(53)};
    inet_pton(AF_INET6, "2001:db8::53", &to.sin6_addr);
    assert_int_equal(connect(u, (struct sockaddr *)&to, sizeof to), 0);
    uint8_t q[512], r[512];
    size_t n = query(q, 7, "v6.example", 28);
    assert_int_equal(send(u, q, n, 0), (ssize_t)n);
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t k = recv_wait(u, r, sizeof r, &from, &fl);
    assert_true(k > (ssize_t)n + 16);
    uint32_t slot;
    assert_int_equal(torify_fakemap_assign(sup.map, "v6.example", 10, &slot), TORIFY_OK);
    uint8_t a6[16];
    torify_fakemap_addr6(sup.map, slot, a6);
    assert_memory_equal(r + k - 16, a6, 16);
    close(u);
}

static void test_tcp_query_is_answered_with_its_length_prefix(void **st)
{
    (void)st;
    need_keeper();
    int t = guard_keeper_socket(&sup.keeper, AF_INET, SOCK_STREAM, 0);
    assert_true(t >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(53)};
    inet_pton(AF_INET, "192.0.2.9", &to.sin_addr);
    assert_int_equal(connect(t, (struct sockaddr *)&to, sizeof to), 0);
    uint8_t q[514], r[600];
    size_t n = query(q + 2, 99, "tcp.example", 1);
    q[0] = 0;
    q[1] = (uint8_t)n;
    assert_int_equal(send(t, q, n + 2, 0), (ssize_t)(n + 2));
    ssize_t k = recv_wait(t, r, sizeof r, NULL, NULL);
    assert_true(k > 2);
    assert_int_equal(((size_t)r[0] << 8 | r[1]), (size_t)k - 2);
    assert_int_equal(r[2], 0);
    assert_int_equal(r[3], 99);
    close(t);
}

static void test_a_datagram_to_another_port_reaches_nothing(void **st)
{
    (void)st;
    need_keeper();
    int u = guard_keeper_socket(&sup.keeper, AF_INET, SOCK_DGRAM, 0);
    assert_true(u >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(443)};
    inet_pton(AF_INET, "192.0.2.9", &to.sin_addr);
    assert_int_equal(connect(u, (struct sockaddr *)&to, sizeof to), 0);
    assert_int_equal(send(u, "quic", 4, 0), 4);
    /* The namespace's own ICMP "port unreachable" comes back: nothing
     * listens there, and there is no route anywhere else. */
    char b[16];
    struct pollfd p = {.fd = u, .events = POLLIN};
    poll(&p, 1, 2000);
    errno = 0;
    assert_int_equal(recv(u, b, sizeof b, MSG_DONTWAIT), -1);
    assert_int_equal(errno, ECONNREFUSED);
    close(u);
}

/* A keeper forked by a supervisor thread (the first UDP socket comes to
 * one) must outlive that thread: the supervisor's threads end when idle. */
static struct guard_sup sup_thread;

static void *keeper_ready_then_end(void *ok)
{
    *(bool *)ok = guard_keeper_ready(&sup_thread.keeper, &sup_thread);
    return NULL;
}

static void test_a_keeper_forked_by_a_thread_outlives_it(void **st)
{
    (void)st;
    need_keeper();
    memset(&sup_thread, 0, sizeof sup_thread);
    torify_config_defaults(&sup_thread.cfg);
    torify_logger_setup(&sup_thread.log, TORIFY_LOG_QUIET, -1);
    sup_thread.map = sup.map;
    guard_keeper_start(&sup_thread.keeper);
    assert_int_equal(sup_thread.keeper.pid, -1); /* not forked before it is needed */
    bool ok = false;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, keeper_ready_then_end, &ok), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(ok);
    /* A parent-death signal tied to the thread would have killed it by
     * now; it is still there, and still hands out sockets. */
    usleep(100 * 1000);
    assert_int_equal(waitpid(sup_thread.keeper.pid, NULL, WNOHANG), 0);
    int u = guard_keeper_socket(&sup_thread.keeper, AF_INET, SOCK_DGRAM, 0);
    assert_true(u >= 0);
    assert_true(guard_keeper_owns(&sup_thread.keeper, u));
    close(u);
    guard_keeper_stop(&sup_thread.keeper);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_udp_socket_from_the_keeper_lives_in_its_namespace),
        cmocka_unit_test(test_a_query_to_any_address_is_answered_from_that_address),
        cmocka_unit_test(test_ipv6_server_address_answers_aaaa_from_it),
        cmocka_unit_test(test_tcp_query_is_answered_with_its_length_prefix),
        cmocka_unit_test(test_a_datagram_to_another_port_reaches_nothing),
        cmocka_unit_test(test_a_keeper_forked_by_a_thread_outlives_it),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
