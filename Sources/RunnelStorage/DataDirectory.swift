#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// File names and the manifest of a data directory (docs/FORMAT.md, "Data directory").
public struct DataDirectory: Sendable {
    public let path: String

    public init(_ path: String) { self.path = path }

    /// Creates the directory (and its parents) if missing.
    public func create() throws(StorageError) { try Files.makeDirectory(path) }

    static func padded(_ n: UInt64) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, 8 - s.count)) + s
    }

    public func segmentName(_ id: UInt64) -> String { "segment-\(Self.padded(id)).log" }
    public func indexName(_ id: UInt64) -> String { "segment-\(Self.padded(id)).idx" }
    public func checkpointName(_ id: UInt64) -> String { "checkpoint-\(Self.padded(id)).ckpt" }
    public func file(_ name: String) -> String { path + "/" + name }
    public var manifestPath: String { file("MANIFEST") }
    public var lockPath: String { file("LOCK") }

    /// Bytes on disk: everything, the newest checkpoint, and the number of segments.
    public func usage() -> (total: Int, checkpoint: Int, segments: Int) {
        var total = 0
        var checkpoint = 0
        var segments = 0
        for name in (try? Files.list(path)) ?? [] {
            let size = Files.size(file(name)) ?? 0
            total += size
            if name.hasSuffix(".ckpt") { checkpoint = size }
            if name.hasSuffix(".log") { segments += 1 }
        }
        return (total, checkpoint, segments)
    }

    /// A snapshot shares its sealed segments with its data directory (hard links): a server or
    /// a repair writing in it would change the snapshot, and could change those files. Called
    /// before anything is written (even the LOCK file).
    public func refuseIfSnapshot() throws(StorageError) {
        guard Files.exists(file(Snapshot.descriptionName)) else { return }
        throw .mismatch(
            path: path,
            reason: "it is a snapshot (it holds \(Snapshot.descriptionName)); snapshots are read-only and share files with their data directory. Restore it into a directory of its own with `runnel-dump restore \(path) --to <dir>` and start the server there")
    }

    /// The log segments present and their bytes, and the newest checkpoint's bytes (0: none).
    public func heldData() -> (segments: Int, segmentBytes: Int, checkpointBytes: Int) {
        let segments = (try? segmentIDs()) ?? []
        let checkpoint = ((try? checkpointIDs()) ?? []).last.map { Files.size(file(checkpointName($0))) ?? 0 } ?? 0
        return (segments.count, segments.reduce(0) { $0 + (Files.size(file(segmentName($1))) ?? 0) }, checkpoint)
    }

    /// Segment ids present, ascending.
    public func segmentIDs() throws(StorageError) -> [UInt64] {
        try Files.list(path).compactMap { name in
            guard name.hasPrefix("segment-"), name.hasSuffix(".log") else { return nil }
            return UInt64(name.dropFirst(8).dropLast(4))
        }.sorted()
    }

    public func checkpointIDs() throws(StorageError) -> [UInt64] {
        try Files.list(path).compactMap { name in
            guard name.hasPrefix("checkpoint-"), name.hasSuffix(".ckpt") else { return nil }
            return UInt64(name.dropFirst(11).dropLast(5))
        }.sorted()
    }
}

/// The manifest: which checkpoint is current and where the log continues from it.
///
///     runnel-manifest 1
///     checkpoint <segment-id> <file-name> <size> <crc32-hex>     or   checkpoint none
///     segments-from <segment-id>
///     crc <masked crc32 of the lines above, hex>
public struct Manifest: Sendable, Equatable {
    public struct CheckpointRef: Sendable, Equatable {
        public var baseSegment: UInt64
        public var name: String
        public var size: Int
        public var crc: UInt32
    }

    public var checkpoint: CheckpointRef?
    public var segmentsFrom: UInt64

    public init(checkpoint: CheckpointRef?, segmentsFrom: UInt64) {
        self.checkpoint = checkpoint
        self.segmentsFrom = segmentsFrom
    }

    public func encoded() -> [UInt8] {
        var text = "runnel-manifest 1\n"
        if let c = checkpoint {
            text += "checkpoint \(c.baseSegment) \(c.name) \(c.size) \(String(c.crc, radix: 16))\n"
        } else {
            text += "checkpoint none\n"
        }
        text += "segments-from \(segmentsFrom)\n"
        let crc = Checksum.mask(Checksum.crc32(Array(text.utf8)))
        text += "crc \(String(crc, radix: 16))\n"
        return Array(text.utf8)
    }

    public static func decode(_ bytes: [UInt8], file: String) throws(StorageError) -> Manifest {
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines[0].hasPrefix("runnel-manifest "), lines[0] != "runnel-manifest 1" {
            throw .unsupported(file: file, reason: "not a version-1 manifest (\(lines[0].prefix(40)))")
        }
        guard lines.count >= 4, lines[0] == "runnel-manifest 1" else {
            throw .corrupt(file: file, offset: 0, reason: bytes.isEmpty ? "empty MANIFEST" : "not a MANIFEST (it does not start with `runnel-manifest 1`)")
        }
        let body = lines[0..<3].joined(separator: "\n") + "\n"
        let crcParts = lines[3].split(separator: " ")
        guard crcParts.count == 2, crcParts[0] == "crc", let crc = UInt32(crcParts[1], radix: 16),
            Checksum.mask(Checksum.crc32(Array(body.utf8))) == crc
        else {
            throw .corrupt(file: file, offset: 0, reason: "manifest CRC mismatch")
        }
        let c = lines[1].split(separator: " ")
        var ref: CheckpointRef?
        if c.count == 2 && c[0] == "checkpoint" && c[1] == "none" {
            ref = nil
        } else if c.count == 5, c[0] == "checkpoint", let base = UInt64(c[1]), let size = Int(c[3]),
            let ccrc = UInt32(c[4], radix: 16)
        {
            ref = CheckpointRef(baseSegment: base, name: String(c[2]), size: size, crc: ccrc)
        } else {
            throw .corrupt(file: file, offset: 0, reason: "bad checkpoint line")
        }
        let s = lines[2].split(separator: " ")
        guard s.count == 2, s[0] == "segments-from", let from = UInt64(s[1]) else {
            throw .corrupt(file: file, offset: 0, reason: "bad segments-from line")
        }
        return Manifest(checkpoint: ref, segmentsFrom: from)
    }
}

/// The exclusive lock on a data directory, held for the life of the server.
public final class DirectoryLock: @unchecked Sendable {
    private let fd: Int32

    public init(_ dir: DataDirectory) throws(StorageError) {
        let fd = try Files.open(dir.lockPath, O_RDWR | O_CREAT)
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK { throw .locked(path: dir.path) }
            throw .io(operation: "flock", path: dir.lockPath, errno: e)
        }
        // The holder's pid, for people looking at the directory.
        ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
