/// A deterministic PRNG (SplitMix64) for reproducible generated tests.
public struct SplitMix64: Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Generates long, seeded sequences of stream commands (adds, trims, deletes, groups,
/// deliveries, claims, acks) and requires identical replies from redis-server and Runnel.
/// A failure prints the seed; rerun one with RUNNEL_SEED=<seed>.
public struct StreamScriptGenerator: Sendable {
    var rng: SplitMix64
    var nextMs: [String: UInt64] = [:]
    let keys = ["s1", "s2", "s3"]
    let groups = ["g1", "g2"]
    let consumers = ["alice", "bob", "carol"]

    /// Commands left before the EXEC of an open MULTI (0: none open).
    var multiLeft = 0

    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
    mutating func chance(_ percent: UInt64) -> Bool { rng.next() % 100 < percent }
    mutating func int(_ n: UInt64) -> UInt64 { rng.next() % n }

    mutating func someID(_ key: String) -> String {
        let top = nextMs[key] ?? 1
        return "\(int(top + 2))-\(int(3))"
    }

    /// Whether the open MULTI queued a command whose reply carries times (compared with times masked).
    var multiMasked = false

    /// Argument lists of generated commands until there are at least `count` and no MULTI is
    /// left open, with the reply-masking marks removed. After each command `checkpoint(inMulti)`
    /// says whether to queue a BGREWRITEAOF behind it.
    public mutating func batch(atLeast count: Int, checkpoint: (_ inMulti: Bool) -> Bool) -> [[String]] {
        var batch: [[String]] = []
        var inMulti = false
        while batch.count < count || inMulti {
            var line = command()
            while line.hasPrefix("%") || line.hasPrefix("~") { line.removeFirst() }
            let args = line.split(separator: " ").map(String.init)
            if args[0] == "EXEC" || args[0] == "DISCARD" { inMulti = false }
            batch.append(args)
            if checkpoint(inMulti) { batch.append(["BGREWRITEAOF"]) }
            if args[0] == "MULTI" { inMulti = true }
        }
        return batch
    }

    public mutating func command() -> String {
        if multiLeft > 0 {
            multiLeft -= 1
            if multiLeft == 0 {
                defer { multiMasked = false }
                return chance(90) ? (multiMasked ? "%EXEC" : "EXEC") : "DISCARD"
            }
            let queued = single()
            if queued.hasPrefix("%") { multiMasked = true }
            return queued
        } else if chance(2) {
            multiLeft = 2 + Int(int(4))
            return "MULTI"
        }
        return single()
    }

    mutating func single() -> String {
        let key = pick(keys)
        let group = pick(groups)
        let consumer = pick(consumers)
        switch int(128) {
        case 0..<30:
            let ms = (nextMs[key] ?? 1) + int(3)
            nextMs[key] = ms + 1
            var trim = ""
            if chance(15) { trim = "MAXLEN \(chance(50) ? "~ " : "")\(int(40)) " }
            else if chance(5) { trim = "MINID \(someID(key)) " }
            let fields = chance(70) ? "type order sku A\(int(9)) qty \(int(5))" : "other \(int(1000))"
            let id = chance(20) ? "\(ms)-*" : "\(ms)-\(int(3))"
            return "XADD \(key) \(trim)\(id) \(fields)"
        case 30..<35: return "XDEL \(key) \(someID(key)) \(someID(key))"
        case 35..<38: return "XTRIM \(key) MAXLEN \(chance(50) ? "~ " : "")\(int(30))"
        case 38..<40: return "XTRIM \(key) MINID \(someID(key))"
        case 40..<46:
            let count = chance(50) ? " COUNT \(int(5))" : ""
            return chance(50) ? "XRANGE \(key) \(someID(key)) +\(count)" : "XREVRANGE \(key) + \(someID(key))\(count)"
        case 46..<48: return "XLEN \(key)"
        case 48..<52: return "XGROUP CREATE \(key) \(group) \(chance(50) ? "$" : "0")\(chance(30) ? " MKSTREAM" : "")"
        case 52..<53: return "XGROUP SETID \(key) \(group) \(chance(50) ? "$" : someID(key))"
        case 53..<54: return "XGROUP DESTROY \(key) \(group)"
        case 54..<55: return "XGROUP CREATECONSUMER \(key) \(group) \(consumer)"
        case 55..<56: return "XGROUP DELCONSUMER \(key) \(group) \(consumer)"
        case 56..<70:
            let count = chance(60) ? "COUNT \(1 + int(4)) " : ""
            let noack = chance(10) ? "NOACK " : ""
            return "XREADGROUP GROUP \(group) \(consumer) \(count)\(noack)STREAMS \(key) \(chance(80) ? ">" : "0")"
        case 70..<78: return "XACK \(key) \(group) \(someID(key)) \(someID(key)) \(someID(key))"
        case 78..<82: return "XPENDING \(key) \(group)"
        case 82..<85: return "XCLAIM \(key) \(group) \(consumer) 0 \(someID(key)) \(someID(key)) JUSTID"
        case 85..<88: return "XAUTOCLAIM \(key) \(group) \(consumer) 0 0 COUNT \(1 + int(5)) JUSTID"
        case 88..<93: return "XINFO GROUPS \(key)"
        case 93..<94: return "%XINFO CONSUMERS \(key) \(group)"
        case 94..<95: return "XINFO STREAM \(key)"
        case 95..<97: return "XREAD COUNT \(1 + int(3)) STREAMS \(key) \(someID(key))"
        case 97..<98: return "XSETID \(key) \((nextMs[key] ?? 1) + 5)-0"
        case 98..<100: return "%XPENDING \(key) \(group) - + \(int(10)) \(consumer)"
        // Less frequent forms: whole entries from claims, bounded trims, exclusive ranges,
        // key-level changes, and the shapes of replies that carry times.
        case 100..<101: return "XCLAIM \(key) \(group) \(consumer) 0 \(someID(key)) \(someID(key))"
        case 101..<102:
            let option = pick(["FORCE", "FORCE JUSTID", "RETRYCOUNT \(int(4))", "LASTID \(someID(key))", "FORCE RETRYCOUNT 0"])
            return "XCLAIM \(key) \(group) \(consumer) 0 \(someID(key)) \(option)"
        case 102..<104: return "XAUTOCLAIM \(key) \(group) \(consumer) 0 \(someID(key)) COUNT \(1 + int(4))"
        case 104..<106:
            let ms = (nextMs[key] ?? 1) + int(3)
            nextMs[key] = ms + 1
            let trim = chance(50) ? "MAXLEN ~ \(int(30)) LIMIT \(int(150)) " : ""
            return "XADD \(key) NOMKSTREAM \(trim)\(ms)-\(int(3)) type order qty \(int(5))"
        case 106..<107: return "XTRIM \(key) MINID ~ \(someID(key)) LIMIT \(int(200))"
        case 107..<109:
            let count = chance(50) ? " COUNT \(int(4))" : ""
            return chance(50) ? "XRANGE \(key) (\(someID(key)) +\(count)" : "XREVRANGE \(key) (\(someID(key)) -\(count)"
        case 109..<110: return chance(50) ? "DEL \(key)" : "RENAME \(key) \(pick(keys))"
        case 110..<112:
            let entriesRead = chance(50) ? " ENTRIESREAD \(int(12))" : ""
            return "XGROUP CREATE \(key) \(group) \(someID(key))\(entriesRead)"
        case 112..<113: return "XGROUP SETID \(key) \(group) \(someID(key)) ENTRIESREAD \(int(12))"
        case 113..<115: return "XREADGROUP GROUP \(group) \(consumer) COUNT \(int(4)) STREAMS \(key) \(someID(key))"
        case 115..<116: return "%XINFO STREAM \(key) FULL\(chance(50) ? " COUNT \(int(4))" : "")"
        case 116..<117: return "%XPENDING \(key) \(group) IDLE 0 - + \(1 + int(9))"
        case 117..<118:
            let top = nextMs[key] ?? 1
            return "XSETID \(key) \(top + 5)-0 ENTRIESADDED \(int(60)) MAXDELETEDID \(int(top + 2))-0"
        case 118..<120: return "XREAD COUNT \(1 + int(3)) STREAMS s1 s2 s3 \(someID("s1")) \(someID("s2")) \(someID("s3"))"
        case 120..<122: return "COPY \(key) \(pick(keys))\(chance(50) ? " REPLACE" : "")\(chance(20) ? " DB 1" : "")"
        case 122..<123: return chance(50) ? "MOVE \(key) 1" : "SWAPDB 0 1"
        // Blocking reads: served at once when entries are there, else a 1 ms timeout (inside
        // MULTI they never block).
        case 123..<125:
            return "XREADGROUP GROUP \(group) \(consumer) COUNT 2 BLOCK 1 STREAMS \(key) >"
        case 125..<126: return "XREAD COUNT 2 BLOCK 1 STREAMS \(key) \(someID(key))"
        default: return "XLEN \(key)"
        }
    }
}

