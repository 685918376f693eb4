/* shim/state.c — see state.h.  The shim's process state, and the code that
 * initialises it and keeps it true across fork. */
#include "shim/state.h"
#include "core/fakemap_env.h"
#include "core/procstat.h"
#include "shim/explain.h"
#include "shim/nb.h"
#include "shim/publish.h"
#include "shim/opt.h"
#include "shim/real.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

/* All zero at load (.bss): the initialisers below are glibc's zeroes,
 * spelled out; the static assertion keeps them so. */
struct torify_shim_state torify_shim = {
    .config_once = PTHREAD_ONCE_INIT,
    .pass = TORIFY_PASS_UNKNOWN,
    .fakemap_once = PTHREAD_ONCE_INIT,
    .fork_once = PTHREAD_ONCE_INIT,
};
_Static_assert(PTHREAD_ONCE_INIT == 0 && TORIFY_PASS_UNKNOWN == 0, "torify_shim must start all zero");
/* nb.helper_lock too is zero at load: glibc's PTHREAD_MUTEX_INITIALIZER is
 * all zeroes, as the pool's objects rely on (shim/nb_conn.c). */

/* Until torify keeps state for some fd, close() is one indirect jump to
 * libc's (shim/close.c). */
int (*_Atomic torify_shim_close)(int) = TORIFY_LIBC_CLOSE;

__thread struct torify_shim_thread torify_shim_thread;

/* ---- fork --------------------------------------------------------------- */

/* In the child of fork() only the forking thread exists: the pid close()
 * compares with is the child's own; the parent's handshake helper is not
 * there, and its lock, perhaps held by a thread gone here, starts afresh
 * (shim/nb.h).  (Fork handlers run in the child
 * before fork() returns, and only async-signal-safe work is done here.) */
static void after_fork_child(void)
{
    atomic_store_explicit(&torify_shim.pid, getpid(), memory_order_relaxed);
    torify_nb_after_fork_child();
    torify_pub_after_fork_child();
    torify_explain_after_fork_child();
}

/* In the parent, before fork(): every SOCKS reply still owed (optimistic
 * data, shim/opt.h) is read now, waiting up to its handshake's deadline, so
 * that parent and child never race for the reply and neither reads its
 * bytes as data; after it both hold a plain (or a failed) socket. */
static void before_fork(void)
{
    torify_opt_settle_all(false);
}

static void fork_register(void)
{
    atomic_store_explicit(&torify_shim.pid, getpid(), memory_order_relaxed);
    (void)pthread_atfork(before_fork, NULL, after_fork_child);
}

void torify_shim_fork_init(void)
{
    pthread_once(&torify_shim.fork_once, fork_register);
}

/* ---- configuration ----------------------------------------------------- */

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
    struct torify_state_config *s = &torify_shim.config;
    /* AT_SECURE (set-uid, capabilities): the environment is the caller's,
     * not the program owner's, so only the system file counts. */
    bool secure = getauxval(AT_SECURE) != 0;
    /* cfg.launched is set also when the configuration is broken. */
    s->config_err = torify_config_load(&s->cfg, env_get, secure, s->config_msg, sizeof s->config_msg);
    char exe[TORIFY_EXE_PATH_MAX + 1];
    const char *self = self_exe(exe, sizeof exe);
    s->exempt = torify_state_exempt_rule(s->config_err == TORIFY_OK ? &s->cfg : NULL, s->cfg.launched, self);

    enum torify_log_level level = torify_config_log_level(&s->cfg, s->cfg.launched);
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
    torify_logger_setup(&torify_shim.log, level, fd);
    if (s->config_err != TORIFY_OK && !s->exempt)
        torify_log(TORIFY_LOG_ERROR, "configuration error: %s (refusing all connections)", s->config_msg);
    if (s->exempt)
        torify_log(TORIFY_LOG_INFO, "%s is exempt (ExemptExecutable): every call passes untouched", self);
    atomic_store_explicit(&torify_shim.pass, s->exempt ? TORIFY_PASS_YES : TORIFY_PASS_NO, memory_order_release);
}

const struct torify_state_config *torify_state_config(void)
{
    pthread_once(&torify_shim.config_once, config_init);
    return &torify_shim.config;
}

/* ---- fake map ---------------------------------------------------------- */

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
    torify_real_close(fd);
    unsigned long long threads;
    return n > 0 && torify_procstat_field(buf, (size_t)n, TORIFY_PROCSTAT_NUM_THREADS, &threads) == 0 &&
           threads == 1;
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
    if (torify_fakemap_env_publish(m) != 0)
        torify_log(TORIFY_LOG_INFO, "cannot export the fake address map to exec'd programs");
}

static void fakemap_init(void)
{
    const struct torify_state_config *s = torify_state_config();
    struct torify_fakemap_opts o;
    memset(&o, 0, sizeof o);
    o.range4 = s->cfg.fake4;
    o.range6 = s->cfg.fake6;
    /* A set-uid program never trusts an inherited map (its caller wrote it). */
    bool secure = getauxval(AT_SECURE) != 0;
    struct torify_fakemap *m =
        secure ? NULL : torify_fakemap_env_attach(getenv(TORIFY_FAKEMAP_ENV), getenv(TORIFY_FAKEMAP_PID_ENV), &o);
    if (!m) {
        torify_shim.fakemap_err = torify_fakemap_create(&m, &o);
        if (torify_shim.fakemap_err == TORIFY_OK && !secure)
            fakemap_export(m);
        if (torify_shim.fakemap_err)
            torify_log(TORIFY_LOG_ERROR, "cannot create the fake address map: %s",
                       torify_strerror(torify_shim.fakemap_err));
    }
    atomic_store_explicit(&torify_shim.fakemap, m, memory_order_release);
}

struct torify_fakemap *torify_state_fakemap(torify_err *err)
{
    pthread_once(&torify_shim.fakemap_once, fakemap_init);
    struct torify_fakemap *m = atomic_load_explicit(&torify_shim.fakemap, memory_order_acquire);
    if (!m && err)
        *err = torify_shim.fakemap_err;
    return m;
}

/* ---- fd table ---------------------------------------------------------- */

void *torify_shim_chunk(void *_Atomic *slot, size_t len, bool create)
{
    void *chunk = atomic_load_explicit(slot, memory_order_acquire);
    if (chunk || !create)
        return chunk;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    void *expected = NULL;
    if (!atomic_compare_exchange_strong(slot, &expected, p)) {
        munmap(p, len); /* another thread won the race */
        return expected;
    }
    return p;
}

/* The records' chunk of fd: bounded, one per 256 fds in use. */
static struct torify_fd_rec *chunk_for(int fd, bool create)
{
    return torify_shim_chunk(&torify_shim.fd_chunks[(unsigned)fd / TORIFY_FD_CHUNK],
                             TORIFY_FD_CHUNK * sizeof(struct torify_fd_rec), create);
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
    atomic_fetch_or_explicit(&torify_shim.fd_bits[(unsigned)fd / 64], 1ull << ((unsigned)fd % 64),
                             memory_order_release);
    torify_pub_note(fd, &rec->target);
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
    struct nb_conn *codec = r ? r->codec : NULL;
    uint32_t gen = r ? r->codec_gen : 0;
    struct opt_conn *opt = r ? r->opt : NULL;
    uint32_t opt_gen = r ? r->opt_gen : 0;
    uint64_t bit = 1ull << ((unsigned)fd % 64);
    uint64_t old = atomic_fetch_and_explicit(&torify_shim.fd_bits[(unsigned)fd / 64], ~bit, memory_order_acq_rel);
    if (!(old & bit) || !chunk)
        return;
    torify_pub_forget(fd);
    struct torify_fakemap *m = atomic_load_explicit(&torify_shim.fakemap, memory_order_acquire);
    if (slot != TORIFY_FAKEMAP_NO_SLOT && m)
        torify_fakemap_release(m, slot);
    if (codec)
        torify_nb_release_from_record(codec, gen);
    if (opt)
        torify_opt_release_from_record(fd, opt, opt_gen);
}
