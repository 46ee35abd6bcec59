#if canImport(Glibc)
import Glibc
#endif

extension Broker {
    static let defaultInfoSections = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                                      "modules", "errorstats", "cluster", "keyspace"]
    static let allInfoSections = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                                  "modules", "commandstats", "errorstats", "latencystats", "cluster", "keyspace"]

    /// INFO text with Redis's section names and field names, `\r\n` line ends.
    func infoText(sections requested: [String]) -> String {
        var wanted: [String]
        if requested.isEmpty || requested.contains("default") {
            wanted = Self.defaultInfoSections
        } else if requested.contains("all") || requested.contains("everything") {
            wanted = Self.allInfoSections
        } else {
            wanted = Self.allInfoSections.filter { requested.contains($0) }
        }
        for extra in requested where Self.allInfoSections.contains(extra) && !wanted.contains(extra) {
            wanted.append(extra)
        }
        var out: [String] = []
        for section in Self.allInfoSections where wanted.contains(section) {
            if !out.isEmpty { out.append("") }
            out.append(contentsOf: infoSection(section))
        }
        return out.joined(separator: "\r\n") + (out.isEmpty ? "" : "\r\n")
    }

    func infoSection(_ name: String) -> [String] {
        let now = Clock.nowMs()
        switch name {
        case "server":
            let uptime = (Clock.monotonicNs() - startedMonotonicNs) / 1_000_000_000
            return [
                "# Server",
                "redis_version:\(Self.compatibleRedisVersion)",
                "redis_git_sha1:00000000",
                "redis_git_dirty:0",
                "redis_build_id:0",
                "redis_mode:standalone",
                "os:\(Self.osName())",
                "arch_bits:64",
                "monotonic_clock:POSIX clock_gettime",
                "multiplexing_api:epoll",
                "atomicvar_api:c11-builtin",
                "gcc_version:0.0.0",
                "process_id:\(getpid())",
                "process_supervised:no",
                "run_id:\(runID)",
                "tcp_port:\(boundPort)",
                "server_time_usec:\(Clock.nowUs())",
                "uptime_in_seconds:\(uptime)",
                "uptime_in_days:\(uptime / 86400)",
                "hz:\(config.hz)",
                "configured_hz:\(config.hz)",
                "lru_clock:\((now / 1000) & 0xFFFFFF)",
                "executable:\(Self.executablePath())",
                "config_file:\(configFile)",
                "io_threads_active:0",
                "runnel_version:\(Self.runnelVersion)",
            ]
        case "clients":
            return [
                "# Clients",
                "connected_clients:\(clients.count)",
                "cluster_connections:0",
                "maxclients:\(config.maxclients)",
                "client_recent_max_input_buffer:\(stats.clientRecentMaxInput)",
                "client_recent_max_output_buffer:\(stats.clientRecentMaxOutput)",
                "blocked_clients:\(blockedSessions.count + pausedWaiters.count)",
                "tracking_clients:\(tracking.clients)",
                "clients_in_timeout_table:\(blockedSessions.values.filter { $0.timeout != nil }.count)",
                "pubsub_clients:\(clients.values.filter(\.isSubscribed).count)",
            ]
        case "memory":
            let rss = Self.residentBytes()
            let maxmemory = UInt64(config.value(of: "maxmemory") ?? "0") ?? 0
            let clientBuffers = clientBufferBytes
            let aofBuffer = persistence?.encoder.pendingBytes ?? 0
            // Redis's overhead: startup memory, client buffers, the AOF buffer; the rest is data.
            let overhead = min(rss, startupResidentBytes + clientBuffers + aofBuffer)
            return [
                "# Memory",
                "used_memory:\(rss)",
                "used_memory_human:\(Self.human(rss))",
                "used_memory_rss:\(rss)",
                "used_memory_rss_human:\(Self.human(rss))",
                "used_memory_peak:\(rss)",
                "used_memory_peak_human:\(Self.human(rss))",
                "used_memory_peak_perc:100.00%",
                "used_memory_overhead:\(overhead)",
                "used_memory_startup:\(startupResidentBytes)",
                "used_memory_dataset:\(rss - overhead)",
                "used_memory_dataset_perc:\(format2(rss > startupResidentBytes ? Double(rss - overhead) * 100 / Double(rss - startupResidentBytes) : 0))%",
                // glibc's malloc keeps no figures like jemalloc's: the allocator rows are the RSS.
                "allocator_allocated:\(rss)",
                "allocator_active:\(rss)",
                "allocator_resident:\(rss)",
                "total_system_memory:\(Self.totalSystemMemory())",
                "total_system_memory_human:\(Self.human(Self.totalSystemMemory()))",
                // No scripting engine: no Lua, scripts or functions.
                "used_memory_lua:0",
                "used_memory_vm_eval:0",
                "used_memory_lua_human:0B",
                "used_memory_scripts_eval:0",
                "number_of_cached_scripts:0",
                "number_of_functions:0",
                "number_of_libraries:0",
                "used_memory_vm_functions:0",
                "used_memory_vm_total:0",
                "used_memory_vm_total_human:0B",
                "used_memory_functions:0",
                "used_memory_scripts:0",
                "used_memory_scripts_human:0B",
                // Redis prints the unsigned value with %lld: 2^63 and more read negative.
                "maxmemory:\(Int64(bitPattern: maxmemory))",
                "maxmemory_human:\(Self.human(maxmemory))",
                "maxmemory_policy:\(config.value(of: "maxmemory-policy") ?? "noeviction")",
                "allocator_frag_ratio:1.00",
                "allocator_frag_bytes:0",
                "allocator_rss_ratio:1.00",
                "allocator_rss_bytes:0",
                "rss_overhead_ratio:1.00",
                "rss_overhead_bytes:0",
                "mem_fragmentation_ratio:1.00",
                "mem_fragmentation_bytes:0",
                "mem_not_counted_for_evict:0",
                "mem_replication_backlog:0",
                "mem_total_replication_buffers:0",
                "mem_clients_slaves:0",
                "mem_clients_normal:\(clientBuffers)",
                "mem_cluster_links:0",
                "mem_aof_buffer:\(aofBuffer)",
                "mem_allocator:libc",
                "active_defrag_running:0",
                "lazyfree_pending_objects:0",
                "lazyfreed_objects:0",
            ]
        case "persistence":
            return persistenceInfo(now: now)
        case "stats":
            return [
                "# Stats",
                "total_connections_received:\(stats.connectionsReceived)",
                "total_commands_processed:\(stats.commandsProcessed)",
                "instantaneous_ops_per_sec:\(stats.opsPerSec.value)",
                "total_net_input_bytes:\(stats.netInputBytes)",
                "total_net_output_bytes:\(stats.netOutputBytes)",
                "total_net_repl_input_bytes:0",
                "total_net_repl_output_bytes:0",
                "instantaneous_input_kbps:\(Self.fixed2(Double(stats.inputPerSec.value) / 1024))",
                "instantaneous_output_kbps:\(Self.fixed2(Double(stats.outputPerSec.value) / 1024))",
                "instantaneous_input_repl_kbps:0.00",
                "instantaneous_output_repl_kbps:0.00",
                "rejected_connections:\(stats.rejectedConnections)",
                // Runnel has no replicas, forks, defragmenter or I/O threads: those count 0.
                "sync_full:0",
                "sync_partial_ok:0",
                "sync_partial_err:0",
                "expired_keys:\(stats.expiredKeys)",
                "expired_stale_perc:0.00",
                "expired_time_cap_reached_count:0",
                "expire_cycle_cpu_milliseconds:0",
                "evicted_keys:0",
                "evicted_clients:0",
                "total_eviction_exceeded_time:0",
                "current_eviction_exceeded_time:0",
                "keyspace_hits:\(stats.keyspaceHits)",
                "keyspace_misses:\(stats.keyspaceMisses)",
                "pubsub_channels:\(pubsub.channels.count)",
                "pubsub_patterns:\(pubsub.patterns.count)",
                "pubsubshard_channels:\(pubsub.shardChannels.count)",
                "latest_fork_usec:0",
                "total_forks:0",
                "migrate_cached_sockets:0",
                "slave_expires_tracked_keys:0",
                "active_defrag_hits:0",
                "active_defrag_misses:0",
                "active_defrag_key_hits:0",
                "active_defrag_key_misses:0",
                "total_active_defrag_time:0",
                "current_active_defrag_time:0",
                "tracking_total_keys:\(tracking.keys.count)",
                "tracking_total_items:\(tracking.items)",
                "tracking_total_prefixes:\(tracking.prefixes.count)",
                "unexpected_error_replies:0",
                "total_error_replies:\(stats.errorReplies)",
                "dump_payload_sanitizations:0",
                "total_reads_processed:\(stats.readsProcessed)",
                "total_writes_processed:\(stats.writesProcessed)",
                "io_threaded_reads_processed:0",
                "io_threaded_writes_processed:0",
                "reply_buffer_shrinks:0",
                "reply_buffer_expands:0",
            ]
        case "replication":
            return [
                "# Replication",
                "role:master",
                "connected_slaves:0",
                "master_failover_state:no-failover",
                "master_replid:\(replicationID)",
                "master_replid2:0000000000000000000000000000000000000000",
                "master_repl_offset:0",
                "second_repl_offset:-1",
                "repl_backlog_active:0",
                "repl_backlog_size:1048576",
                "repl_backlog_first_byte_offset:0",
                "repl_backlog_histlen:0",
            ]
        case "cpu":
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            var thread = rusage()
            getrusage(1 /* RUSAGE_THREAD */, &thread)
            func secs(_ t: timeval) -> String {
                let micros = Int(t.tv_sec) * 1_000_000 + Int(t.tv_usec)
                let frac = String(micros % 1_000_000)
                return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
            }
            return [
                "# CPU",
                "used_cpu_sys:\(secs(usage.ru_stime))",
                "used_cpu_user:\(secs(usage.ru_utime))",
                "used_cpu_sys_children:0.000000",
                "used_cpu_user_children:0.000000",
                // INFO runs on the event loop: this thread is Redis's main thread.
                "used_cpu_sys_main_thread:\(secs(thread.ru_stime))",
                "used_cpu_user_main_thread:\(secs(thread.ru_utime))",
            ]
        case "modules":
            return ["# Modules"]
        case "commandstats":
            var lines = ["# Commandstats"]
            for top in commands.all {
                for c in top.allSpecs where c.calls > 0 || c.rejectedCalls > 0 || c.failedCalls > 0 {
                    let perCall = c.calls > 0 ? Double(c.usec) / Double(c.calls) : 0
                    lines.append(
                        "cmdstat_\(c.fullName):calls=\(c.calls),usec=\(c.usec),usec_per_call=\(Self.fixed2(perCall)),rejected_calls=\(c.rejectedCalls),failed_calls=\(c.failedCalls)"
                    )
                }
            }
            return lines
        case "errorstats":
            var lines = ["# Errorstats"]
            for (code, count) in stats.errorCounts.sorted(by: { $0.key < $1.key }) {
                lines.append("errorstat_\(code):count=\(count)")
            }
            return lines
        case "latencystats":
            var lines = ["# Latencystats"]
            for top in commands.all {
                for c in top.allSpecs {
                    guard let counts = c.latencyTracker, counts.total > 0 else { continue }
                    let h = counts.histogram
                    let values = config.latencyTrackingPercentiles.map {
                        "p\(ServerConfig.formatPercentile($0))=\(Self.fixed(Double(Self.percentileValue(h, $0)) / 1000, digits: 3))"
                    }
                    lines.append("latency_percentiles_usec_\(c.fullName):" + values.joined(separator: ","))
                }
            }
            return lines
        case "cluster":
            return ["# Cluster", "cluster_enabled:0"]
        case "keyspace":
            var lines = ["# Keyspace"]
            for (i, db) in dbs.enumerated() where db.count > 0 {
                lines.append("db\(i):keys=\(db.count),expires=\(db.expires.count),avg_ttl=0")
            }
            return lines
        default:
            return []
        }
    }

    static func fixed2(_ v: Double) -> String { fixed(v, digits: 2) }

    /// `v` (not negative) with `digits` decimals, as printf's `%.Nf`.
    static func fixed(_ v: Double, digits: Int) -> String {
        var unit = 1
        for _ in 0..<digits { unit *= 10 }
        let scaled = Int((v * Double(unit)).rounded())
        let frac = String(scaled % unit)
        return "\(scaled / unit)." + String(repeating: "0", count: digits - frac.count) + frac
    }

    /// Redis's `bytesToHuman`: B below 1 KiB, then K, M, G, T, P with two decimals, and
    /// plain bytes again from 1024 PiB up.
    static func human(_ bytes: Int) -> String { human(UInt64(max(0, bytes))) }

    static func human(_ bytes: UInt64) -> String {
        let units = ["K", "M", "G", "T", "P"]
        guard bytes >= 1024 else { return "\(bytes)B" }
        var limit: UInt64 = 1024
        for unit in units {
            if bytes / 1024 < limit {  // bytes < 1024 × limit, without overflow
                return fixed2(Double(bytes) / Double(limit)) + unit
            }
            limit *= 1024
        }
        return "\(bytes)B"
    }

    static func osName() -> String {
        var u = utsname()
        uname(&u)
        func field<T>(_ t: T) -> String {
            withUnsafeBytes(of: t) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return "\(field(u.sysname)) \(field(u.release)) \(field(u.machine))"
    }

    static func executablePath() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    }

    /// Resident set size from /proc/self/statm (second field, in pages).
    static func residentBytes() -> Int {
        guard let fp = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(fp) }
        var buf = [CChar](repeating: 0, count: 256)
        guard fgets(&buf, 256, fp) != nil else { return 0 }
        let parts = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: " ")
        guard parts.count >= 2, let pages = Int(parts[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func totalSystemMemory() -> Int {
        Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

extension Broker {
    /// INFO persistence: Redis's field names (the log plays the AOF's part, checkpoints the
    /// RDB's), then Runnel's storage fields.
    func persistenceInfo(now: Int64) -> [String] {
        guard let p = persistence else {
            return [
                "# Persistence", "loading:0", "async_loading:0", "current_cow_peak:0", "current_cow_size:0",
                "current_cow_size_age:0", "current_fork_perc:0.00", "current_save_keys_processed:0",
                "current_save_keys_total:0", "rdb_changes_since_last_save:\(dirty &- dirtyAtSave)",
                "rdb_bgsave_in_progress:0", "rdb_last_save_time:\(lastSaveTime)", "rdb_last_bgsave_status:ok",
                "rdb_last_bgsave_time_sec:-1", "rdb_current_bgsave_time_sec:-1", "rdb_saves:0", "rdb_last_cow_size:0",
                "rdb_last_load_keys_expired:0", "rdb_last_load_keys_loaded:0", "aof_enabled:0",
                "aof_rewrite_in_progress:0", "aof_rewrite_scheduled:0", "aof_last_rewrite_time_sec:-1",
                "aof_current_rewrite_time_sec:-1", "aof_last_bgrewrite_status:ok", "aof_rewrites:0",
                "aof_rewrites_consecutive_failures:0", "aof_last_write_status:ok", "aof_last_cow_size:0",
                "module_fork_in_progress:0", "module_fork_last_cow_size:0",
            ]
        }
        let w = p.writer.stats
        let disk = p.diskUsage()
        let ratio = w.compressedBytes > 0 ? Double(w.rawBytes) / Double(w.compressedBytes) : 0
        let perSync = w.fsyncs > 0 ? Double(w.recordsSynced) / Double(w.fsyncs) : 0
        let r = p.recovery
        return [
            "# Persistence",
            "loading:0",
            "async_loading:0",
            // Checkpoints and snapshots are written by threads, not forks: no copy-on-write.
            "current_cow_peak:0",
            "current_cow_size:0",
            "current_cow_size_age:0",
            "current_fork_perc:0.00",
            "current_save_keys_processed:0",
            "current_save_keys_total:0",
            "rdb_changes_since_last_save:\(dirty &- dirtyAtSave)",
            "rdb_bgsave_in_progress:\(p.snapshotRunning ? 1 : 0)",
            "rdb_last_save_time:\(lastSaveTime)",
            "rdb_last_bgsave_status:\(p.lastSnapshotStatus)",
            "rdb_last_bgsave_time_sec:\(p.lastSnapshotDurationMs < 0 ? -1 : (p.lastSnapshotDurationMs + 500) / 1000)",
            "rdb_current_bgsave_time_sec:-1",
            "rdb_saves:\(p.snapshots)",
            "rdb_last_cow_size:0",
            "rdb_last_load_keys_expired:0",
            "rdb_last_load_keys_loaded:\(r.streams)",
            "aof_enabled:1",
            "aof_rewrite_in_progress:\(w.checkpointInProgress ? 1 : 0)",
            "aof_rewrite_scheduled:0",
            "aof_last_rewrite_time_sec:\(w.checkpoints > 0 ? (w.lastCheckpointDurationMs + 500) / 1000 : -1)",
            "aof_current_rewrite_time_sec:-1",
            "aof_last_bgrewrite_status:\(w.lastCheckpointStatus)",
            "aof_rewrites:\(w.checkpoints)",
            "aof_rewrites_consecutive_failures:0",
            "aof_last_write_status:\(w.lastError == nil ? "ok" : "err")",
            "aof_last_cow_size:0",
            "module_fork_in_progress:0",
            "module_fork_last_cow_size:0",
            "aof_current_size:\(disk.total)",
            "aof_base_size:\(disk.checkpoint)",
            "aof_pending_rewrite:0",
            "aof_buffer_length:\(p.encoder.encodedBytes - w.written)",
            "aof_pending_bio_fsync:0",
            "aof_delayed_fsync:0",
            "aof_fsync_policy:\(p.policy.rawValue)",
            "log_fsyncs:\(w.fsyncs)",
            "log_fsync_p50_usec:\(w.fsyncPercentile(0.5))",
            "log_fsync_p99_usec:\(w.fsyncPercentile(0.99))",
            "log_records_per_fsync:\(format2(perSync))",
            "log_written_offset:\(w.written)",
            "log_synced_offset:\(w.synced)",
            "log_durable_lag_bytes:\(p.encoder.encodedBytes - w.synced)",
            "log_raw_bytes:\(w.rawBytes)",
            "log_compressed_bytes:\(w.compressedBytes)",
            "log_compression_ratio:\(format2(ratio))",
            "log_disk_bytes:\(disk.total)",
            "log_segments:\(disk.segments)",
            "log_active_segment:\(w.activeSegment)",
            "log_preallocated_bytes:\(p.writer.preallocatedBytes)",
            "log_write_errors:\(w.writeErrors)",
            "checkpoint_bytes:\(disk.checkpoint)",
            "checkpoints:\(w.checkpoints)",
            "checkpoint_last_copied_bytes:\(w.lastCheckpointCopiedBytes)",
            "startup_load_ms:\(r.durationMs)",
            "startup_truncated_bytes:\(r.truncatedBytes)",
        ]
    }
}

func format2(_ v: Double) -> String {
    let c = Int((v * 100).rounded())
    let frac = String(c % 100)
    return "\(c / 100)." + (frac.count == 1 ? "0" : "") + frac
}
