/*
 * fakemap_poke — play a hostile process with the same uid: scribble on the
 * fake map that TORIFY_FAKEMAP_FD names.
 *
 *   fakemap_poke header   garbage over the first 64 bytes (magic, geometry)
 *   fakemap_poke body     garbage over everything from 4 KiB on (slots, index)
 *
 * (The lock at the start of the header is spared by "body": a process that
 * scribbles on a lock can make others wait, which is denial of service,
 * not memory unsafety.)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    const char *v = getenv("TORIFY_FAKEMAP_FD");
    if (argc < 2 || !v) {
        printf("fail no TORIFY_FAKEMAP_FD\n");
        return 1;
    }
    int fd = atoi(v);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 8192) {
        printf("fail fstat\n");
        return 1;
    }
    unsigned char *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        printf("fail mmap\n");
        return 1;
    }
    size_t from = 0, to = 64;
    if (strcmp(argv[1], "body") == 0) {
        from = 4096;
        to = (size_t)st.st_size;
    }
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (size_t i = from; i < to; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
    printf("ok poked %zu bytes\n", to - from);
    return 0;
}
