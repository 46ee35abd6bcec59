#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Point-in-time snapshots: `DIR/snapshots/<name>/` is itself a data directory (MANIFEST,
/// checkpoint, segments, indexes) plus a `SNAPSHOT` file listing every file with its size and
/// CRC-32. Sealed files are hard links (they never change); only the active segment's written
/// prefix is copied. See docs/FORMAT.md, "Snapshots".
public enum Snapshot {
    public struct FileEntry: Sendable, Equatable {
        public var name: String
        public var size: Int
        public var crc: UInt32
    }

    public struct Info: Sendable {
        public var name: String
        public var createdMs: Int64
        public var summary: String
        public var files: [FileEntry]
        public var totalBytes: Int { files.reduce(0) { $0 + $1.size } }
    }

    public static let directoryName = "snapshots"
    /// The file that makes a directory a snapshot (and lists its files).
    public static let descriptionName = "SNAPSHOT"

    /// Encodes the `SNAPSHOT` file.
    static func encode(_ info: Info) -> [UInt8] {
        var text = "runnel-snapshot 1\nname \(info.name)\ncreated-ms \(info.createdMs)\nsummary \(info.summary)\n"
        for f in info.files { text += "file \(f.name) \(f.size) \(String(f.crc, radix: 16))\n" }
        text += "crc \(String(Checksum.mask(Checksum.crc32(Array(text.utf8))), radix: 16))\n"
        return Array(text.utf8)
    }

    public static func read(_ path: String) throws(StorageError) -> Info {
        let file = path + "/SNAPSHOT"
        let text = String(decoding: try Files.readAll(file), as: UTF8.self)
        var lines = text.split(separator: "\n").map(String.init)
        guard lines.first == "runnel-snapshot 1", let last = lines.last, last.hasPrefix("crc ") else {
            throw .unsupported(file: file, reason: "not a version-1 snapshot description")
        }
        lines.removeLast()
        let body = lines.joined(separator: "\n") + "\n"
        guard UInt32(last.dropFirst(4), radix: 16) == Checksum.mask(Checksum.crc32(Array(body.utf8))) else {
            throw .corrupt(file: file, offset: 0, reason: "SNAPSHOT CRC mismatch")
        }
        var info = Info(name: "", createdMs: 0, summary: "", files: [])
        for line in lines.dropFirst() {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "name": info.name = parts[1]
            case "created-ms": info.createdMs = Int64(parts[1]) ?? 0
            case "summary": info.summary = parts[1]
            case "file":
                let f = parts[1].split(separator: " ")
                guard f.count == 3, let size = Int(f[1]), let crc = UInt32(f[2], radix: 16) else {
                    throw .corrupt(file: file, offset: 0, reason: "bad file line: \(line)")
                }
                info.files.append(FileEntry(name: String(f[0]), size: size, crc: crc))
            default: break
            }
        }
        return info
    }

    /// Snapshots of a data directory, oldest first.
    public static func list(_ dir: DataDirectory) -> [(path: String, info: Result<Info, StorageError>)] {
        let root = dir.file(directoryName)
        let names = ((try? Files.list(root)) ?? []).filter { !$0.hasSuffix(".tmp") }
        return names.map { name -> (path: String, info: Result<Info, StorageError>) in
            let path = root + "/" + name
            do throws(StorageError) { return (path, .success(try read(path))) } catch { return (path, .failure(error)) }
        }.sorted { a, b in
            let ta = (try? a.info.get().createdMs) ?? 0
            let tb = (try? b.info.get().createdMs) ?? 0
            return (ta, a.path) < (tb, b.path)
        }
    }

    /// Checks every file of a snapshot against its size and CRC; returns the problems.
    public static func verify(_ path: String) -> [String] {
        let info: Info
        do { info = try read(path) } catch { return ["\(error)"] }
        var problems: [String] = []
        for f in info.files {
            guard let bytes = try? Files.readAll(path + "/" + f.name) else {
                problems.append("\(f.name): missing or unreadable")
                continue
            }
            if bytes.count != f.size { problems.append("\(f.name): \(bytes.count) bytes, expected \(f.size)") }
            else if Checksum.crc32(bytes) != f.crc { problems.append("\(f.name): CRC mismatch") }
        }
        return problems
    }

    /// Links or copies the files of a consistent state into `<root>/<name>.tmp`: the caller (the
    /// writer thread) guarantees nothing is appended meanwhile and holds the housekeeping lock.
    static func capture(
        _ dir: DataDirectory, name: String, activeSegment: UInt64, activeBytes: Int
    ) throws(StorageError) -> (tmp: String, names: [String], known: [String: FileEntry]) {
        let root = dir.file(directoryName)
        try Files.makeDirectory(root)
        let tmp = root + "/" + name + ".tmp"
        try Files.makeDirectory(tmp)
        var names: [String] = []
        var known: [String: FileEntry] = [:]
        let manifest = try Files.exists(dir.manifestPath)
            ? Manifest.decode(try Files.readAll(dir.manifestPath), file: dir.manifestPath)
            : Manifest(checkpoint: nil, segmentsFrom: 1)
        func link(_ file: String) throws(StorageError) {
            guard Files.exists(dir.file(file)) else { return }
            if Glibc.link(dir.file(file), tmp + "/" + file) != 0 {
                throw .io(operation: "link", path: dir.file(file), errno: errno)
            }
            names.append(file)
        }
        if let c = manifest.checkpoint {
            try link(c.name)
            known[c.name] = FileEntry(name: c.name, size: c.size, crc: c.crc)
        }
        for id in try dir.segmentIDs() where id >= manifest.segmentsFrom && id < activeSegment {
            try link(dir.segmentName(id))
            try link(dir.indexName(id))
            // A sealed segment's size and CRC are in its index (written when it was sealed).
            let idxPath = dir.file(dir.indexName(id))
            if let idx = try? SegmentIndex.decode(try Files.readAll(idxPath), file: idxPath), Files.size(dir.file(dir.segmentName(id))) == idx.size {
                known[dir.segmentName(id)] = FileEntry(name: dir.segmentName(id), size: idx.size, crc: idx.crc)
            }
        }
        // The active segment: exactly the bytes written so far.
        let active = dir.segmentName(activeSegment)
        // (Synced by `finish`, off the writer thread.)
        try Files.writeFile(tmp + "/" + active, try Files.readAll(dir.file(active), limit: activeBytes), sync: false)
        names.append(active)
        try Files.writeAtomically(tmp + "/MANIFEST", manifest.encoded(), directory: tmp)
        names.append("MANIFEST")
        return (tmp, names, known)
    }

    /// Checksums the captured files, writes `SNAPSHOT`, syncs, renames the directory into
    /// place and applies retention. Runs off the writer thread.
    static func finish(
        _ dir: DataDirectory, tmp: String, name: String, files: [String], known: [String: FileEntry], createdMs: Int64,
        summary: String, retain: Int
    ) throws(StorageError) -> Info {
        var entries: [FileEntry] = []
        for f in files.sorted() {
            if let k = known[f] {
                // Sealed files: checksums recorded when they were written; not read again.
                entries.append(k)
                continue
            }
            let bytes = try Files.readAll(tmp + "/" + f)
            entries.append(FileEntry(name: f, size: bytes.count, crc: Checksum.crc32(bytes)))
            if f.hasSuffix(".log") && !f.isEmpty {
                // Copies (not links) must reach the disk before the snapshot is declared.
                let fd = try Files.open(tmp + "/" + f, O_RDONLY)
                fsync(fd)
                close(fd)
            }
        }
        let info = Info(name: name, createdMs: createdMs, summary: summary, files: entries)
        try Files.writeAtomically(tmp + "/SNAPSHOT", encode(info), directory: tmp)
        let root = dir.file(directoryName)
        let final = root + "/" + name
        if rename(tmp, final) != 0 { throw .io(operation: "rename", path: tmp, errno: errno) }
        try Files.fsyncDirectory(root)
        if retain > 0 {
            let all = list(dir)
            for old in all.dropLast(retain) { removeTree(old.path) }
        }
        return info
    }

    /// Restores `snapshot` into `target`: verifies every checksum, copies into a temporary
    /// sibling directory, then renames it into place, so an interrupted restore leaves the
    /// target as it was. Refuses a non-empty target unless `force`.
    public static func restore(_ snapshot: String, to target: String, force: Bool) throws(StorageError) -> Info {
        let problems = verify(snapshot)
        guard problems.isEmpty else {
            throw .corrupt(file: snapshot, offset: 0, reason: "snapshot fails verification: " + problems.joined(separator: "; "))
        }
        let info = try read(snapshot)
        let existing = (try? Files.list(target)) ?? []
        if !existing.isEmpty && !force {
            throw .io(operation: "restore into non-empty directory (use --force)", path: target, errno: ENOTEMPTY)
        }
        if Inspect.serverRunning(DataDirectory(target)) {
            throw .locked(path: target)
        }
        let stamp = Files.nowMs()
        let tmp = target + ".restoring-\(stamp)"
        try Files.makeDirectory(tmp)
        for f in info.files {
            try Files.writeFile(tmp + "/" + f.name, try Files.readAll(snapshot + "/" + f.name), sync: true)
        }
        try Files.fsyncDirectory(tmp)
        if Files.exists(target) {
            let old = target + ".replaced-\(stamp)"
            if rename(target, old) != 0 { throw .io(operation: "rename", path: target, errno: errno) }
            if rename(tmp, target) != 0 { throw .io(operation: "rename", path: tmp, errno: errno) }
            removeTree(old)
        } else if rename(tmp, target) != 0 {
            throw .io(operation: "rename", path: tmp, errno: errno)
        }
        return info
    }

    static func removeTree(_ path: String) {
        for name in (try? Files.list(path)) ?? [] {
            let p = path + "/" + name
            var st = stat()
            if lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { removeTree(p) } else { unlink(p) }
        }
        rmdir(path)
    }
}
