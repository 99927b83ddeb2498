import FoundationEssentials

/// The OCI image format's JSON as host writes and reads it (image-spec:
/// descriptors, the image manifest, the layout's index). Values only; the
/// layout directory on disk is HostCore's (OCILayout).
package enum OCIImage {
    package struct Descriptor: Codable, Equatable, Sendable {
        package let mediaType: String
        package let digest: String
        package let size: Int64
        package var annotations: [String: String]?

        package init(mediaType: String, digest: String, size: Int64, annotations: [String: String]? = nil) {
            self.mediaType = mediaType
            self.digest = digest
            self.size = size
            self.annotations = annotations
        }
    }

    package struct ImageManifest: Codable, Sendable {
        package var schemaVersion = 2
        package var mediaType = OCIImage.manifestType
        package var artifactType: String?
        package let config: Descriptor
        package let layers: [Descriptor]
        package var annotations: [String: String]?

        package init(artifactType: String? = nil, config: Descriptor, layers: [Descriptor], annotations: [String: String]? = nil) {
            self.artifactType = artifactType
            self.config = config
            self.layers = layers
            self.annotations = annotations
        }
    }

    /// A layout's index.json: the images it holds.
    package struct Index: Codable, Sendable {
        package var schemaVersion = 2
        package let manifests: [Descriptor]

        package init(manifests: [Descriptor]) { self.manifests = manifests }
    }

    package static let manifestType = "application/vnd.oci.image.manifest.v1+json"
    /// The annotation OCI layouts name an image by.
    package static let refName = "org.opencontainers.image.ref.name"

    /// How host encodes what it pushes: sorted keys, so one machine always
    /// gives the same bytes, and the same digest.
    package static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
