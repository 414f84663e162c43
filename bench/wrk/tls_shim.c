/* LD_PRELOAD shim for wrk in the https* scenarios: counts TLS handshakes and, with
 * TERN_TLS_NO_RESUME=1, makes every new connection do a full handshake.
 *
 * wrk reuses one SSL object per connection slot: on reconnect it calls SSL_shutdown() and
 * SSL_clear(), and OpenSSL keeps a cleanly shut down session for reuse, so the next
 * SSL_connect() resumes it (a TLS 1.3 PSK ticket, or a TLS 1.2 session ID/ticket). With
 * TERN_TLS_NO_RESUME=1 the wrapped SSL_clear() drops that session. The wrapped SSL_connect()
 * counts completed handshakes and how many of them were resumptions (SSL_session_reused).
 * At exit wrk prints on stderr:
 *     TERN_TLS handshakes=N resumed=M dropped=K
 * which bench/lib/wrkrun.py reads and checks. Built by wrkrun.py with `cc -shared -fPIC`;
 * needs no OpenSSL headers.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

static unsigned long handshakes, resumed, dropped;
static int (*real_clear)(SSL *);
static int (*real_connect)(SSL *);
static int (*set_session)(SSL *, SSL_SESSION *);
static SSL_SESSION *(*get_session)(const SSL *);
static int (*session_reused)(const SSL *);
static int no_resume = -1;

static void init(void) {
    if (real_connect)
        return;
    set_session = (int (*)(SSL *, SSL_SESSION *))dlsym(RTLD_NEXT, "SSL_set_session");
    get_session = (SSL_SESSION * (*)(const SSL *)) dlsym(RTLD_NEXT, "SSL_get_session");
    session_reused = (int (*)(const SSL *))dlsym(RTLD_NEXT, "SSL_session_reused");
    real_clear = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
    const char *v = getenv("TERN_TLS_NO_RESUME");
    no_resume = v && v[0] == '1';
    real_connect = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_connect");
}

int SSL_clear(SSL *s) {
    init();
    int r = real_clear(s);
    if (no_resume && set_session && get_session && get_session(s)) {
        set_session(s, NULL);
        __atomic_fetch_add(&dropped, 1, __ATOMIC_RELAXED);
    }
    return r;
}

int SSL_connect(SSL *s) {
    init();
    int r = real_connect(s);
    if (r == 1) { /* wrk's sockets are non-blocking: 1 only once, when the handshake is done */
        __atomic_fetch_add(&handshakes, 1, __ATOMIC_RELAXED);
        if (session_reused && session_reused(s))
            __atomic_fetch_add(&resumed, 1, __ATOMIC_RELAXED);
    }
    return r;
}

__attribute__((destructor)) static void report(void) {
    /* Only in the process that uses OpenSSL (wrk, not the taskset in front of it). */
    if (real_connect)
        fprintf(stderr, "TERN_TLS handshakes=%lu resumed=%lu dropped=%lu\n",
                __atomic_load_n(&handshakes, __ATOMIC_RELAXED), __atomic_load_n(&resumed, __ATOMIC_RELAXED),
                __atomic_load_n(&dropped, __ATOMIC_RELAXED));
}
