import NIOCore
import NIOEmbedded
import RunnelRESP
import Testing

@testable import RunnelBroker

@Suite("ACL model: catalog, key specs, rule descriptions, password hashing")
struct ACLModelTests {
    static func broker() -> Broker {
        Broker(config: ServerConfig(), eventLoop: EmbeddedEventLoop())
    }

    static func args(_ words: String...) -> CommandArgs { CommandArgs(strings: words) }

    @Test("Runnel's commands have the ACL categories redis-server 7.0 gives them")
    func categoriesMatchCatalog() {
        let b = Self.broker()
        let catalog = Dictionary(uniqueKeysWithValues: redisCommandCatalog.map { ($0.name, $0.categories) })
        var checked = 0
        for spec in b.commands.all.flatMap(\.allSpecs) {
            guard let theirs = catalog[spec.fullName] else { continue }
            let ours = spec.categories.map { String($0.dropFirst()) }.sorted()
            #expect(ours == theirs.split(separator: " ").map(String.init).sorted(), "\(spec.fullName)")
            checked += 1
        }
        #expect(checked > 100)
    }

    @Test("key specs find keys as Redis does: index ranges, STREAMS keyword, odd counts, missing keyword")
    func keySpecs() {
        let b = Self.broker()
        func keys(_ words: String...) -> [Int] {
            let a = CommandArgs(strings: words)
            var spec = b.commands.lookup(a[0])!
            if !spec.subcommands.isEmpty { spec = spec.subcommand(a[1])! }
            return spec.keyPositions(a).map(\.0)
        }
        #expect(keys("XADD", "s", "*", "f", "v") == [1])
        #expect(keys("DEL", "a", "b", "c") == [1, 2, 3])
        #expect(keys("XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0") == [4, 5])
        #expect(keys("XREAD", "STREAMS", "a", "b", "0") == [2])
        #expect(keys("XREAD", "STREAMS", "a") == [])
        #expect(keys("XREAD", "COUNT", "1", "x", "y") == [])
        #expect(keys("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">") == [5])
        #expect(keys("XGROUP", "CREATE", "s", "g", "$") == [2])
        #expect(keys("RENAME", "a", "b") == [1, 2])
        let rename = b.commands.lookup(ByteBuffer(string: "rename"))!
        #expect(rename.keyPositions(Self.args("RENAME", "a", "b")).map(\.1) == [.all, .write])
        let xadd = b.commands.lookup(ByteBuffer(string: "xadd"))!
        #expect(xadd.keyPositions(Self.args("XADD", "s", "*", "f", "v")).map(\.1) == [.write])
        let xlen = b.commands.lookup(ByteBuffer(string: "xlen"))!
        #expect(xlen.keyPositions(Self.args("XLEN", "s")).map(\.1) == [[]])
    }

    @Test("passwords hash to Redis's SHA-256 hex; only valid hashes are accepted")
    func passwords() {
        #expect(ACL.hashPassword(Array("pw".utf8)) == "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4")
        #expect(ACL.isValidHash(Array(String(repeating: "a", count: 64).utf8)))
        #expect(!ACL.isValidHash(Array(String(repeating: "A", count: 64).utf8)))
        #expect(!ACL.isValidHash(Array(String(repeating: "a", count: 63).utf8)))
        #expect(ACL.generatePassword(bits: 5).count == 2)
        #expect(ACL.generatePassword(bits: 256).count == 64)
        #expect(ACL.generatePassword(bits: 256) != ACL.generatePassword(bits: 256))
    }

    @Test("a described rule list, applied to a new user, gives the same permissions (random rule sets)")
    func describeRoundTrip() throws {
        let b = Self.broker()
        let universe = b.acl.universe
        let pool = ["+@all", "-@all", "+@read", "-@write", "+@stream", "-@stream", "+@pubsub", "-@dangerous", "+@admin",
                    "-@keyspace", "+@fast", "-@slow", "+xadd", "-xadd", "+xinfo", "-xinfo|stream", "+config|get",
                    "-config", "+select|0", "+select|5", "+client|list", "-client", "+get", "-set", "+@string",
                    "+xreadgroup", "-@blocking", "+acl|whoami", "allcommands", "nocommands"]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let user = b.acl.makeUser("u")
            let rules = (0..<Int.random(in: 1...8, using: &rng)).map { _ in pool.randomElement(using: &rng)! }
            for r in rules { try user.apply(Array(r.utf8), universe, allChannelsByDefault: false) }
            let description = user.selectors[0].describeCommands(universe)
            let again = b.acl.makeUser("v")
            for r in description.split(separator: " ") {
                try again.apply(Array(r.utf8), universe, allChannelsByDefault: false)
            }
            #expect(again.selectors[0].bits == user.selectors[0].bits, "\(rules) → \(description)")
            #expect(again.selectors[0].future == user.selectors[0].future, "\(rules) → \(description)")
            #expect(again.selectors[0].describeCommands(universe) == description, "\(rules)")
        }
    }

    @Test("selector checks: the most specific denial wins, first args, no_auth commands always allowed")
    func checks() throws {
        let b = Self.broker()
        let u = b.acl.makeUser("u")
        for r in ["on", "nopass", "~a*", "+xlen", "+select|0", "(%R~b* +xrange)"] {
            try u.apply(Array(r.utf8), b.acl.universe, allChannelsByDefault: false)
        }
        func check(_ words: String...) -> ACLDenial? {
            let a = CommandArgs(strings: words)
            var spec = b.commands.lookup(a[0])!
            if !spec.subcommands.isEmpty { spec = spec.subcommand(a[1])! }
            return u.check(spec, a)?.0
        }
        #expect(check("XLEN", "a1") == nil)
        #expect(check("XLEN", "b1") == .key)
        #expect(check("XRANGE", "b1", "-", "+") == nil)
        #expect(check("XRANGE", "a1", "-", "+") == .key)  // root: command denied; selector: key denied
        #expect(check("XADD", "a1", "*", "f", "v") == .command)
        #expect(check("SELECT", "0") == nil)
        #expect(check("SELECT", "1") == .command)
        #expect(check("AUTH", "x") == nil)
        #expect(check("PUBLISH", "ch", "m") == .command)
    }
}
