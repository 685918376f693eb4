/* core/fakemap: capacity, both-way lookup, recycling, collisions, threads, fork. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/fakemap.h"

static struct torify_fakemap *make(uint32_t cap, const char *r4, const char *r6, torify_fakemap_hash_fn h)
{
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    o.capacity = cap;
    if (r4)
        assert_int_equal(torify_cidr_parse(r4, &o.range4), 0);
    if (r6)
        assert_int_equal(torify_cidr_parse(r6, &o.range6), 0);
    o.hash = h;
    struct torify_fakemap *m = NULL;
    assert_int_equal(torify_fakemap_create(&m, &o), TORIFY_OK);
    assert_non_null(m);
    return m;
}

static uint32_t assign(struct torify_fakemap *m, const char *name)
{
    uint32_t s = TORIFY_FAKEMAP_NO_SLOT;
    torify_err e = torify_fakemap_assign(m, name, strlen(name), &s);
    if (e != TORIFY_OK)
        fail_msg("assign %s: %s", name, torify_strerror(e));
    return s;
}

static void name_of4(struct torify_fakemap *m, uint32_t slot, char *out, size_t len)
{
    uint8_t a[4];
    torify_fakemap_addr4(m, slot, a);
    assert_int_equal(torify_fakemap_lookup_addr(m, AF_INET, a, out, len, NULL), TORIFY_OK);
}

static void test_default_map_holds_65536_distinct_names_both_ways(void **state)
{
    struct torify_fakemap *m = make(0, NULL, NULL, NULL);
    assert_true(torify_fakemap_capacity(m) >= 65536);
    char name[64], back[256];
    uint32_t n = 65536;
    for (uint32_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "host%u.example", i);
        uint32_t s = assign(m, name);
        assert_true(s < torify_fakemap_capacity(m));
    }
    assert_int_equal(torify_fakemap_count(m), n);
    /* Every name kept its own address: address -> name gives it back,
     * for IPv4 and IPv6, and name -> address is stable. */
    struct torify_cidr r4, r6;
    torify_cidr_parse("127.192.0.0/10", &r4);
    torify_cidr_parse("100::/64", &r6);
    for (uint32_t i = 0; i < n; i += 97) {
        snprintf(name, sizeof name, "host%u.example", i);
        uint32_t s = assign(m, name);
        uint8_t a4[4], a6[16];
        torify_fakemap_addr4(m, s, a4);
        torify_fakemap_addr6(m, s, a6);
        assert_true(torify_cidr_contains(&r4, AF_INET, a4));
        assert_true(torify_cidr_contains(&r6, AF_INET6, a6));
        assert_int_equal(torify_fakemap_lookup_addr(m, AF_INET, a4, back, sizeof back, NULL), TORIFY_OK);
        assert_string_equal(back, name);
        assert_int_equal(torify_fakemap_lookup_addr(m, AF_INET6, a6, back, sizeof back, NULL), TORIFY_OK);
        assert_string_equal(back, name);
    }
    assert_int_equal(torify_fakemap_count(m), n);
    torify_fakemap_destroy(m);
}

static void test_same_name_same_address_ignoring_case_and_trailing_dot(void **state)
{
    struct torify_fakemap *m = make(0, NULL, NULL, NULL);
    uint32_t a = assign(m, "Example.COM");
    assert_int_equal(assign(m, "example.com"), a);
    assert_int_equal(assign(m, "example.com."), a);
    assert_int_not_equal(assign(m, "example.org"), a);
    uint8_t a4[4];
    torify_fakemap_addr4(m, a, a4);
    assert_int_equal(a4[0], 127);
    assert_int_equal(a4[1] & 0xc0, 0xc0);
    assert_int_equal(torify_fakemap_count(m), 2);
    torify_fakemap_destroy(m);
}

static void test_onion_names_get_addresses_like_any_name(void **state)
{
    struct torify_fakemap *m = make(0, NULL, NULL, NULL);
    const char *onion = "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion";
    uint32_t s = assign(m, onion);
    char back[256];
    name_of4(m, s, back, sizeof back);
    assert_string_equal(back, onion);
    torify_fakemap_destroy(m);
}

static void test_addresses_outside_or_unassigned_are_told_apart(void **state)
{
    struct torify_fakemap *m = make(0, NULL, NULL, NULL);
    (void)assign(m, "one.test");
    char back[256];
    uint8_t real[4] = { 93, 184, 216, 34 };
    assert_int_equal(torify_fakemap_lookup_addr(m, AF_INET, real, back, sizeof back, NULL), TORIFY_E_INVAL_TARGET);
    assert_false(torify_fakemap_in_range(m, AF_INET, real));
    uint8_t stale[4] = { 127, 192, 200, 1 }; /* in range, never handed out */
    assert_true(torify_fakemap_in_range(m, AF_INET, stale));
    assert_int_equal(torify_fakemap_lookup_addr(m, AF_INET, stale, back, sizeof back, NULL),
                     TORIFY_E_REFUSE_UNKNOWN_FAKE);
    uint8_t net[4] = { 127, 192, 0, 0 }; /* the network address itself is never a slot */
    assert_int_equal(torify_fakemap_lookup_addr(m, AF_INET, net, back, sizeof back, NULL),
                     TORIFY_E_REFUSE_UNKNOWN_FAKE);
    torify_fakemap_destroy(m);
}

static void test_bad_names_are_refused(void **state)
{
    struct torify_fakemap *m = make(0, NULL, NULL, NULL);
    uint32_t s;
    assert_int_equal(torify_fakemap_assign(m, "", 0, &s), TORIFY_E_INVAL_HOST_EMPTY);
    assert_int_equal(torify_fakemap_assign(m, "a\0b", 3, &s), TORIFY_E_INVAL_HOST_NUL);
    char big[300];
    memset(big, 'a', sizeof big);
    assert_int_equal(torify_fakemap_assign(m, big, 256, &s), TORIFY_E_INVAL_HOST_TOO_LONG);
    assert_int_equal(torify_fakemap_assign(m, big, 255, &s), TORIFY_OK);
    assert_int_equal(torify_fakemap_count(m), 1);
    torify_fakemap_destroy(m);
}

static void test_capacity_is_cut_to_what_a_small_range_holds(void **state)
{
    struct torify_fakemap *m = make(0, "10.9.8.0/26", NULL, NULL);
    assert_int_equal(torify_fakemap_capacity(m), 62);
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    torify_cidr_parse("10.0.0.0/31", &o.range4);
    struct torify_fakemap *bad = NULL;
    assert_int_equal(torify_fakemap_create(&bad, &o), TORIFY_E_INVAL_ARGUMENT);
    torify_fakemap_destroy(m);
}

static void test_full_map_recycles_least_recently_used_and_stays_bounded(void **state)
{
    struct torify_fakemap *m = make(8, NULL, NULL, NULL);
    char name[32], back[256];
    uint32_t slot[8];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "n%d.test", i);
        slot[i] = assign(m, name);
    }
    /* Touch n0 again: now n1 is the least recently used and goes first. */
    (void)assign(m, "n0.test");
    (void)assign(m, "x0.test");
    uint32_t count = torify_fakemap_count(m);
    assert_int_equal(count, 8);
    /* The recycled slot now holds x0; exactly one old name is gone. */
    int gone = 0;
    for (int i = 0; i < 8; i++) {
        name_of4(m, slot[i], back, sizeof back);
        snprintf(name, sizeof name, "n%d.test", i);
        if (strcmp(back, name) != 0) {
            assert_string_equal(back, "x0.test");
            gone++;
        }
    }
    assert_int_equal(gone, 1);
    name_of4(m, slot[1], back, sizeof back);
    assert_string_equal(back, "x0.test");
    /* Many more names: memory stays bounded at capacity. */
    for (int i = 1; i < 1000; i++) {
        snprintf(name, sizeof name, "x%d.test", i);
        assert_true(assign(m, name) < 8);
    }
    assert_int_equal(torify_fakemap_count(m), 8);
    /* The most recent name is still there and maps both ways. */
    uint32_t s = assign(m, "x999.test");
    name_of4(m, s, back, sizeof back);
    assert_string_equal(back, "x999.test");
    torify_fakemap_destroy(m);
}

static void test_recently_used_names_survive_recycling(void **state)
{
    struct torify_fakemap *m = make(4, NULL, NULL, NULL);
    uint32_t keep = assign(m, "keep.test");
    (void)assign(m, "b.test");
    (void)assign(m, "c.test");
    (void)assign(m, "d.test");
    /* Each new name recycles one slot; keep.test is looked up (address ->
     * name, as a connect does) in between, so it is never the oldest. */
    char name[32], back[256];
    for (int i = 0; i < 50; i++) {
        uint8_t a[4];
        torify_fakemap_addr4(m, keep, a);
        assert_int_equal(torify_fakemap_lookup_addr(m, AF_INET, a, back, sizeof back, NULL), TORIFY_OK);
        assert_string_equal(back, "keep.test");
        snprintf(name, sizeof name, "churn%d.test", i);
        (void)assign(m, name);
    }
    assert_int_equal(assign(m, "keep.test"), keep);
    torify_fakemap_destroy(m);
}

static void test_held_slots_are_never_recycled_and_full_hold_fails_cleanly(void **state)
{
    struct torify_fakemap *m = make(4, NULL, NULL, NULL);
    uint32_t s[4];
    const char *names[4] = { "a.test", "b.test", "c.test", "d.test" };
    for (int i = 0; i < 4; i++) {
        s[i] = assign(m, names[i]);
        torify_fakemap_hold(m, s[i]);
    }
    uint32_t x;
    errno = 0;
    assert_int_equal(torify_fakemap_assign(m, "e.test", 6, &x), TORIFY_E_IO);
    assert_int_equal(errno, ENOSPC);
    char back[256];
    for (int i = 0; i < 4; i++) {
        name_of4(m, s[i], back, sizeof back);
        assert_string_equal(back, names[i]);
    }
    /* Releasing one (the connection closed) frees exactly that slot. */
    torify_fakemap_release(m, s[2]);
    uint32_t e = assign(m, "e.test");
    assert_int_equal(e, s[2]);
    for (int i = 0; i < 4; i++) {
        if (i == 2)
            continue;
        name_of4(m, s[i], back, sizeof back);
        assert_string_equal(back, names[i]);
    }
    /* Over-release never wraps the hold count. */
    torify_fakemap_release(m, s[0]);
    torify_fakemap_release(m, s[0]);
    torify_fakemap_destroy(m);
}

static uint64_t constant_hash(const char *name, size_t len)
{
    (void)name;
    (void)len;
    return 42;
}

static void test_hash_collisions_keep_every_name_distinct_through_recycling(void **state)
{
    struct torify_fakemap *m = make(64, NULL, NULL, constant_hash);
    char name[32], back[256];
    uint32_t slots[64];
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "c%d.test", i);
        slots[i] = assign(m, name);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(slots[i], slots[j]);
    }
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof name, "c%d.test", i);
        assert_int_equal(assign(m, name), slots[i]);
    }
    /* Recycle half of them (removal from a single probe chain), then every
     * remaining name must still be found at its own slot. */
    for (int i = 0; i < 32; i++) {
        snprintf(name, sizeof name, "new%d.test", i);
        (void)assign(m, name);
    }
    assert_int_equal(torify_fakemap_count(m), 64);
    int found_old = 0;
    for (uint32_t s = 0; s < 64; s++) {
        uint8_t a[4];
        torify_fakemap_addr4(m, s, a);
        assert_int_equal(torify_fakemap_lookup_addr(m, AF_INET, a, back, sizeof back, NULL), TORIFY_OK);
        /* name -> slot agrees with slot -> name for every entry */
        assert_int_equal(assign(m, back), s);
        if (strncmp(back, "c", 1) == 0)
            found_old++;
    }
    assert_int_equal(found_old, 32);
    torify_fakemap_destroy(m);
}

struct thread_arg {
    struct torify_fakemap *m;
    int id;
    uint32_t slots[2000];
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    char name[32];
    for (int i = 0; i < 2000; i++) {
        /* All threads ask for the same names, in different orders. */
        int k = a->id % 2 ? 1999 - i : i;
        snprintf(name, sizeof name, "t%d.test", k);
        uint32_t s;
        if (torify_fakemap_assign(a->m, name, strlen(name), &s) != TORIFY_OK)
            s = TORIFY_FAKEMAP_NO_SLOT;
        a->slots[k] = s;
    }
    return NULL;
}

static void test_threads_agree_on_every_name(void **state)
{
    struct torify_fakemap *m = make(0, NULL, NULL, NULL);
    static struct thread_arg args[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        args[t].m = m;
        args[t].id = t;
        assert_int_equal(pthread_create(&th[t], NULL, thread_main, &args[t]), 0);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    for (int k = 0; k < 2000; k++) {
        assert_int_not_equal(args[0].slots[k], TORIFY_FAKEMAP_NO_SLOT);
        for (int t = 1; t < 4; t++)
            assert_int_equal(args[t].slots[k], args[0].slots[k]);
    }
    assert_int_equal(torify_fakemap_count(m), 2000);
    torify_fakemap_destroy(m);
}

static void test_forked_children_share_the_map_with_the_parent(void **state)
{
    struct torify_fakemap *m = make(0, NULL, NULL, NULL);
    uint32_t parent_slot = assign(m, "parent.test");
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Child: sees the parent's name at the same slot, adds its own. */
        uint32_t s1, s2;
        int ok = torify_fakemap_assign(m, "parent.test", 11, &s1) == TORIFY_OK && s1 == parent_slot &&
                 torify_fakemap_assign(m, "child.test", 10, &s2) == TORIFY_OK;
        uint32_t msg = ok ? s2 : TORIFY_FAKEMAP_NO_SLOT;
        ssize_t w = write(pfd[1], &msg, sizeof msg);
        _exit(w == sizeof msg ? 0 : 1);
    }
    close(pfd[1]);
    uint32_t child_slot = TORIFY_FAKEMAP_NO_SLOT;
    assert_int_equal(read(pfd[0], &child_slot, sizeof child_slot), (ssize_t)sizeof child_slot);
    close(pfd[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_not_equal(child_slot, TORIFY_FAKEMAP_NO_SLOT);
    /* The parent resolves the child's address to the child's name. */
    char back[256];
    name_of4(m, child_slot, back, sizeof back);
    assert_string_equal(back, "child.test");
    assert_int_equal(assign(m, "child.test"), child_slot);
    torify_fakemap_destroy(m);
}

static void test_a_child_dying_mid_use_does_not_wedge_the_map(void **state)
{
    struct torify_fakemap *m = make(0, NULL, NULL, NULL);
    (void)assign(m, "before.test");
    /* Children killed while hammering the map: some die holding the lock
     * (the robust mutex hands it on), the map stays usable and consistent. */
    for (int round = 0; round < 5; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            char name[32];
            for (unsigned i = 0;; i++) {
                snprintf(name, sizeof name, "kid%d-%u.test", round, i % 5000);
                uint32_t s;
                (void)torify_fakemap_assign(m, name, strlen(name), &s);
            }
        }
        usleep(20000);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
    }
    char back[256];
    uint32_t s = assign(m, "before.test");
    name_of4(m, s, back, sizeof back);
    assert_string_equal(back, "before.test");
    uint32_t n = assign(m, "after.test");
    name_of4(m, n, back, sizeof back);
    assert_string_equal(back, "after.test");
    torify_fakemap_destroy(m);
}

static void test_a_process_dying_with_the_lock_does_not_deadlock_the_others(void **state)
{
    struct torify_fakemap *m = make(0, NULL, NULL, NULL);
    uint32_t before = assign(m, "kept.test");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(torify_fakemap_lock_and_abandon(m) == TORIFY_OK ? 0 : 1);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Without a robust lock this would hang forever: bound it. */
    alarm(10);
    char back[256];
    assert_int_equal(assign(m, "kept.test"), before);
    name_of4(m, before, back, sizeof back);
    assert_string_equal(back, "kept.test");
    uint32_t n = assign(m, "new.test");
    name_of4(m, n, back, sizeof back);
    assert_string_equal(back, "new.test");
    assert_int_equal(torify_fakemap_count(m), 2);
    alarm(0);
    torify_fakemap_destroy(m);
}

/* ---- sharing across exec: attach by fd, validation, untrusted memory ---- */

static struct torify_fakemap *attach(struct torify_fakemap *m, uint32_t cap, torify_err want)
{
    uint64_t ino = 0;
    int fd = torify_fakemap_export(m, 100, &ino);
    assert_true(fd >= 100);
    assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0); /* survives exec */
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    o.capacity = cap;
    struct torify_fakemap *a = NULL;
    assert_int_equal(torify_fakemap_attach(&a, fd, ino, &o), want);
    return a;
}

static void test_an_attached_map_shares_every_name_both_ways(void **state)
{
    struct torify_fakemap *m = make(0, NULL, NULL, NULL);
    assert_true(torify_fakemap_fd(m) >= 0);
    uint32_t s = assign(m, "before.test");
    struct torify_fakemap *a = attach(m, 0, TORIFY_OK);
    char back[256];
    name_of4(a, s, back, sizeof back);
    assert_string_equal(back, "before.test");
    uint32_t t;
    assert_int_equal(torify_fakemap_assign(a, "after.test", 10, &t), TORIFY_OK);
    name_of4(m, t, back, sizeof back);
    assert_string_equal(back, "after.test");
    assert_int_equal(assign(m, "Before.Test."), s);
    torify_fakemap_destroy(a);
    torify_fakemap_destroy(m);
}

static void test_attach_refuses_anything_but_the_announced_sealed_map_of_its_own_geometry(void **state)
{
    struct torify_fakemap *m = make(0, NULL, NULL, NULL);
    uint64_t ino = 0;
    int fd = torify_fakemap_export(m, 100, &ino);
    assert_true(fd >= 0);
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    struct torify_fakemap *a = NULL;
    /* Wrong inode (the fd number was reused for another file). */
    assert_int_equal(torify_fakemap_attach(&a, fd, ino + 1, &o), TORIFY_E_INVAL_ARGUMENT);
    /* Not an fd / a closed one. */
    assert_int_equal(torify_fakemap_attach(&a, -1, ino, &o), TORIFY_E_INVAL_ARGUMENT);
    assert_int_equal(torify_fakemap_attach(&a, 999, ino, &o), TORIFY_E_INVAL_ARGUMENT);
    /* Another configuration's ranges or capacity. */
    struct torify_fakemap_opts other = o;
    assert_int_equal(torify_cidr_parse("10.128.0.0/10", &other.range4), 0);
    assert_int_equal(torify_fakemap_attach(&a, fd, ino, &other), TORIFY_E_INVAL_ARGUMENT);
    other = o;
    other.capacity = 1000;
    assert_int_equal(torify_fakemap_attach(&a, fd, ino, &other), TORIFY_E_INVAL_ARGUMENT);
    /* A file of the right size that is not sealed (could shrink under us). */
    size_t len, lo, ll;
    void *raw = torify_fakemap_raw(m, &len, &lo, &ll);
    int plain = memfd_create("not-sealed", MFD_CLOEXEC);
    assert_true(plain >= 0);
    assert_int_equal(ftruncate(plain, (off_t)len), 0);
    assert_int_equal(pwrite(plain, raw, 4096, 0), 4096);
    struct stat st;
    assert_int_equal(fstat(plain, &st), 0);
    assert_int_equal(torify_fakemap_attach(&a, plain, st.st_ino, &o), TORIFY_E_INVAL_ARGUMENT);
    close(plain);
    /* A wrong magic or version in the header. */
    char *hdr = raw;
    hdr[0] ^= 0x55;
    assert_int_equal(torify_fakemap_attach(&a, fd, ino, &o), TORIFY_E_INVAL_ARGUMENT);
    hdr[0] ^= 0x55;
    hdr[8] ^= 0x01;
    assert_int_equal(torify_fakemap_attach(&a, fd, ino, &o), TORIFY_E_INVAL_ARGUMENT);
    hdr[8] ^= 0x01;
    /* And the real one still attaches. */
    assert_int_equal(torify_fakemap_attach(&a, fd, ino, &o), TORIFY_OK);
    torify_fakemap_destroy(a);
    torify_fakemap_destroy(m);
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (uint32_t)rnd_state;
}

/* Overwrite [from, to) of the shared memory, sparing the lock. */
static void scribble(struct torify_fakemap *m, size_t from, size_t to, int kind)
{
    size_t len, lo, ll;
    unsigned char *raw = torify_fakemap_raw(m, &len, &lo, &ll);
    if (to > len)
        to = len;
    for (size_t i = from; i < to; i++) {
        if (i >= lo && i < lo + ll)
            continue;
        raw[i] = kind == 0 ? (unsigned char)rnd() : kind == 1 ? 0xFF : (i % 4 == 0 ? 1 : 0);
    }
}

static void test_a_scribbled_index_and_header_are_repaired_from_the_slots(void **state)
{
    /* The index entirely 0xFF (slots out of range), entirely "slot 0" (no
     * empty entry, endless probing), or random; the header's counters and
     * list ends random: every name keeps its address. */
    for (int kind = 0; kind < 3; kind++) {
        struct torify_fakemap *m = make(1024, NULL, NULL, NULL);
        uint32_t slots[300];
        char name[32], back[256];
        for (int i = 0; i < 300; i++) {
            snprintf(name, sizeof name, "n%d.test", i);
            slots[i] = assign(m, name);
        }
        size_t len, lo, ll;
        (void)torify_fakemap_raw(m, &len, &lo, &ll);
        size_t index_bytes = 2048 * sizeof(uint32_t);
        scribble(m, len - index_bytes, len, kind);
        scribble(m, lo + ll, lo + ll + 16, 0); /* fresh, count, LRU ends */
        for (int i = 0; i < 300; i++) {
            snprintf(name, sizeof name, "n%d.test", i);
            assert_int_equal(assign(m, name), slots[i]);
            name_of4(m, slots[i], back, sizeof back);
            assert_string_equal(back, name);
        }
        uint32_t t = assign(m, "new.test");
        name_of4(m, t, back, sizeof back);
        assert_string_equal(back, "new.test");
        torify_fakemap_destroy(m);
    }
}

static void test_random_garbage_anywhere_but_the_lock_never_breaks_bounds(void **state)
{
    /* A hostile process with the same uid can write anything: names may
     * come out wrong, every call must still return (bounded) and stay in
     * bounds (the sanitizer build checks the latter). */
    struct torify_fakemap *m = make(512, NULL, NULL, NULL);
    size_t len, lo, ll;
    (void)torify_fakemap_raw(m, &len, &lo, &ll);
    char name[32], back[256];
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 20; i++) {
            snprintf(name, sizeof name, "r%d-%d.test", round, i);
            uint32_t s = TORIFY_FAKEMAP_NO_SLOT;
            torify_err e = torify_fakemap_assign(m, name, strlen(name), &s);
            assert_true(e == TORIFY_OK || e == TORIFY_E_IO);
            if (e == TORIFY_OK) {
                assert_true(s < torify_fakemap_capacity(m));
                uint8_t a[16];
                torify_fakemap_addr6(m, s, a);
                torify_err le = torify_fakemap_lookup_addr(m, AF_INET6, a, back, sizeof back, NULL);
                assert_true(le == TORIFY_OK || le == TORIFY_E_REFUSE_UNKNOWN_FAKE);
                if (le == TORIFY_OK)
                    assert_true(strlen(back) <= TORIFY_FAKEMAP_NAME_MAX);
            }
        }
        /* A burst of garbage somewhere: header, slots or index. */
        size_t at = rnd() % len, n = 1 + rnd() % 8192;
        scribble(m, at, at + n, round % 3);
        uint32_t s = rnd() % 600; /* in and out of range */
        uint8_t a4[4];
        torify_fakemap_addr4(m, s, a4);
        (void)torify_fakemap_lookup_addr(m, AF_INET, a4, back, sizeof back, NULL);
        torify_fakemap_hold(m, s);
        torify_fakemap_release(m, s);
        (void)torify_fakemap_count(m);
    }
    torify_fakemap_destroy(m);
}

/* Words of the shared header a hostile process points at this process's
 * memory, over and over, while it assigns and looks up names. */
static struct { void *prev, *next; } victim[2];
static atomic_int hostile_stop;
static uint64_t *hostile_words;
static size_t hostile_n;

static void *hostile_writer(void *arg)
{
    (void)arg;
    while (!atomic_load(&hostile_stop))
        for (size_t i = 0; i < hostile_n; i++)
            __atomic_store_n(&hostile_words[i], (uint64_t)(uintptr_t)&victim[i % 2], __ATOMIC_RELAXED);
    return NULL;
}

/* The lock shared with other processes must hold no pointer this process
 * follows: glibc's robust mutex keeps its robust-list links inside the
 * mutex and unlock writes through them (a write-what-where for anyone who
 * can write the memfd). */
static void test_hostile_pointers_in_the_shared_lock_are_never_written_through(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60);
        struct torify_fakemap *m = make(512, NULL, NULL, NULL);
        size_t len, lo, ll;
        unsigned char *raw = torify_fakemap_raw(m, &len, &lo, &ll);
        /* Everything of the lock region but its first 24 bytes (the lock
         * word, owner, kind: garbage there only makes others wait). */
        hostile_words = (uint64_t *)(void *)(raw + lo + 24);
        hostile_n = ll > 24 ? (ll - 24) / 8 : 0;
        pthread_t t;
        pthread_create(&t, NULL, hostile_writer, NULL);
        char name[32], back[256];
        for (int i = 0; i < 200000; i++) {
            snprintf(name, sizeof name, "h%d.test", i % 600);
            uint32_t sl;
            if (torify_fakemap_assign(m, name, strlen(name), &sl) == TORIFY_OK) {
                uint8_t a[4];
                torify_fakemap_addr4(m, sl, a);
                (void)torify_fakemap_lookup_addr(m, AF_INET, a, back, sizeof back, NULL);
            }
        }
        atomic_store(&hostile_stop, 1);
        pthread_join(t, NULL);
        bool clean = !victim[0].prev && !victim[0].next && !victim[1].prev && !victim[1].next;
        _exit(clean ? 0 : 3);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st))
        print_error("child killed by signal %d\n", WTERMSIG(st));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Whether another process sees byte 0 of path locked (F_GETLK from a child). */
static bool locked_for_others(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int f = open(path, O_RDWR);
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
        _exit(f >= 0 && fcntl(f, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The map's lock is a record lock on its memfd.  If the program closes
 * that fd number (close-all loops) and opens a file of its own there, the
 * map must not lock and then unlock that file: POSIX locks are per process
 * and file, so the unlock would drop the program's own lock on it. */
static void test_the_map_never_takes_or_drops_locks_on_a_file_that_took_its_fd_number(void **state)
{
    struct torify_fakemap *m = make(64, NULL, NULL, NULL);
    int mfd = torify_fakemap_fd(m);
    if (mfd < 0) {
        torify_fakemap_destroy(m);
        skip(); /* no memfd here: the robust-mutex fallback */
    }
    char path[] = "/tmp/torify-test-lockXXXXXX";
    int f = mkstemp(path);
    assert_true(f >= 0);
    assert_int_equal(close(mfd), 0);
    assert_int_equal(dup2(f, mfd), mfd); /* the program's file at the map's number */
    close(f);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
    assert_int_equal(fcntl(mfd, F_SETLK, &fl), 0); /* the program's own lock */
    assert_true(locked_for_others(path));
    uint32_t slot;
    /* The program closed the map's fd (a close-all loop): names still work. */
    assert_int_equal(torify_fakemap_assign(m, "x.test", 6, &slot), TORIFY_OK);
    char back[256];
    name_of4(m, slot, back, sizeof back);
    assert_string_equal(back, "x.test");
    assert_true(locked_for_others(path));
    close(mfd);
    unlink(path);
    torify_fakemap_destroy(m);
}

/* The owner word of a memfd map: sizeof(uint32_t) at the lock's offset. */
static void set_owner(struct torify_fakemap *m, uint32_t pid)
{
    size_t len, lo, ll;
    unsigned char *raw = torify_fakemap_raw(m, &len, &lo, &ll);
    __atomic_store_n((uint32_t *)(void *)(raw + lo), pid, __ATOMIC_RELEASE);
}

static void test_a_lock_left_by_a_dead_or_forged_owner_is_taken_over(void **state)
{
    struct torify_fakemap *m = make(64, NULL, NULL, NULL);
    if (torify_fakemap_fd(m) < 0) {
        torify_fakemap_destroy(m);
        skip(); /* no memfd here: the robust-mutex fallback */
    }
    uint32_t kept = assign(m, "kept.test");
    char back[256];
    alarm(20); /* a lock that is never given up would hang here */
    /* A process that exited (its pid is free now) still "holds" it. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    set_owner(m, (uint32_t)pid);
    assert_int_equal(assign(m, "kept.test"), kept);
    /* A live process that never lets go (forged: pid 1): bounded wait. */
    set_owner(m, 1);
    uint32_t n = assign(m, "after-forged.test");
    name_of4(m, n, back, sizeof back);
    assert_string_equal(back, "after-forged.test");
    /* Garbage that is no pid at all. */
    set_owner(m, 0xFFFFFFF0u);
    assert_int_equal(assign(m, "kept.test"), kept);
    alarm(0);
    torify_fakemap_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_map_holds_65536_distinct_names_both_ways),
        cmocka_unit_test(test_same_name_same_address_ignoring_case_and_trailing_dot),
        cmocka_unit_test(test_onion_names_get_addresses_like_any_name),
        cmocka_unit_test(test_addresses_outside_or_unassigned_are_told_apart),
        cmocka_unit_test(test_bad_names_are_refused),
        cmocka_unit_test(test_capacity_is_cut_to_what_a_small_range_holds),
        cmocka_unit_test(test_full_map_recycles_least_recently_used_and_stays_bounded),
        cmocka_unit_test(test_recently_used_names_survive_recycling),
        cmocka_unit_test(test_held_slots_are_never_recycled_and_full_hold_fails_cleanly),
        cmocka_unit_test(test_hash_collisions_keep_every_name_distinct_through_recycling),
        cmocka_unit_test(test_threads_agree_on_every_name),
        cmocka_unit_test(test_forked_children_share_the_map_with_the_parent),
        cmocka_unit_test(test_a_child_dying_mid_use_does_not_wedge_the_map),
        cmocka_unit_test(test_a_process_dying_with_the_lock_does_not_deadlock_the_others),
        cmocka_unit_test(test_an_attached_map_shares_every_name_both_ways),
        cmocka_unit_test(test_attach_refuses_anything_but_the_announced_sealed_map_of_its_own_geometry),
        cmocka_unit_test(test_a_scribbled_index_and_header_are_repaired_from_the_slots),
        cmocka_unit_test(test_random_garbage_anywhere_but_the_lock_never_breaks_bounds),
        cmocka_unit_test(test_hostile_pointers_in_the_shared_lock_are_never_written_through),
        cmocka_unit_test(test_the_map_never_takes_or_drops_locks_on_a_file_that_took_its_fd_number),
        cmocka_unit_test(test_a_lock_left_by_a_dead_or_forged_owner_is_taken_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
