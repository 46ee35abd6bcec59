#ifndef RUNNEL_CRUNNELSYSTEM_H
#define RUNNEL_CRUNNELSYSTEM_H

/// Names the calling thread, as top, ps -L and perf show it (at most 15 bytes are kept);
/// 0 on success.
int runnel_name_current_thread(const char *name);

#endif
