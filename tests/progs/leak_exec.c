/*
 * leak_exec — children that escape an LD_PRELOAD shim.
 *   leak_exec MODE PROGRAM ARGS...
 * Modes:
 *   env_i          run "env -i PROGRAM ARGS..." (an empty environment)
 *   unset_preload  unsetenv("LD_PRELOAD") then execv PROGRAM
 *   vfork          vfork() + execv PROGRAM with LD_PRELOAD removed from envp
 *   daemon         the child forks a grandchild and exits at once; the
 *                  grandchild runs PROGRAM after its parent is gone
 *                  (we wait for it through a pipe, not as its parent)
 * Exit status: PROGRAM's (daemon: whatever the grandchild reported).
 * PROGRAM prints its own result line.
 */
#include <sys/wait.h>
#include "leak_common.h"

extern char **environ;

/* environ without LD_PRELOAD, in a static array (vfork child must not allocate). */
static char *clean_env[256];

static void build_clean_env(void)
{
    size_t n = 0;
    for (char **e = environ; *e && n + 1 < sizeof clean_env / sizeof clean_env[0]; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
            clean_env[n++] = *e;
    clean_env[n] = NULL;
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: leak_exec env_i|unset_preload|vfork|daemon PROGRAM ARGS...\n");
        return 2;
    }
    const char *m = argv[1];
    char **prog = argv + 2;
    if (!strcmp(m, "env_i")) {
        char *args[64];
        int n = 0;
        args[n++] = "env";
        args[n++] = "-i";
        for (int i = 0; prog[i] && n < 63; i++)
            args[n++] = prog[i];
        args[n] = NULL;
        execv("/usr/bin/env", args);
        return leak_fail("env_i", errno);
    }
    if (!strcmp(m, "unset_preload")) {
        unsetenv("LD_PRELOAD");
        execv(prog[0], prog);
        return leak_fail("unset_preload", errno);
    }
    if (!strcmp(m, "vfork")) {
        build_clean_env();
        pid_t pid = vfork();
        if (pid < 0)
            return leak_fail("vfork", errno);
        if (pid == 0) {
            execve(prog[0], prog, clean_env);
            _exit(127);
        }
        return wait_status(pid);
    }
    if (!strcmp(m, "daemon")) {
        int p[2];
        if (pipe(p) != 0)
            return leak_fail("daemon", errno);
        pid_t pid = fork();
        if (pid < 0)
            return leak_fail("daemon", errno);
        if (pid == 0) {
            close(p[0]);
            pid_t g = fork();
            if (g != 0)
                _exit(g < 0);
            leak_sleep_ms(200); /* parent gone: we are an orphan now */
            pid_t gg = fork();
            if (gg == 0) {
                close(p[1]);
                execv(prog[0], prog);
                _exit(127);
            }
            unsigned char st = (unsigned char)(gg < 0 ? 1 : wait_status(gg));
            ssize_t w = write(p[1], &st, 1);
            (void)w;
            _exit(0);
        }
        close(p[1]);
        wait_status(pid);
        unsigned char st = 1;
        ssize_t r;
        do
            r = read(p[0], &st, 1);
        while (r < 0 && errno == EINTR);
        return r == 1 ? st : 1;
    }
    fprintf(stderr, "leak_exec: unknown mode %s\n", m);
    return 2;
}
