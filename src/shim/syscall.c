/* shim/syscall.c — syscall(): the socket numbers go through the wrappers.
 *
 * Programs (and some runtimes) call syscall(SYS_connect, ...) to skip libc;
 * those numbers are routed to the same checks as the libc calls.
 * io_uring_setup is refused: an io_uring can connect and send without any
 * system call torify could see.  Every other number passes with its six
 * argument registers unchanged.
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "shim/state.h"
#include "shim/real.h"

/* Like libc's syscall(), this reads six argument words whatever the caller
 * passed: the number of arguments is a property of the system call, not
 * visible here.  On x86-64 the sixth comes from the caller's stack frame,
 * an always-readable word, so AddressSanitizer's view of it is switched off. */
#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize("address")))
#endif
EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a0 = va_arg(ap, long), a1 = va_arg(ap, long), a2 = va_arg(ap, long);
    long a3 = va_arg(ap, long), a4 = va_arg(ap, long), a5 = va_arg(ap, long);
    va_end(ap);
    switch (number) {
    case SYS_socket:
        return socket((int)a0, (int)a1, (int)a2);
    case SYS_connect:
        return connect((int)a0, (const struct sockaddr *)a1, (socklen_t)a2);
    case SYS_sendto:
        return sendto((int)a0, (const void *)a1, (size_t)a2, (int)a3, (const struct sockaddr *)a4, (socklen_t)a5);
    case SYS_sendmsg:
        return sendmsg((int)a0, (const struct msghdr *)a1, (int)a2);
    case SYS_sendmmsg:
        return sendmmsg((int)a0, (struct mmsghdr *)a1, (unsigned int)a2, (int)a3);
    case SYS_close:
        return close((int)a0);
    case SYS_listen:
        return listen((int)a0, (int)a1);
    case SYS_accept:
        return accept((int)a0, (struct sockaddr *)a1, (socklen_t *)a2);
    case SYS_accept4:
        return accept4((int)a0, (struct sockaddr *)a1, (socklen_t *)a2, (int)a3);
    case SYS_getpeername:
        return getpeername((int)a0, (struct sockaddr *)a1, (socklen_t *)a2);
    case SYS_shutdown:
        return shutdown((int)a0, (int)a1);
#ifdef SYS_io_uring_setup
    case SYS_io_uring_setup:
        if (torify_state_passthrough())
            goto pass;
        (void)torify_state_config();
        errno = torify_refuse(TORIFY_E_REFUSE_PATH, "io_uring_setup (its operations bypass every check)");
        return -1;
#endif
    default:
    pass: {
        torify_syscall_fn f = REAL(SYSCALL, torify_syscall_fn);
        if (!f)
            return -1;
        return f(number, a0, a1, a2, a3, a4, a5);
    }
    }
}
