#ifndef RUNNEL_CRUNNELSYSTEM_H
#define RUNNEL_CRUNNELSYSTEM_H

#include <stddef.h>

/// Names the calling thread, as top, ps -L and perf show it (at most 15 bytes are kept);
/// 0 on success.
int runnel_name_current_thread(const char *name);

/// Sets the calling thread's nice value (Linux: per thread; 19 is the lowest priority); 0 on
/// success, an errno otherwise.
int runnel_set_current_thread_nice(int nice);

/// The calling thread's nice value (0 when it cannot be read).
int runnel_current_thread_nice(void);

/// Asks the allocator to return free memory to the system (glibc's malloc_trim); 1 when some
/// was released, 0 when none was or the allocator cannot.
int runnel_release_free_memory(void);

/// libdeflate (a faster DEFLATE codec for whole buffers), loaded at run time from
/// libdeflate.so.0 when the system has it: Runnel needs no build-time dependency on it and falls
/// back to zlib without it. 1 when it loaded (the first call tries), 0 when not.
int runnel_libdeflate_available(void);
/// A compressor at `level` (1–12); NULL when libdeflate is missing or out of memory.
void *runnel_libdeflate_compressor(int level);
void runnel_libdeflate_free_compressor(void *compressor);
/// An upper bound on the compressed size of `length` bytes.
size_t runnel_libdeflate_compress_bound(void *compressor, size_t length);
/// Raw DEFLATE of the whole input (ending in a final block); the compressed size, or 0 when it
/// does not fit in `capacity`.
size_t runnel_libdeflate_compress(void *compressor, const void *input, size_t length, void *output, size_t capacity);
void *runnel_libdeflate_decompressor(void);
void runnel_libdeflate_free_decompressor(void *decompressor);
/// Inflates one whole raw DEFLATE stream. 0 on success, with the bytes read and written; non-zero
/// when the data is bad or does not fit (libdeflate's result code), or -1 without the extended
/// entry point.
int runnel_libdeflate_decompress(void *decompressor, const void *input, size_t length, void *output,
                                 size_t capacity, size_t *read, size_t *written);

#endif
