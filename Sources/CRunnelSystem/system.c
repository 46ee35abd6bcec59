// pthread_setname_np needs _GNU_SOURCE, which Swift's Glibc module does not set.
#define _GNU_SOURCE
#include "CRunnelSystem.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int runnel_set_current_thread_nice(int nice) {
#if defined(__linux__)
    // On Linux a nice value belongs to a thread (its tid), not to the whole process.
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) == 0 ? 0 : errno;
#else
    (void)nice;
    return ENOSYS;
#endif
}

int runnel_current_thread_nice(void) {
#if defined(__linux__)
    errno = 0;
    int n = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    return errno == 0 ? n : 0;
#else
    return getpriority(PRIO_PROCESS, 0);
#endif
}

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

// MARK: - libdeflate, loaded at run time

typedef void *(*ld_alloc_compressor)(int);
typedef size_t (*ld_compress)(void *, const void *, size_t, void *, size_t);
typedef size_t (*ld_bound)(void *, size_t);
typedef void (*ld_free)(void *);
typedef void *(*ld_alloc_decompressor)(void);
typedef int (*ld_decompress_ex)(void *, const void *, size_t, void *, size_t, size_t *, size_t *);

static struct {
    ld_alloc_compressor alloc_compressor;
    ld_compress compress;
    ld_bound bound;
    ld_free free_compressor;
    ld_alloc_decompressor alloc_decompressor;
    ld_decompress_ex decompress_ex;
    ld_free free_decompressor;
    int loaded;
} ld;
static pthread_once_t ld_once = PTHREAD_ONCE_INIT;

static void ld_load(void) {
    // RUNNEL_LIBDEFLATE=0 keeps zlib for everything (comparisons, and tests of the fallback).
    const char *setting = getenv("RUNNEL_LIBDEFLATE");
    if (setting && strcmp(setting, "0") == 0) return;
    void *lib = dlopen("libdeflate.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    ld.alloc_compressor = (ld_alloc_compressor)dlsym(lib, "libdeflate_alloc_compressor");
    ld.compress = (ld_compress)dlsym(lib, "libdeflate_deflate_compress");
    ld.bound = (ld_bound)dlsym(lib, "libdeflate_deflate_compress_bound");
    ld.free_compressor = (ld_free)dlsym(lib, "libdeflate_free_compressor");
    ld.alloc_decompressor = (ld_alloc_decompressor)dlsym(lib, "libdeflate_alloc_decompressor");
    ld.decompress_ex = (ld_decompress_ex)dlsym(lib, "libdeflate_deflate_decompress_ex");
    ld.free_decompressor = (ld_free)dlsym(lib, "libdeflate_free_decompressor");
    ld.loaded = ld.alloc_compressor && ld.compress && ld.bound && ld.free_compressor && ld.alloc_decompressor
        && ld.decompress_ex && ld.free_decompressor;
}

int runnel_libdeflate_available(void) {
    pthread_once(&ld_once, ld_load);
    return ld.loaded;
}

void *runnel_libdeflate_compressor(int level) {
    return runnel_libdeflate_available() ? ld.alloc_compressor(level) : NULL;
}

void runnel_libdeflate_free_compressor(void *compressor) {
    if (compressor) ld.free_compressor(compressor);
}

size_t runnel_libdeflate_compress_bound(void *compressor, size_t length) {
    return ld.bound(compressor, length);
}

size_t runnel_libdeflate_compress(void *compressor, const void *input, size_t length, void *output, size_t capacity) {
    return ld.compress(compressor, input, length, output, capacity);
}

void *runnel_libdeflate_decompressor(void) {
    return runnel_libdeflate_available() ? ld.alloc_decompressor() : NULL;
}

void runnel_libdeflate_free_decompressor(void *decompressor) {
    if (decompressor) ld.free_decompressor(decompressor);
}

int runnel_libdeflate_decompress(void *decompressor, const void *input, size_t length, void *output,
                                 size_t capacity, size_t *read, size_t *written) {
    if (!ld.decompress_ex) return -1;
    return ld.decompress_ex(decompressor, input, length, output, capacity, read, written);
}
