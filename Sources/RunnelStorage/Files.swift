import CRunnelSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin, throwing wrappers over the system calls the storage layer uses.
public enum Files {
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(StorageError) -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        if fd < 0 { throw .io(operation: "open", path: path, errno: errno) }
        return fd
    }

    /// Writes all of `bytes` at the file's current offset (retrying short writes).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(StorageError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(operation: "write", path: path, errno: errno)
            }
            if n == 0 { throw .io(operation: "write", path: path, errno: EIO) }
            done += n
        }
    }

    /// The whole file (or its first `limit` bytes).
    public static func readAll(_ path: String, limit: Int = .max) throws(StorageError) -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(operation: "stat", path: path, errno: errno) }
        let size = min(Int(st.st_size), limit)
        var failure: Int32 = 0
        // Uninitialized storage: zero-filling a 64 MiB segment before reading it costs as
        // much as the read.
        let out = [UInt8](unsafeUninitializedCapacity: size) { buf, count in
            var done = 0
            while done < size {
                let n = Glibc.pread(fd, buf.baseAddress! + done, size - done, off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }
                done += n
            }
            count = done
        }
        if failure != 0 { throw .io(operation: "read", path: path, errno: failure) }
        return out
    }

    static func size(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func fsyncDirectory(_ dir: String) throws(StorageError) {
        let fd = try open(dir, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        if fsync(fd) != 0 { throw .io(operation: "fsync", path: dir, errno: errno) }
    }

    /// Writes a small file atomically: temporary file, fsync, rename, fsync of the directory.
    /// Creates (or truncates) `path` with `bytes`, fsyncing it when `sync`.
    static func writeFile(_ path: String, _ bytes: [UInt8], sync: Bool) throws(StorageError) {
        let fd = try open(path, O_WRONLY | O_CREAT | O_TRUNC)
        defer { close(fd) }
        try writeAll(fd, bytes, path: path)
        if sync && fsync(fd) != 0 { throw .io(operation: "fsync", path: path, errno: errno) }
    }

    public static func writeAtomically(_ path: String, _ bytes: [UInt8], directory: String) throws(StorageError) {
        try writeAtomically(path, directory: directory) { write in write(bytes) }
    }

    /// The same for a file produced in pieces: `produce` hands each piece, in order, to the
    /// `write` it is given, so the whole file is never in memory. After the first write error
    /// further pieces are dropped and the error is thrown once `produce` returns.
    static func writeAtomically(
        _ path: String, directory: String, _ produce: (_ write: ([UInt8]) -> Void) -> Void
    ) throws(StorageError) {
        let tmp = path + ".tmp"
        do throws(StorageError) {
            let fd = try open(tmp, O_WRONLY | O_CREAT | O_TRUNC)
            defer { close(fd) }
            var failure: StorageError?
            produce { piece in
                guard failure == nil else { return }
                do throws(StorageError) { try writeAll(fd, piece, path: tmp) } catch { failure = error }
            }
            if let failure { throw failure }
            if fsync(fd) != 0 { throw .io(operation: "fsync", path: tmp, errno: errno) }
        } catch {
            unlink(tmp)
            throw error
        }
        if rename(tmp, path) != 0 { throw .io(operation: "rename", path: tmp, errno: errno) }
        try fsyncDirectory(directory)
    }

    static func list(_ dir: String) throws(StorageError) -> [String] {
        guard let d = opendir(dir) else { throw .io(operation: "opendir", path: dir, errno: errno) }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func makeDirectory(_ path: String) throws(StorageError) {
        var partial = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            partial += "/" + part
            if mkdir(partial, 0o755) != 0 && errno != EEXIST {
                throw .io(operation: "mkdir", path: partial, errno: errno)
            }
        }
    }

    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// A mutex and condition variables for the writer threads. Threads that wait for different
/// things wait on different conditions (`on:`), so waking one does not wake the others.
final class Signal: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private let conds: UnsafeMutablePointer<pthread_cond_t>
    private let count: Int

    init(conditions: Int = 1) {
        count = conditions
        conds = .allocate(capacity: conditions)
        pthread_mutex_init(&mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        for i in 0..<conditions { pthread_cond_init(conds + i, &attr) }
        pthread_condattr_destroy(&attr)
    }

    deinit {
        for i in 0..<count { pthread_cond_destroy(conds + i) }
        conds.deallocate()
        pthread_mutex_destroy(&mutex)
    }

    func lock() { pthread_mutex_lock(&mutex) }
    func unlock() { pthread_mutex_unlock(&mutex) }
    /// Wakes every thread waiting on condition `which`.
    func signal(_ which: Int = 0) { pthread_cond_broadcast(conds + which) }

    /// Waits (lock held) on condition `which` until signalled or `ns` pass.
    func wait(ns: UInt64, on which: Int = 0) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let total = UInt64(ts.tv_nsec) + ns
        ts.tv_sec += Int(total / 1_000_000_000)
        ts.tv_nsec = Int(total % 1_000_000_000)
        pthread_cond_timedwait(conds + which, &mutex, &ts)
    }

    @discardableResult
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// How the scheduler should weigh a thread against the event loops and the log writer.
enum ThreadPriority: Sendable {
    /// The process's own priority: the writer and syncer, whose work a client waits for.
    case normal
    /// Work no reply waits for (checkpoints, snapshots): on a saturated machine it
    /// yields the CPU to the event loops and the writer (Linux nice `backgroundNice`).
    case background

    /// The nice value background threads take: low enough that a busy event loop wins almost
    /// every contested time slice, not so low (19) that a checkpoint starves on a loaded box.
    static let backgroundNice: Int32 = 10
}

/// Starts a detached thread named `name` (as top and perf show it) running `body`.
func startThread(name: String, priority: ThreadPriority = .normal, _ body: @escaping @Sendable () -> Void) {
    if let tid = spawnThread(name: name, priority: priority, body) { pthread_detach(tid) }
}

/// A thread whose end can be waited for (so that nothing it owns outlives its caller).
struct JoinableThread {
    fileprivate let tid: pthread_t?

    /// Waits until the thread has returned and released everything it held.
    func join() {
        if let tid { pthread_join(tid, nil) }
    }
}

/// Starts a thread running `body`; `join()` the result.
func startJoinableThread(
    name: String, priority: ThreadPriority = .normal, _ body: @escaping @Sendable () -> Void
) -> JoinableThread {
    JoinableThread(tid: spawnThread(name: name, priority: priority, body))
}

/// Runs `body` on a new thread; if no thread can be made, runs it inline and returns nil.
private func spawnThread(
    name: String, priority: ThreadPriority, _ body: @escaping @Sendable () -> Void
) -> pthread_t? {
    final class Box: @unchecked Sendable {
        let name: String
        let nice: Int32?
        let body: @Sendable () -> Void
        init(_ name: String, _ nice: Int32?, _ body: @escaping @Sendable () -> Void) {
            self.name = name
            self.nice = nice
            self.body = body
        }
    }
    let nice: Int32? = priority == .background ? ThreadPriority.backgroundNice : nil
    let box = Unmanaged.passRetained(Box(name, nice, body))
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { arg in
        let b = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue() as! Box
        _ = runnel_name_current_thread(b.name)
        // Best effort: where the system refuses (not Linux, or a process already nicer than
        // this), the thread runs at the process's priority.
        if let nice = b.nice { _ = runnel_set_current_thread_nice(nice) }
        b.body()
        return nil
    }, box.toOpaque())
    if rc == 0 { return tid }
    box.release()
    body()  // No thread could be made: run inline rather than lose the work.
    return nil
}
