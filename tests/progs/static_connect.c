/*
 * static_connect — a statically linked program connecting with libc's
 * connect(): LD_PRELOAD never applies to it.
 *   static_connect IP PORT
 */
#include "leak_common.h"

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (argc != 3 || leak_addr(argv[1], argv[2], &ss, &len) != 0) {
        fprintf(stderr, "usage: static_connect IP PORT\n");
        return 2;
    }
    int fd = leak_bound(socket(ss.ss_family, SOCK_STREAM, 0));
    if (fd < 0)
        return leak_fail("static_connect", errno);
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        return leak_fail("static_connect", e);
    }
    return leak_finish_tcp("static_connect", fd);
}
