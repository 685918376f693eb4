/* core/state.c — see state.h.  All of libtorify's process-wide state. */
#include "core/state.h"
#include "core/fakemap_ask.h"
#include "core/procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- configuration ----------------------------------------------------- */

static struct torify_state_config config_state;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

_Atomic int torify_pass_state = TORIFY_PASS_UNKNOWN;

static const char *env_get(const char *name)
{
    return getenv(name);
}

bool torify_state_exempt_rule(const struct torify_config *cfg, bool launched, const char *exe)
{
    /* `torify tor` means "torify this": the launcher's word wins.  Without
     * /proc we cannot tell what runs: torify it (a tor that is torified
     * fails closed, it does not leak). */
    if (launched || !exe)
        return false;
    return torify_config_exe_exempt(cfg, exe);
}

/* The real executable, or NULL.  Not argv[0] or comm: those are whatever
 * the caller chose.  A truncated link is treated as unreadable. */
static const char *self_exe(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0 || (size_t)n >= len - 1)
        return NULL;
    buf[n] = '\0';
    return buf;
}

static void config_init(void)
{
    struct torify_state_config *s = &config_state;
    /* AT_SECURE (set-uid, capabilities): the environment is the caller's,
     * not the program owner's, so only the system file counts. */
    bool secure = getauxval(AT_SECURE) != 0;
    s->config_err = torify_config_load(&s->cfg, env_get, secure, s->config_msg, sizeof s->config_msg);
    if (!secure) {
        const char *l = getenv("TORIFY_LAUNCHED");
        s->cfg.launched = l && strcmp(l, "1") == 0;
    }
    char exe[TORIFY_EXE_PATH_MAX + 1];
    const char *self = self_exe(exe, sizeof exe);
    s->exempt = torify_state_exempt_rule(s->config_err == TORIFY_OK ? &s->cfg : NULL, s->cfg.launched, self);

    enum torify_log_level level = s->cfg.log_level_set ? s->cfg.log_level
                                  : s->cfg.launched   ? TORIFY_LOG_NOTICE
                                                      : TORIFY_LOG_QUIET;
    int fd = -1;
    /* An exempt process only ever logs that it is exempt (info level). */
    if (s->cfg.log_file[0] && (!s->exempt || level >= TORIFY_LOG_INFO)) {
        fd = open(s->cfg.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        /* An unopenable log file falls back to stderr rather than silence. */
    }
    /* Failing closed must not be a mystery; an exempt process is not
     * failing closed, and stays silent. */
    if (s->config_err != TORIFY_OK && !s->exempt && level < TORIFY_LOG_ERROR)
        level = TORIFY_LOG_ERROR;
    torify_log_setup(level, fd);
    if (s->config_err != TORIFY_OK && !s->exempt)
        torify_log(TORIFY_LOG_ERROR, "configuration error: %s (refusing all connections)", s->config_msg);
    if (s->exempt)
        torify_log(TORIFY_LOG_INFO, "%s is exempt (ExemptExecutable): every call passes untouched", self);
    atomic_store_explicit(&torify_pass_state, s->exempt ? TORIFY_PASS_YES : TORIFY_PASS_NO, memory_order_release);
}

const struct torify_state_config *torify_state_config(void)
{
    /* glibc's pthread_once is fork-aware: a child forked during the first
     * call runs it again instead of waiting forever. */
    pthread_once(&config_once, config_init);
    return &config_state;
}

/* ---- fake map ---------------------------------------------------------- */

static struct torify_fakemap *fakemap;
static torify_err fakemap_err;
static pthread_once_t fakemap_once = PTHREAD_ONCE_INIT;

/* "<fd>:<inode>", both decimal, nothing else. */
static bool parse_fakemap_env(const char *v, int *fd, uint64_t *ino)
{
    uint64_t a = 0, b = 0;
    const char *p = v;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((a = a * 10 + (uint64_t)(*p - '0')) > INT32_MAX)
            return false;
    if (*p++ != ':' || *p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (b > (UINT64_MAX - 9) / 10)
            return false;
        b = b * 10 + (uint64_t)(*p - '0');
    }
    if (*p != '\0')
        return false;
    *fd = (int)a;
    *ino = b;
    return true;
}

/* Where the exported memfd goes: high, out of the way of the program's own
 * low fds, below 1024 and the soft limit. */
static int export_min_fd(void)
{
    struct rlimit rl;
    rlim_t lim = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < lim)
        lim = rl.rlim_cur;
    return lim >= 16 ? (int)(lim * 3 / 4) : 3;
}

/* Is the calling thread the only one in the process?  From
 * /proc/self/stat (field 20, num_threads); false when it cannot tell.  If
 * it is, no other thread exists that could read the environment while
 * setenv() rewrites it, and none can appear meanwhile. */
static bool single_threaded(void)
{
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    unsigned long long threads;
    return n > 0 && torify_procstat_field(buf, (size_t)n, TORIFY_PROCSTAT_NUM_THREADS, &threads) == 0 &&
           threads == 1;
}

int torify_state_fakemap_publish(struct torify_fakemap *m)
{
    uint64_t ino = 0;
    int fd = torify_fakemap_export(m, export_min_fd(), &ino);
    if (fd < 0)
        return -1;
    char v[48];
    snprintf(v, sizeof v, "%d:%llu", fd, (unsigned long long)ino);
    if (setenv(TORIFY_FAKEMAP_ENV, v, 1) != 0)
        return -1;
    snprintf(v, sizeof v, "%d", (int)getpid());
    return setenv(TORIFY_FAKEMAP_PID_ENV, v, 1);
}

/* Hand a map this process created on to programs it execs — only while it
 * is single-threaded: setenv() in a threaded program races with getenv()
 * in its other threads (glibc's getenv takes no lock and may read an
 * environment array setenv just freed).  A threaded program's children
 * start their own map; the launcher publishes one map for its whole
 * process tree before exec, so under `torify` this rule never matters. */
static void fakemap_export(struct torify_fakemap *m)
{
    if (!single_threaded()) {
        torify_log(TORIFY_LOG_DEBUG, "fake address map not exported to exec'd programs (threads running)");
        return;
    }
    if (torify_state_fakemap_publish(m) != 0)
        torify_log(TORIFY_LOG_INFO, "cannot export the fake address map to exec'd programs");
}

/* The inherited fd is gone (the program closed every fd above 2 before it
 * exec'd us) or is another file: under the guard, ask the supervisor for
 * the tree's map (core/fakemap_ask.h).  What comes back is checked exactly
 * like an inherited fd: the environment's inode, seals, size and header.
 * Outside the guard the call just fails.  The mapping outlives the fd,
 * which is closed: the map's lock does not need it. */
static bool fakemap_ask_supervisor(uint64_t ino, const struct torify_fakemap_opts *o,
                                   struct torify_fakemap **m)
{
    long fd = syscall(TORIFY_FAKEMAP_ASK_NR, -1, (long)TORIFY_FAKEMAP_ASK_FD, (long)TORIFY_FAKEMAP_ASK_FLAGS);
    if (fd < 0 || fd > INT32_MAX)
        return false;
    bool ok = torify_fakemap_attach(m, (int)fd, ino, o) == TORIFY_OK;
    close((int)fd);
    return ok;
}

/* Outside the guard: the publisher (a shell, the program the launcher
 * exec'd) may still hold the fd this process lost.  /proc/<pid>/fd/<fd>
 * reopens the same memfd when the kernel lets us look at that process
 * (same user, dumpable; never from inside the guard's Landlock domain),
 * and the file is checked like an inherited fd, so a reused pid or fd
 * number yields nothing. */
static bool fakemap_reopen_publisher(int fd, uint64_t ino, const struct torify_fakemap_opts *o,
                                     struct torify_fakemap **m)
{
    const char *v = getenv(TORIFY_FAKEMAP_PID_ENV);
    if (!v || *v < '1' || *v > '9')
        return false;
    long pid = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || (pid = pid * 10 + (*p - '0')) > INT32_MAX)
            return false;
    }
    if (pid == (long)getpid())
        return false; /* it was our own fd, and it is gone */
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd/%d", pid, fd);
    int nfd = open(path, O_RDWR | O_CLOEXEC);
    if (nfd < 0)
        return false;
    bool ok = torify_fakemap_attach(m, nfd, ino, o) == TORIFY_OK;
    close(nfd);
    return ok;
}

static void fakemap_init(void)
{
    const struct torify_state_config *s = torify_state_config();
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    o.range4 = s->cfg.fake4;
    o.range6 = s->cfg.fake6;
    struct torify_fakemap *m = NULL;
    /* A set-uid program never trusts an inherited map (its caller wrote it). */
    bool secure = getauxval(AT_SECURE) != 0;
    const char *inherited = secure ? NULL : getenv(TORIFY_FAKEMAP_ENV);
    int fd;
    uint64_t ino;
    if (inherited && parse_fakemap_env(inherited, &fd, &ino)) {
        /* The fd itself, else (it was closed, or the number is another
         * file now) the guard's supervisor, else the publisher's fd. */
        const char *from = NULL;
        if (torify_fakemap_attach(&m, fd, ino, &o) == TORIFY_OK)
            from = "inherited from the parent";
        else if (fakemap_ask_supervisor(ino, &o, &m))
            from = "of the tree, from the guard (the inherited fd is gone)";
        else if (fakemap_reopen_publisher(fd, ino, &o, &m))
            from = "reopened from the publisher (the inherited fd is gone)";
        if (from) {
            __atomic_store_n(&fakemap, m, __ATOMIC_RELEASE);
            torify_log(TORIFY_LOG_DEBUG, "using the fake address map %s (fd %d)", from, fd);
            return;
        }
    }
    if (inherited)
        torify_log(TORIFY_LOG_INFO, "ignoring %s=%s (not a usable fake address map): starting a new one",
                   TORIFY_FAKEMAP_ENV, inherited);
    fakemap_err = torify_fakemap_create(&m, &o);
    if (fakemap_err == TORIFY_OK && !secure)
        fakemap_export(m);
    __atomic_store_n(&fakemap, m, __ATOMIC_RELEASE);
    if (fakemap_err)
        torify_log(TORIFY_LOG_ERROR, "cannot create the fake address map: %s", torify_strerror(fakemap_err));
}

struct torify_fakemap *torify_state_fakemap(torify_err *err)
{
    pthread_once(&fakemap_once, fakemap_init);
    if (!fakemap && err)
        *err = fakemap_err;
    return fakemap;
}

/* ---- fd table ---------------------------------------------------------- */

_Atomic uint64_t torify_fd_bits[TORIFY_FD_MAX / 64];
static _Atomic torify_fd_codec_release_fn codec_release;

void torify_fd_set_codec_release(torify_fd_codec_release_fn fn)
{
    atomic_store_explicit(&codec_release, fn, memory_order_release);
}
static _Atomic(struct torify_fd_rec *) fd_chunks[TORIFY_FD_CHUNKS];

static struct torify_fd_rec *chunk_for(int fd, bool create)
{
    unsigned c = (unsigned)fd / TORIFY_FD_CHUNK;
    struct torify_fd_rec *chunk = atomic_load_explicit(&fd_chunks[c], memory_order_acquire);
    if (chunk || !create)
        return chunk;
    /* mmap, not malloc: this may run inside a program's own malloc-free
     * paths, and chunks are never freed (bounded: one per 256 fds in use). */
    size_t len = TORIFY_FD_CHUNK * sizeof(struct torify_fd_rec);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct torify_fd_rec *expected = NULL;
    if (!atomic_compare_exchange_strong(&fd_chunks[c], &expected, (struct torify_fd_rec *)p)) {
        munmap(p, len); /* another thread won the race */
        return expected;
    }
    return p;
}

bool torify_fd_set(int fd, const struct torify_fd_rec *rec)
{
    if (fd < 0 || (unsigned)fd >= TORIFY_FD_MAX)
        return false;
    torify_fd_clear(fd);
    struct torify_fd_rec *chunk = chunk_for(fd, true);
    if (!chunk)
        return false;
    chunk[(unsigned)fd % TORIFY_FD_CHUNK] = *rec;
    atomic_fetch_or_explicit(&torify_fd_bits[(unsigned)fd / 64], 1ull << ((unsigned)fd % 64), memory_order_release);
    return true;
}

bool torify_fd_get(int fd, struct torify_fd_rec *out)
{
    if (!torify_fd_tracked(fd))
        return false;
    struct torify_fd_rec *chunk = chunk_for(fd, false);
    if (!chunk)
        return false;
    *out = chunk[(unsigned)fd % TORIFY_FD_CHUNK];
    return true;
}

void torify_fd_clear(int fd)
{
    if (fd < 0 || (unsigned)fd >= TORIFY_FD_MAX)
        return;
    /* The record is read before the bit is cleared and never written after:
     * once the bit is clear and the fd closed, another thread may get the
     * same fd number and set a new record, and what orders that thread's
     * writes after these reads is its own RMW of the same bitmap word (in
     * torify_fd_set), which synchronizes with the acq_rel one here.  (The
     * kernel's fd table orders them too, but no race detector sees that.) */
    if (!torify_fd_tracked(fd)) /* acquire: orders the record's last writer before the read */
        return;
    struct torify_fd_rec *chunk = chunk_for(fd, false);
    struct torify_fd_rec *r = chunk ? &chunk[(unsigned)fd % TORIFY_FD_CHUNK] : NULL;
    uint32_t slot = r ? r->fake_slot : TORIFY_FAKEMAP_NO_SLOT;
    void *codec = r ? r->codec : NULL;
    uint32_t gen = r ? r->codec_gen : 0;
    uint64_t bit = 1ull << ((unsigned)fd % 64);
    uint64_t old = atomic_fetch_and_explicit(&torify_fd_bits[(unsigned)fd / 64], ~bit, memory_order_acq_rel);
    if (!(old & bit) || !chunk)
        return;
    struct torify_fakemap *m = __atomic_load_n(&fakemap, __ATOMIC_ACQUIRE);
    if (slot != TORIFY_FAKEMAP_NO_SLOT && m)
        torify_fakemap_release(m, slot);
    if (codec) {
        torify_fd_codec_release_fn rel = atomic_load_explicit(&codec_release, memory_order_acquire);
        if (rel)
            rel(codec, gen);
    }
}
