import Foundation
import HostModel

/// An OCI image layout directory (`oci-layout`, `index.json`,
/// `blobs/sha256/`), the form in which skopeo takes a machine to a registry
/// and brings it back. host writes and reads it; skopeo moves it. Its JSON
/// is HostModel's (OCIImage).
struct OCILayout {
    let directory: URL

    typealias Descriptor = OCIImage.Descriptor
    typealias ImageManifest = OCIImage.ImageManifest

    var blobs: URL { directory.appendingPathComponent("blobs/sha256") }

    func blob(_ digest: String) -> URL { blobs.appendingPathComponent(String(digest.dropFirst("sha256:".count))) }

    /// An empty layout.
    static func create(at directory: URL) throws -> OCILayout {
        let layout = OCILayout(directory: directory)
        try FileManager.default.createDirectory(at: layout.blobs, withIntermediateDirectories: true)
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: directory.appendingPathComponent("oci-layout"))
        return layout
    }

    /// Stores `data` as a blob.
    func add(_ data: Data, mediaType: String, annotations: [String: String]? = nil) throws -> Descriptor {
        let digest = "sha256:" + Digest.of(data)
        try data.write(to: blob(digest))
        return Descriptor(mediaType: mediaType, digest: digest, size: Int64(data.count), annotations: annotations)
    }

    /// Moves a finished file in as a blob, named by its digest.
    func adopt(_ file: URL, mediaType: String, annotations: [String: String]) throws -> Descriptor {
        let digest = "sha256:" + (try Digest.ofFile(file.path))
        let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.int64Value ?? 0
        let target = blob(digest)
        if FileManager.default.fileExists(atPath: target.path) { try FileManager.default.removeItem(at: target) }
        try FileManager.default.moveItem(at: file, to: target)
        return Descriptor(mediaType: mediaType, digest: digest, size: size, annotations: annotations)
    }

    /// Writes `manifest` and makes it the layout's one image, named `name`.
    func publish(_ manifest: ImageManifest, name: String) throws {
        let encoder = OCIImage.encoder
        let descriptor = try add(try encoder.encode(manifest), mediaType: OCIImage.manifestType, annotations: [OCIImage.refName: name])
        try encoder.encode(OCIImage.Index(manifests: [descriptor])).write(to: directory.appendingPathComponent("index.json"))
    }

    /// The one image skopeo wrote here: its manifest's digest and the manifest.
    func image() throws -> (digest: String, manifest: ImageManifest) {
        let index = try JSONDecoder().decode(OCIImage.Index.self, from: Data(contentsOf: directory.appendingPathComponent("index.json")))
        guard let descriptor = index.manifests.first else { throw HostError(.damagedData, "the pulled image layout names no manifest") }
        let data = try Data(contentsOf: blob(descriptor.digest))
        guard "sha256:" + Digest.of(data) == descriptor.digest else {
            throw HostError(.damagedData, "the pulled manifest does not match its digest \(descriptor.digest)")
        }
        return (descriptor.digest, try JSONDecoder().decode(ImageManifest.self, from: data))
    }

    /// A blob's bytes, checked against its digest.
    func verifiedData(_ descriptor: Descriptor) throws -> Data {
        let data = try Data(contentsOf: blob(descriptor.digest))
        guard "sha256:" + Digest.of(data) == descriptor.digest else {
            throw HostError(.damagedData, "blob \(descriptor.digest) does not match its digest")
        }
        return data
    }
}
