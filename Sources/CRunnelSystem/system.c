// pthread_setname_np needs _GNU_SOURCE, which Swift's Glibc module does not set.
#define _GNU_SOURCE
#include "CRunnelSystem.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int runnel_release_free_memory(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

int runnel_name_current_thread(const char *name) {
#if defined(__linux__)
    char buf[16];
    strncpy(buf, name, sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    return pthread_setname_np(pthread_self(), buf);
#elif defined(__APPLE__)
    return pthread_setname_np(name);
#else
    (void)name;
    return ENOSYS;
#endif
}
