/*
 * static_identity — what a statically linked program learns about the
 * machine, through raw system calls only (no libc wrapper the shim could
 * interpose): uname(2)'s nodename and /proc/sys/kernel/hostname.
 *
 *   static_identity      prints "uname NODENAME" and "proc NAME"
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(void)
{
    struct utsname u;
    if (syscall(SYS_uname, &u) != 0) {
        perror("uname");
        return 1;
    }
    printf("uname %s\n", u.nodename);
    char buf[256] = "";
    int fd = open("/proc/sys/kernel/hostname", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        close(fd);
    }
    printf("proc %s\n", buf);
    return 0;
}
