import Foundation
import HostModel

/// A host path parameter's word made absolute (from the working directory)
/// and digested, before any work: a missing path is a usage error. The
/// binder (HostModel) calls it through CatalogStep.resolvePath; reading
/// what the path names is why it is here.
extension StepInfo {
    package func resolvePath(_ text: String, for parameter: ParameterInfo) throws -> ArgumentValue {
        let path = URL(fileURLWithPath: text).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw HostError.usage("\(name): --\(parameter.name)=\(text): there is no such file or directory (\(path)); give the path of one on this computer, absolute or from the current folder")
        }
        do {
            return .path(path, digest: try PathDigests.shared.digest(of: path, folder: parameter.withFolder))
        } catch let error as HostError where error.kind == .usage {
            throw HostError.usage("\(name): --\(parameter.name)=\(text): \(error.message)")
        }
    }
}
