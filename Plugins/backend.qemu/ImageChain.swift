import CQcow
import Foundation

/// Reads qcow2 headers with libqcow to prove a saved disk is what its config
/// says: every image present and readable, each backed by exactly the next.
enum ImageChain {
    /// nil when `images[0]` is backed by `images[1]`, and so on down to a
    /// base image with no backing file; else what is wrong.
    static func problem(_ images: [String]) -> String? {
        for (index, image) in images.enumerated() {
            guard FileManager.default.fileExists(atPath: image) else { return "image \(image) is missing" }
            let expected = index + 1 < images.count ? images[index + 1] : nil
            switch backingFile(of: image) {
            case let .failure(error): return "image \(image) is damaged: \(error)"
            case let .success(backing) where backing != expected:
                return "image \(image) is backed by \(backing ?? "nothing") instead of \(expected ?? "nothing")"
            case .success: continue
            }
        }
        return nil
    }

    struct ReadError: Error, CustomStringConvertible { let description: String }

    /// The disk size `path` gives its guest, read from its header; nil when unreadable.
    static func virtualSize(of path: String) -> UInt64? {
        var file: UnsafeMutablePointer<libqcow_file_t>?
        guard libqcow_file_initialize(&file, nil) == 1 else { return nil }
        defer { libqcow_file_free(&file, nil) }
        guard libqcow_file_open(file, path, Int32(LIBQCOW_ACCESS_FLAG_READ.rawValue), nil) == 1 else { return nil }
        defer { libqcow_file_close(file, nil) }
        var size: size64_t = 0
        return libqcow_file_get_media_size(file, &size, nil) == 1 ? UInt64(size) : nil
    }

    static func backingFile(of path: String) -> Result<String?, ReadError> {
        var file: UnsafeMutablePointer<libqcow_file_t>?
        var error: UnsafeMutablePointer<libqcow_error_t>?
        func failure(_ what: String) -> Result<String?, ReadError> {
            var text = [CChar](repeating: 0, count: 512)
            if error != nil { libqcow_error_sprint(error, &text, text.count) }
            libqcow_error_free(&error)
            let reason = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return .failure(ReadError(description: "\(what): \(reason.trimmingCharacters(in: .whitespacesAndNewlines))"))
        }
        guard libqcow_file_initialize(&file, &error) == 1 else { return failure("libqcow could not start") }
        defer { libqcow_file_free(&file, nil) }
        guard libqcow_file_open(file, path, Int32(LIBQCOW_ACCESS_FLAG_READ.rawValue), &error) == 1 else {
            return failure("not a readable qcow2 image")
        }
        defer { libqcow_file_close(file, nil) }
        var size = 0
        switch libqcow_file_get_utf8_backing_filename_size(file, &size, &error) {
        case 0: return .success(nil)
        case 1 where size > 0:
            var name = [UInt8](repeating: 0, count: size)
            guard libqcow_file_get_utf8_backing_filename(file, &name, size, &error) == 1 else {
                return failure("unreadable backing file name")
            }
            return .success(String(decoding: name.prefix { $0 != 0 }, as: UTF8.self))
        case 1: return .success(nil)
        default: return failure("unreadable header")
        }
    }
}
