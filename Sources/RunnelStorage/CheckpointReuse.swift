#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RunnelStreams

/// What the previous checkpoint file holds, so the next checkpoint copies the frames of node
/// groups that have not changed instead of serializing and compressing them again
/// (docs/DESIGN.md, "Incremental checkpoints"). A checkpoint's cost is then its new data, not
/// a pass over the whole state every time.
///
/// A group is identified by its stream handle and first node's master ID, and is unchanged
/// when each of its nodes still carries the content stamp it had when the group was written
/// (`StreamNode.version`: reset by every change, restamped from a counter that never repeats
/// just before each checkpoint copies the streams). Identical nodes cut into identical groups
/// (the cut rule reads only the nodes), so the copied frame is exactly what serializing and
/// compressing them again would give. The copied frame is checked against its own CRC before
/// use; any doubt means compressing anew. Only numbers are kept, never node storage.
///
/// Used by one checkpoint at a time (the writer starts the next only after the previous one
/// reported), guarded by a lock all the same.
public final class CheckpointReuse: @unchecked Sendable {
    struct Key: Hashable {
        var handle: UInt64
        var first: StreamID
    }

    struct Location {
        /// The stamps of the group's nodes when its frame was written.
        var versions: [UInt64]
        var rawLength: Int
        var offset: Int
        var length: Int
    }

    private let lock = Signal()
    /// The file `groups` describes; nil before the first checkpoint of this process.
    private var path: String?
    private var groups: [Key: Location] = [:]
    /// The groups of the file being encoded (encoder only).
    private var next: [Key: Location] = [:]
    /// Bytes copied from the previous file by the last encode.
    private var copied = 0

    public init() {}

    /// Bytes the last checkpoint copied from its predecessor.
    public var lastCopiedBytes: Int { lock.withLock { copied } }

    func beginEncode() {
        lock.withLock {
            next = [:]
            copied = 0
        }
    }

    func note(_ key: Key, _ location: Location, copied: Bool) {
        lock.withLock {
            next[key] = location
            if copied { self.copied += location.length }
        }
    }

    /// The file just encoded is durable at `path`: its groups are what the next one reuses.
    public func commit(path: String) {
        lock.withLock {
            self.path = path
            groups = next
            next = [:]
        }
    }

    /// The encoded file was not written: the previous file (still in place) stays the source.
    public func discard() {
        lock.withLock { next = [:] }
    }

    /// Opens the previous file for reading its frames; nil when there is none.
    func openPrevious() -> Previous? {
        let (path, groups) = lock.withLock { (self.path, self.groups) }
        guard let path, !groups.isEmpty else { return nil }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        return Previous(fd: fd, groups: groups)
    }

    struct Previous {
        let fd: Int32
        let groups: [Key: Location]

        /// The previous file's frame of the group that starts at `nodes[start]` of the stream
        /// `handle`, with where that group was, when its nodes carry the same stamps and the
        /// frame reads back intact.
        func frame(handle: UInt64, _ nodes: [StreamNode], from start: Int) -> (frame: [UInt8], old: Location)? {
            let key = Key(handle: handle, first: nodes[start].masterID)
            guard let old = groups[key], old.length > 0, !old.versions.isEmpty,
                old.versions.count <= nodes.count - start
            else { return nil }
            for (i, v) in old.versions.enumerated() where v == 0 || nodes[start + i].version != v { return nil }
            var bytes = [UInt8](repeating: 0, count: old.length)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, old.length, off_t(old.offset)) }
            guard n == old.length else { return nil }
            var scanner = FrameScanner(bytes, from: 0)
            guard case .success(let info)? = scanner.next(), info.offset == 0,
                info.payloadStart + info.payloadLength == old.length, info.rawLength == old.rawLength, info.restart
            else { return nil }
            return (bytes, old)
        }

        func close() { _ = Glibc.close(fd) }
    }
}
