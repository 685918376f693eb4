/*
 * stress_fork — fork storms over one shared fake map.
 *
 *   stress_fork CHILDREN CONCURRENT PORT
 *
 * The parent looks up 20 names, then starts 4 threads that hammer the map
 * (lookups both ways, so its lock is taken all the time: children are forked
 * while parent threads hold it).  CHILDREN children are forked, at most
 * CONCURRENT alive at once.  Each child must get the parent's address for a
 * parent name, connects to it and to a name of its own (echo-verified), and
 * records its own name's address in shared memory; the parent then checks
 * it gets the same address for every child's name, and that the address
 * maps back to the name.  Every 10th child instead loops on fresh names and
 * is SIGKILLed a few milliseconds in, maybe holding the map's lock: the
 * robust mutex must hand the lock on (EOWNERDEAD, repair) — a wedged map
 * would hang here, so an alarm bounds the run.
 */
#include "stress_common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PARENT_NAMES 20

struct child_rec {
    uint8_t addr[4];
    int done;
};

static atomic_int stop_hammer;

static void *hammer(void *arg)
{
    int t = (int)(intptr_t)arg;
    char name[64], host[NI_MAXHOST];
    for (unsigned i = 0; !atomic_load(&stop_hammer); i++) {
        snprintf(name, sizeof name, "h%d-%u.fork.test", t, i % 3000);
        struct sockaddr_storage ss;
        socklen_t len;
        if (stress_resolve(name, AF_INET, 80, &ss, &len) != 0)
            continue;
        int r = getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, NULL, 0, NI_NAMEREQD);
        if (r != 0 || strcmp(host, name) != 0)
            STRESS_FAIL("hammer: %s came back as %.200s", name, r ? gai_strerror(r) : host);
    }
    return NULL;
}

static int child_main(int c, int port, const struct sockaddr_in *parent_addrs, struct child_rec *rec)
{
    char name[64], token[64];
    int k = c % PARENT_NAMES;
    snprintf(name, sizeof name, "p%d.fork.test", k);
    struct sockaddr_storage ss;
    socklen_t len;
    if (stress_resolve(name, AF_INET, port, &ss, &len) != 0)
        return 1;
    if (memcmp(&((struct sockaddr_in *)&ss)->sin_addr, &parent_addrs[k].sin_addr, 4) != 0) {
        STRESS_FAIL("child %d: %s has another address than in the parent", c, name);
        return 1;
    }
    snprintf(token, sizeof token, "child%d-parent-name", c);
    if (stress_connect_echo(name, AF_INET, port, token) != 0)
        return 1;
    snprintf(name, sizeof name, "c%d.fork.test", c);
    snprintf(token, sizeof token, "child%d-own-name", c);
    if (stress_connect_echo(name, AF_INET, port, token) != 0)
        return 1;
    if (stress_resolve(name, AF_INET, port, &ss, &len) != 0)
        return 1;
    memcpy(rec->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    rec->done = 1;
    return 0;
}

static void victim_main(int c)
{
    char name[64];
    for (unsigned i = 0;; i++) {
        snprintf(name, sizeof name, "k%d-%u.fork.test", c, i);
        struct sockaddr_storage ss;
        socklen_t len;
        (void)stress_resolve(name, AF_INET, 80, &ss, &len);
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: stress_fork CHILDREN CONCURRENT PORT\n");
        return 2;
    }
    int children = atoi(argv[1]), concurrent = atoi(argv[2]), port = atoi(argv[3]);
    if (children < 1 || concurrent < 1 || port < 1)
        return 2;
    alarm(120); /* a wedged lock would hang: die loudly instead */
    struct child_rec *recs = mmap(NULL, sizeof *recs * (size_t)children, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (recs == MAP_FAILED)
        return 2;
    struct sockaddr_in parent_addrs[PARENT_NAMES];
    for (int k = 0; k < PARENT_NAMES; k++) {
        char name[64];
        snprintf(name, sizeof name, "p%d.fork.test", k);
        struct sockaddr_storage ss;
        socklen_t len;
        if (stress_resolve(name, AF_INET, port, &ss, &len) != 0)
            return 1;
        memcpy(&parent_addrs[k], &ss, sizeof parent_addrs[k]);
    }
    pthread_t th[4];
    for (int t = 0; t < 4; t++)
        if (pthread_create(&th[t], NULL, hammer, (void *)(intptr_t)t) != 0)
            return 2;

    double t0 = stress_now();
    int running = 0, failed = 0, killed = 0, ok = 0;
    for (int c = 0; c < children || running > 0;) {
        if (c < children && running < concurrent) {
            bool victim = c % 10 == 9;
            pid_t pid = fork();
            if (pid < 0) {
                STRESS_FAIL("fork: %s", strerror(errno));
                failed++;
                c++;
                continue;
            }
            if (pid == 0) {
                if (victim)
                    victim_main(c);
                _exit(child_main(c, port, parent_addrs, &recs[c]));
            }
            c++;
            if (victim) {
                usleep(2000 + (unsigned)(c * 997) % 8000);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                killed++;
            } else {
                running++;
            }
            continue;
        }
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w < 0)
            break;
        running--;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
        else {
            failed++;
            STRESS_FAIL("child %d ended with status 0x%x", (int)w, st);
        }
    }
    atomic_store(&stop_hammer, 1);
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    /* Every child's name has the address the child got, both ways. */
    int checked = 0;
    for (int c = 0; c < children; c++) {
        if (c % 10 == 9 || !recs[c].done)
            continue;
        char name[64], host[NI_MAXHOST];
        snprintf(name, sizeof name, "c%d.fork.test", c);
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof sin);
        sin.sin_family = AF_INET;
        memcpy(&sin.sin_addr, recs[c].addr, 4);
        int r = getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, NULL, 0, NI_NAMEREQD);
        if (r != 0 || strcmp(host, name) != 0) {
            STRESS_FAIL("%s: the child's address names %.200s in the parent", name, r ? gai_strerror(r) : host);
            failed++;
        }
        checked++;
    }
    if (stress_connect_echo("after.fork.test", AF_INET, port, "parent-after-storm") != 0)
        failed++;
    printf("stat children_ok %d\nstat children_killed %d\nstat checked %d\nstat failed %d\nstat seconds %.2f\n", ok,
           killed, checked, failed, stress_now() - t0);
    if (failed || atomic_load(&stress_fail_lines))
        return 1;
    printf("ok fork\n");
    return 0;
}
