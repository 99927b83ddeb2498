@testable import HostCore
@testable import HostModel
import Testing

/// Registry references by the distribution spec's rules, checked before
/// skopeo is asked anything.
@Suite struct ReferenceTests {
    @Test func validReferencesKeepTheirParts() throws {
        let tagged = try RegistryReference("registry.example:5000/team/debian-patch:1")
        #expect(tagged.repository == "registry.example:5000/team/debian-patch" && tagged.tag == "1" && tagged.digest == nil)
        #expect(tagged.transport == "docker://registry.example:5000/team/debian-patch:1")
        let pinned = try RegistryReference("127.0.0.1:5000/m@sha256:" + String(repeating: "a", count: 64))
        #expect(pinned.digest?.count == 71 && pinned.tag == nil)
        #expect(try RegistryReference(pinned.description) == pinned)
    }

    @Test(arguments: ["registry.example/Team/x:1", "registry.example/x:", "registry.example/x@sha256:abc", "/x:1",
                      "registry.example/x:-bad", "registry.example//x:1", "registry.example/x@md5:" + String(repeating: "a", count: 32)])
    func invalidReferencesAreUsageErrors(_ text: String) {
        #expect(usageError { try RegistryReference(text) } != nil, "\(text)")
    }

    @Test func aWordWithoutSlashOrColonIsALocalName() {
        #expect(!RegistryReference.looksLikeReference("debian-patch"))
        #expect(RegistryReference.looksLikeReference("registry.example/x"))
        #expect(RegistryReference.looksLikeReference("localhost:5000"))
    }
}
