#ifndef RUNNEL_CRUNNELSYSTEM_H
#define RUNNEL_CRUNNELSYSTEM_H

/// Names the calling thread, as top, ps -L and perf show it (at most 15 bytes are kept);
/// 0 on success.
int runnel_name_current_thread(const char *name);

/// Asks the allocator to return free memory to the system (glibc's malloc_trim); 1 when some
/// was released, 0 when none was or the allocator cannot.
int runnel_release_free_memory(void);

#endif
