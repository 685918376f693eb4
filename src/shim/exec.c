/* shim/exec.c — execve, execv, fexecve, posix_spawn{,p}: a socket whose
 * SOCKS reply is still owed (optimistic data, shim/opt.h) and survives
 * the exec (not close-on-exec) has its reply read first.
 *
 * The new program has no torify state for the fd (the table does not
 * cross exec): it would read the reply's bytes as data.  So the reply is
 * waited for here, up to the handshake's deadline; a failure leaves the
 * socket shut down (the new program reads its end) and the exec goes on.
 * posix_spawn's file actions may dup any fd into the child: every owed
 * reply is read before it.  glibc's execvp, execvpe, execl* and
 * system()/popen() call libc's execve or spawn internally, past these (and
 * execvp's PATH search is not ours to copy): a documented limit
 * (docs/DESIGN.md, "Optimistic data").  fork() is the fork handler's
 * (shim/state.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include "core/sys.h"
#include "shim/opt.h"
#include "shim/real.h"

extern char **environ;

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                        char *const[], char *const[]);

#define SETTLE(skip_cloexec)                                                                                        \
    do {                                                                                                           \
        if (__builtin_expect(torify_opt_some_flagged(), 0))                                                      \
            torify_opt_settle_all(skip_cloexec);                                                                   \
    } while (0)

/* The exec calls run in vfork() children (shared memory: no dlsym there),
 * so they are the kernel's system calls made directly, as glibc's are. */
EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    SETTLE(true);
    return (int)torify_sys(SYS_execve, (long)path, (long)argv, (long)envp, 0, 0, 0);
}

EXPORT int execv(const char *path, char *const argv[])
{
    SETTLE(true);
    return (int)torify_sys(SYS_execve, (long)path, (long)argv, (long)environ, 0, 0, 0);
}

/* glibc's fexecve: execveat(fd, "", AT_EMPTY_PATH) (Linux 3.19). */
EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    SETTLE(true);
    return (int)torify_sys(SYS_execveat, fd, (long)"", (long)argv, (long)envp, AT_EMPTY_PATH, 0);
}

/* posix_spawn and posix_spawnp: libc's, after every owed reply is read
 * (the file actions may dup any fd into the child). */
static int spawn_settled(enum torify_real_id id, pid_t *pid, const char *what, const posix_spawn_file_actions_t *fa,
                         const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    spawn_fn f = (spawn_fn)torify_real(id);
    if (!f)
        return errno;
    SETTLE(false);
    return f(pid, what, fa, attr, argv, envp);
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn_settled(TORIFY_REAL_POSIX_SPAWN, pid, path, fa, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn_settled(TORIFY_REAL_POSIX_SPAWNP, pid, file, fa, attr, argv, envp);
}
