/*
 * guard/internal.h — pieces of the guard shared between its files.
 * Nothing here is used outside src/guard/ and its unit tests.
 */
#ifndef TORIFY_GUARD_INTERNAL_H
#define TORIFY_GUARD_INTERNAL_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <torify/socks.h>
#include "core/config.h"

/* ---- filter.c: the BPF program ---------------------------------------- */

#define GUARD_FILTER_MAX 96

/* Filter variants. */
#define GUARD_FILTER_NO_PTRACE 0x1u /* refuse ptrace attach, process_vm_writev and
                                       pidfd_getfd (when Landlock cannot scope them) */

/* Write the filter into prog[0..cap); returns the instruction count, 0 if
 * cap is too small. */
size_t guard_filter_build(struct sock_filter *prog, size_t cap, unsigned flags);

/* In the process to be guarded: set no_new_privs, confine it with Landlock
 * when the kernel has it (else build the filter with GUARD_FILTER_NO_PTRACE),
 * and install the filter.  Returns the listener fd (close-on-exec) or -errno. */
int guard_filter_install(void);

/* ---- landlock.c ------------------------------------------------------- */

/* The kernel's Landlock ABI version, 0 without Landlock. */
int guard_landlock_abi(void);
/* ABI 2 or later: a domain that scopes ptrace without refusing renames. */
bool guard_landlock_available(void);
/* Put the calling process in a Landlock domain (needs no_new_privs) whose
 * only effect a program can see is the ptrace scoping: 0 or -errno
 * (-EOPNOTSUPP below ABI 2).  _abi builds the ruleset an older kernel would
 * get (abi <= the kernel's), for tests. */
int guard_landlock_confine(void);
int guard_landlock_confine_abi(int abi);

/* ---- decide.c: what to do with one connect() ---------------------------- */

enum guard_action {
    GUARD_DIRECT = 1,   /* perform the connect as asked, on the program's own socket */
    GUARD_TORIFY,       /* new socket to Tor, SOCKS CONNECT to target, swap it in */
    GUARD_REFUSE,       /* answer with an errno */
};

/* Pure: decide from the config and the sockaddr copy (len bytes, at most
 * sizeof(struct sockaddr_storage)).  For GUARD_TORIFY fills *target; for
 * GUARD_REFUSE sets *err_no (and *why). */
struct torify_fakemap;
enum guard_action guard_decide(const struct torify_config *cfg, const struct sockaddr_storage *sa,
                               socklen_t len, struct torify_fakemap *map, struct torify_target *target,
                               int *err_no, torify_err *why);

/* ---- proc.c: the target process --------------------------------------- */

/* Copy len bytes at addr in process pid into buf, in one read.  0 or -errno. */
int guard_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len);
/* Start time of process pid (clock ticks since boot, /proc/PID/stat field
 * 22), 0 if unknown: with the pid it names a process uniquely. */
unsigned long long guard_start_time(pid_t pid);
/* Thread group id of thread tid, or -errno. */
pid_t guard_tgid_of(pid_t tid);
/* Is fd close-on-exec for task pid (from /proc/PID/fdinfo/FD)?  1, 0 or -errno. */
int guard_fd_cloexec(pid_t pid, int fd);
/* A pidfd for thread tid (its own, or its thread group leader's). */
int guard_pidfd_open_thread(pid_t tid);
/* pidfd_open / pidfd_getfd (raw syscalls: glibc 2.36 wrappers are not everywhere). */
int guard_pidfd_open(pid_t pid);
int guard_pidfd_getfd(int pidfd, int fd);

/* ---- thread.c ---------------------------------------------------------- */

/* Start fn(arg) in a detached thread with a small stack.  0 or -errno. */
int guard_thread_detached(void *(*fn)(void *), void *arg);

/* ---- fdpass.c: fds over a unix socket ---------------------------------- */

#define GUARD_FDPASS_MAX 16
/* Send buf[0..len) with nfd fds (<= GUARD_FDPASS_MAX).  0 or -1. */
int guard_fd_send(int sock, const void *buf, size_t len, const int *fds, int nfd);
/* Receive up to len bytes and up to max fds (close-on-exec; *nfd came,
 * extra ones closed).  The byte count, or -1. */
ssize_t guard_fd_recv(int sock, void *buf, size_t len, int *fds, int max, int *nfd);

/* ---- ns.c, netns.c: namespaces for the guarded tree -------------------- */

/* In a single-threaded process: enter new namespaces nsflags (CLONE_NEW*),
 * directly when privileged, else inside a new user namespace (own uid and
 * gid mapped to themselves; *in_userns says which).  0, or -errno with a
 * one-line reason in why. */
int guard_ns_enter(int nsflags, bool *in_userns, char *why, size_t why_len);
/* In a fresh network namespace: loopback up, every IPv4 and IPv6 address
 * local (routes in table local via lo), so nothing sent here can leave.
 * *have_ipv6: the IPv6 route could be added.  0 or -errno. */
int guard_netns_seal(bool *have_ipv6);

/* ---- dns_serve.c: the responder inside the namespace ------------------- */

enum { GUARD_DNS_UDP4, GUARD_DNS_TCP4, GUARD_DNS_UDP6, GUARD_DNS_TCP6, GUARD_DNS_ICMP4, GUARD_DNS_ICMP6,
       GUARD_DNS_NSOCK };
struct guard_dns_server {
    int fd[GUARD_DNS_NSOCK]; /* -1 when absent (no IPv6, no ICMP watch) */
};
struct guard_sup;
/* Bind port 53 (UDP and TCP, IPv4 and, with ipv6, IPv6) and the ICMP watch. */
int guard_dns_server_open(struct guard_dns_server *srv, bool ipv6);
/* Serve until the control socket ctl hangs up; socket requests arriving on
 * ctl are answered with guard_keeper_serve_request.  up >= 0: real answers,
 * asked of the supervisor over up (dns_real.c). */
void guard_dns_server_run(struct guard_dns_server *srv, const struct guard_sup *s, int ctl, int up);

/* ---- dns_real.c: real answers (ResolveThroughTor) ---------------------- */

/* In the keeper: the reply to query[0..len) from the supervisor, which asks
 * Tor (RESOLVE / RESOLVE_PTR); blocking.  The reply's length, 0 for none. */
size_t guard_dns_real_ask(int up, char transport, const uint8_t *query, size_t len, uint8_t *reply,
                          size_t cap);
/* In the supervisor: serve those requests on up in a thread of its own. */
int guard_dns_real_start(struct guard_sup *s, int up);

/* ---- keeper.c: the process living in the namespace --------------------- */

#define GUARD_KEEPER_BATCH GUARD_FDPASS_MAX
enum guard_keeper_state {
    KEEPER_DOWN,              /* none: failed, or stopped */
    KEEPER_UNBORN,            /* not forked yet: nothing needed it so far */
    KEEPER_IDLE,              /* forked, waiting to be asked for its set-up */
    KEEPER_PENDING,           /* asked, its status not read yet */
    KEEPER_UP,                /* the namespace exists and the responder runs */
};

struct guard_keeper {
    _Atomic int state;        /* enum guard_keeper_state */
    bool ipv6;
    pid_t pid;
    int ctl;                  /* SEQPACKET to the keeper, one request at a time */
    pthread_mutex_t mu;
    uint64_t net_ino, net_dev; /* its network namespace, for guard_keeper_owns */
    int up[2];                /* ResolveThroughTor: the keeper hands queries to
                                 the supervisor, which can reach Tor (dns_real.c) */
    char why[200];            /* when down: why not, one line */
    /* UDP sockets made ahead, per family (AF_INET, AF_INET6), under mu. */
    int stock[2][GUARD_KEEPER_BATCH];
    int stock_n[2];
};
/* Set k up, with no keeper yet: it is forked when the namespace is
 * first needed (guard_keeper_ready). */
void guard_keeper_start(struct guard_keeper *k);
/* Is the namespace there?  The first time, forks the keeper, starts its
 * set-up and waits for its status (then logs the namespace or why not); any thread may
 * ask. */
bool guard_keeper_ready(struct guard_keeper *k, const struct guard_sup *s);
/* A socket(domain, type, protocol) made in the namespace: fd (close-on-exec
 * here) or -errno. */
int guard_keeper_socket(struct guard_keeper *k, int domain, int type, int protocol);
/* Is the namespace up already?  Never waits: until it is, no socket of the
 * program can live in it (guard_keeper_socket hands out none before). */
bool guard_keeper_up(const struct guard_keeper *k);
/* Does socket sockfd live in the keeper's namespace? */
bool guard_keeper_owns(const struct guard_keeper *k, int sockfd);
/* End the keeper (it reports its last refused datagrams first). */
void guard_keeper_stop(struct guard_keeper *k);
/* In the keeper: answer one request waiting on ctl (exits when ctl is closed). */
void guard_keeper_serve_request(int ctl);
/* Could the namespace be made here?  0 (why: how) or -1 (why: why not). */
int guard_keeper_probe(char *why, size_t why_len);

/* ---- uts.c: HideIdentity's host name ---------------------------------- */

/* In the child, before the filter: a UTS namespace of its own whose host
 * name is "localhost".  0, or -errno with a one-line reason in why. */
int guard_uts_hide(char *why, size_t why_len);

/* ---- inherit.c: sockets from before the guard ------------------------- */

/* In the child, before the filter: replace inherited datagram, raw and
 * packet sockets (but keep_fd) by sealed UDP sockets or /dev/null.
 * Returns how many, or -errno. */
int guard_seal_inherited(struct guard_sup *s, int keep_fd);
/* Has this process a datagram, raw or packet socket the child would
 * inherit (or can it not tell)?  Then the keeper's status is read before
 * the fork, for guard_seal_inherited to use its sockets. */
bool guard_inherited_any(const struct guard_keeper *k);

/* ---- socket.c: one notified socket() ----------------------------------- */

void guard_handle_socket(struct guard_sup *s, const struct seccomp_notif *n);

/* ---- supervisor.c ----------------------------------------------------- */

struct guard_sup {
    int listener;
    struct torify_config cfg;      /* own copy: the launcher's may go away */
    struct torify_logger log;      /* the launcher process's logger (guard/log.c) */
    struct torify_fakemap *map;    /* the tree's fake map (NULL: fakes refused) */
    size_t notif_size;             /* kernel's sizeof(struct seccomp_notif) */
    size_t resp_size;              /* kernel's sizeof(struct seccomp_notif_resp) */
    atomic_ulong n_torified, n_direct, n_refused;
    struct guard_keeper keeper;    /* the namespace for datagram sockets (keeper.c) */
    atomic_bool told_no_udp;       /* the "no namespace" refusal was logged at notice */
    /* Worker pool (supervisor.c), under mu: each thread receives and
     * handles; up to recv_max of them wait in NOTIF_RECV at once. */
    pthread_mutex_t mu;
    pthread_cond_t work;
    int workers, idle;
    int receiving;                 /* threads in (or on their way into) NOTIF_RECV */
    int signaled;                  /* idle workers woken to receive, not yet running */
    int starting;                  /* workers created to receive, not yet running */
    int recv_max;                  /* receivers wanted: 2, 1 on a single CPU */
    bool stopped;                  /* receiving failed: the pool winds down */
};

/* Start the notification loop in a detached thread.  0 or -errno. */
int guard_supervisor_start(struct guard_sup *s);

/* The handler of a notification is about to do something that may wait
 * (a blocking connect, a SOCKS handshake, the keeper's first status):
 * another thread takes over receiving, so other connects are not stalled. */
void guard_may_block(struct guard_sup *s);
/* guard_keeper_ready for a handler: hands receiving on first when the
 * keeper's set-up has yet to be waited for. */
bool guard_namespace_ready(struct guard_sup *s);

/* Answer notification id with val / -err (err 0: success).  0 or -errno
 * (ENOENT: the syscall is gone, e.g. the thread was interrupted). */
int guard_reply(const struct guard_sup *s, uint64_t id, int64_t val, int err);
/* Is notification id still pending?  The program's thread may have been
 * killed and its pid reused: every decision is taken after this check. */
bool guard_notif_valid(const struct guard_sup *s, uint64_t id);

/* ---- connect.c: one notified connect() -------------------------------- */

void guard_handle_connect(struct guard_sup *s, const struct seccomp_notif *n);

/* ---- listen.c: one notified listen() ---------------------------------- */

void guard_handle_listen(struct guard_sup *s, const struct seccomp_notif *n);

/* ---- fakemap_fd.c: the fake-map request (core/fakemap_ask.h) ---------- */

/* Is n exactly the request (number and all three arguments)? */
bool guard_fakemap_request_is(const struct seccomp_notif *n);
/* Answer it with the tree's memfd (close-on-exec in the caller), or an error. */
void guard_handle_fakemap(struct guard_sup *s, const struct seccomp_notif *n);

/* ---- addfd.c ---------------------------------------------------------- */

/* Put our socket srcfd at the program's fd number dstfd (replacing what is
 * there), close-on-exec if cloexec.  0 or -errno. */
int guard_addfd_setfd(const struct guard_sup *s, uint64_t id, int srcfd, int dstfd, bool cloexec);
/* Install our srcfd in the program as a new fd and answer the call with its
 * number (SECCOMP_ADDFD_FLAG_SEND).  The number, or -errno (ENOENT: the
 * call is gone, nothing to answer). */
int guard_addfd_send(const struct guard_sup *s, uint64_t id, int srcfd, bool cloexec);

/* ---- kernel.c: what the guard needs of the kernel ----------------------- */

/* What a probe found missing (also told by the program's child, run.c). */
enum probe_exit { PROBE_OK = 0, PROBE_NO_FILTER = 10, PROBE_NO_LISTENER, PROBE_NO_ADDFD, PROBE_NO_PIDFD, PROBE_NESTED };
/* The one-line reason the guard cannot run, for a probe_exit code. */
void guard_kernel_explain(int code, char *why, size_t why_len);
/* Does the kernel know SECCOMP_IOCTL_NOTIF_ADDFD?  Asked of a listener
 * with no notification yet (raw system calls only). */
bool guard_kernel_addfd_known(int listener);
/* Can a supervisor take a copy of fd of this process (pidfd_getfd)?  Ask
 * before a filter that refuses pidfd_getfd (raw system calls only). */
bool guard_kernel_pidfd_works(int fd);

#endif
