/*
 * exec_fake — hand a fake address across exec.
 *
 *   exec_fake NAME PROG ARG...
 *
 * Looks NAME up (getaddrinfo, AF_INET: under torify a fake address), then
 * execs PROG with every ARG "{}" replaced by that address, so the exec'd
 * program gets an address only the fake map can turn back into NAME.
 * With EXEC_FAKE_THREAD=1 in the environment a second thread is running
 * (sleeping) while NAME is looked up.
 */
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: exec_fake NAME PROG ARG...\n");
        return 2;
    }
    const char *t = getenv("EXEC_FAKE_THREAD");
    pthread_t th;
    if (t && strcmp(t, "1") == 0 && pthread_create(&th, NULL, sleeper, NULL) != 0) {
        printf("fail pthread_create\n");
        return 1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int r = getaddrinfo(argv[1], "80", &hints, &res);
    if (r != 0) {
        printf("fail getaddrinfo %s\n", gai_strerror(r));
        return 1;
    }
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
    freeaddrinfo(res);
    printf("ok resolved %s %s\n", argv[1], ip);
    fflush(stdout);
    static char buf[8][4096];
    for (int i = 2; i < argc && i < 10; i++) {
        /* Every "{}" in an argument (e.g. inside a sh -c script). */
        if (!strstr(argv[i], "{}"))
            continue;
        char *out = buf[i - 2];
        size_t o = 0;
        for (const char *p = argv[i]; *p && o < sizeof buf[0] - INET_ADDRSTRLEN - 1;) {
            if (p[0] == '{' && p[1] == '}') {
                o += (size_t)snprintf(out + o, sizeof buf[0] - o, "%s", ip);
                p += 2;
            } else {
                out[o++] = *p++;
            }
        }
        out[o] = '\0';
        argv[i] = out;
    }
    execvp(argv[2], argv + 2);
    perror("execvp");
    return 127;
}
