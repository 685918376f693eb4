/*
 * guard/run.c — start the program under the guard and supervise it.
 *
 *   launcher (supervisor)                child
 *   ---------------------                -----
 *   socketpair, block signals, clone ->  no_new_privs + seccomp filter
 *                                        (SECCOMP_FILTER_FLAG_NEW_LISTENER)
 *   receive the listener fd          <-  send it (SCM_RIGHTS), close it
 *   start the notification thread        restore signal mask, exec program
 *   sigwaitinfo: forward signals,
 *   reap children, return the status
 *
 * The filter is inherited over fork/clone and kept across execve, so every
 * descendant is guarded, whatever it does with its environment.  The
 * launcher becomes a child subreaper: descendants orphaned while it runs
 * stay its descendants, so it may still read their memory (Yama ptrace
 * scope 1 allows ancestors only) and reaps them.
 *
 * The child is made as posix_spawn makes one: clone(CLONE_VM |
 * CLONE_VFORK) on a stack of its own.  A fork would copy the launcher's
 * page tables and make every page either side then writes fault once
 * (copy on write): the most of a guarded start's cost on a machine where
 * page faults are dear.  Sharing the memory is safe because the launcher
 * is still single-threaded here and sleeps until the child has exec'd or
 * exited: what the child does to memory (its log lines, a socket asked
 * of the keeper, a directory read) it does in place of the launcher,
 * which changes nothing it reads afterwards, and it leaves only by
 * execve or _exit.  The launcher installs no signal handler that could
 * run in the child once its mask is restored.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "guard/guard.h"
#include "guard/internal.h"
#include "guard/log.h"

/* The listener goes from the child to the supervisor as one byte and one
 * fd (fdpass.c). */
static int send_fd(int sock, int fd)
{
    return guard_fd_send(sock, "L", 1, &fd, 1);
}

/* The listener ("L" and the fd), or -1; *missing is set to what the
 * kernel lacks when the child said so instead ("K" and a probe_exit). */
static int recv_fd(int sock, int *missing)
{
    unsigned char msg[2] = {0, 0};
    int fd = -1, n = 0;
    ssize_t got = guard_fd_recv(sock, msg, sizeof msg, &fd, 1, &n);
    *missing = got == 2 && msg[0] == 'K' ? msg[1] : 0;
    if (got != 1 || msg[0] != 'L' || n != 1)
        return n == 1 ? (close(fd), -1) : -1;
    return fd;
}

/* In the child: the kernel lacks what the guard needs; the program is not
 * run. */
_Noreturn static void kernel_missing(int sock, int code)
{
    unsigned char msg[2] = {'K', (unsigned char)code};
    (void)guard_fd_send(sock, msg, sizeof msg, NULL, 0);
    _exit(126);
}

struct child_args {
    struct guard_sup *s;
    int sock;
    const sigset_t *old;
    const char *path;
    char *const *argv;
    char *const *envp;
};

static int child_main(void *arg)
{
    const struct child_args *a = arg;
    struct guard_sup *s = a->s;
    int sock = a->sock;
    const sigset_t *old = a->old;
    const char *path = a->path;
    char *const *argv = a->argv;
    char *const *envp = a->envp;

    /* Before the filter: the keeper's control socket is still ours to use
     * (the supervisor's threads start only once the listener arrives). */
    guard_seal_inherited(s, sock);
    if (s->cfg.hide_identity) {
        char why[200] = "";
        if (guard_uts_hide(why, sizeof why) != 0)
            guard_log(s, TORIFY_LOG_NOTICE,
                      "guard: --hide-identity: no host name of its own for the program (%s); programs that "
                      "go through libc still see localhost, static ones the real name",
                      why);
    }
    /* What the launcher's probe asks (kernel.c), asked again here, of the
     * real listener: when nothing could be nested the launcher ran no
     * probe, and a kernel without these must not run the program. */
    if (!guard_kernel_pidfd_works(sock))
        kernel_missing(sock, PROBE_NO_PIDFD);
    int listener = guard_filter_install();
    if (listener == -EINVAL || listener == -EBUSY)
        kernel_missing(sock, listener == -EINVAL ? PROBE_NO_LISTENER : PROBE_NESTED);
    if (listener < 0) {
        dprintf(STDERR_FILENO, "torify: guard: cannot install the seccomp filter: %s\n", strerror(-listener));
        _exit(126);
    }
    if (!guard_kernel_addfd_known(listener))
        kernel_missing(sock, PROBE_NO_ADDFD);
    if (send_fd(sock, listener) != 0) {
        dprintf(STDERR_FILENO, "torify: guard: cannot hand over the listener: %s\n", strerror(errno));
        _exit(126);
    }
    /* The listener must live in the supervisor only: if the program held
     * it, it could answer its own connects. */
    close(listener);
    close(sock);
    if (sigprocmask(SIG_SETMASK, old, NULL) != 0)
        _exit(126);
    execve(path, argv, envp);
    int e = errno;
    if (e == ENOEXEC) {
        /* Like execvp: a file without #! is a shell script. */
        size_t n = 0;
        while (argv[n])
            n++;
        char **sh = calloc(n + 2, sizeof *sh);
        if (sh) {
            sh[0] = (char *)"/bin/sh";
            sh[1] = (char *)path;
            for (size_t i = 1; i < n; i++)
                sh[i + 1] = argv[i];
            execve("/bin/sh", sh, envp);
            e = errno;
        }
    }
    dprintf(STDERR_FILENO, "torify: cannot run %s: %s\n", path, strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

/* The child's stack: it uses a few pages of it (the inherited-socket
 * scan, a log line, the filter's program) before it execs. */
#define CHILD_STACK (64 * 1024)

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM};

static int supervise(pid_t child, const sigset_t *set)
{
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(set, &si);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            return 126;
        }
        if (sig != SIGCHLD) {
            /* Terminal-generated signals (SI_KERNEL) went to the whole
             * foreground process group, the program included: forwarding
             * them would deliver them twice. */
            if (si.si_code != SI_KERNEL)
                kill(child, sig);
            continue;
        }
        for (;;) {
            int st;
            pid_t w = waitpid(-1, &st, WNOHANG);
            if (w <= 0)
                break;
            if (w != child)
                continue; /* an orphaned descendant: reaped */
            if (WIFEXITED(st))
                return WEXITSTATUS(st);
            if (WIFSIGNALED(st))
                return 128 + WTERMSIG(st);
        }
    }
}

/* envp plus TORIFY_GUARDED=1 (an old value dropped), in a new array. */
static char **mark_env(char *const envp[])
{
    static char marker[] = TORIFY_GUARD_ENV "=1";
    const size_t klen = sizeof TORIFY_GUARD_ENV; /* name and '=' */
    size_t n = 0;
    while (envp && envp[n])
        n++;
    char **out = calloc(n + 2, sizeof *out);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(envp[i], marker, klen) != 0)
            out[k++] = envp[i];
    out[k++] = marker;
    out[k] = NULL;
    return out;
}

int torify_guard_run(const struct torify_config *cfg, struct torify_fakemap *map, const char *path,
                     char *const argv[], char *const envp_in[], char *err, size_t err_len)
{
    if (!path || !argv || !argv[0]) {
        snprintf(err, err_len, "no program to run");
        return -1;
    }

    /* Lives as long as the process: handler threads may still use it. */
    static struct guard_sup sup;
    memset(&sup, 0, sizeof sup);
    sup.cfg = *cfg;
    /* Its lines go to the launcher's stderr, at the level of the programs
     * it launches; set up before the supervisor's threads exist. */
    torify_logger_setup(&sup.log, torify_config_log_level(cfg, true), -1);
    sup.map = map;

    /* The keeper is forked when something first needs the namespace
     * (guard_keeper_ready): here, before signals are blocked and while this
     * process is single-threaded, only when the child has inherited
     * datagram sockets to replace with the keeper's.  Without it datagram
     * sockets are refused, with the reason told at the first refusal
     * (socket.c). */
    guard_keeper_start(&sup.keeper);
    if (guard_inherited_any(&sup.keeper))
        guard_keeper_ready(&sup.keeper, &sup);

    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaddset(&set, forwarded[i]);
    /* SIG_IGN for SIGCHLD (inherited) would make children vanish unreaped. */
    signal(SIGCHLD, SIG_DFL);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        snprintf(err, err_len, "guard: PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
        return -1;
    }

    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
        snprintf(err, err_len, "guard: socketpair: %s", strerror(errno));
        return -1;
    }
    if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0) {
        snprintf(err, err_len, "guard: cannot block signals");
        close(sp[0]);
        close(sp[1]);
        return -1;
    }
    /* Built before fork (the child only execs); the parent's copy goes
     * right after it. */
    char **envp = mark_env(envp_in);
    if (!envp) {
        snprintf(err, err_len, "guard: out of memory");
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        close(sp[0]);
        close(sp[1]);
        return -1;
    }
    /* The child has its own fd table (no CLONE_FILES): sp[0] goes with its
     * exec (close-on-exec), sp[1] it closes itself. */
    struct child_args ca = {.s = &sup, .sock = sp[1], .old = &old, .path = path, .argv = argv, .envp = envp};
    _Alignas(16) static char child_stack[CHILD_STACK];
    pid_t child = clone(child_main, child_stack + sizeof child_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &ca);
    free(envp);
    if (child < 0) {
        snprintf(err, err_len, "guard: clone: %s", strerror(errno));
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        close(sp[0]);
        close(sp[1]);
        return -1;
    }
    close(sp[1]);
    /* Not dumpable: a program of the same user may not ptrace the
     * supervisor, read its memory or take its listener (Landlock forbids
     * it too where present; this also covers kernels without Landlock). */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    int missing = 0;
    int listener = recv_fd(sp[0], &missing);
    close(sp[0]);
    if (listener < 0) {
        /* The child could not install the filter (it said why) and exits
         * without running the program. */
        int st;
        kill(child, SIGKILL);
        while (waitpid(child, &st, 0) < 0 && errno == EINTR)
            ;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (missing) {
            guard_kernel_explain(missing, err, err_len);
            return -2;
        }
        snprintf(err, err_len, "guard: the program was not started: no seccomp listener");
        return -1;
    }
    sup.listener = listener;
    int e = guard_supervisor_start(&sup);
    if (e < 0) {
        int st;
        kill(child, SIGKILL);
        while (waitpid(child, &st, 0) < 0 && errno == EINTR)
            ;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        snprintf(err, err_len, "guard: cannot start the supervisor: %s", strerror(-e));
        return -1;
    }
    if (sup.cfg.resolve_through_tor && guard_keeper_ready(&sup.keeper, &sup) && sup.keeper.up[0] >= 0 &&
        guard_dns_real_start(&sup, sup.keeper.up[0]) < 0)
        guard_log(&sup, TORIFY_LOG_NOTICE, "guard: cannot start the thread asking Tor for DNS answers");
    int status = supervise(child, &set);
    guard_keeper_stop(&sup.keeper);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return status;
}
