import Foundation

/// The ansible.cfg beside a playbook, which ansible.playbook uses (as
/// ansible would in that folder): its roles and collections paths are part
/// of what the playbook does.
struct AnsibleConfig {
    let file: URL
    /// roles_path and collections_path(s) of [defaults] that lie outside
    /// the playbook's folder (what is inside is in the step's key already),
    /// absolute: a relative one is taken from the file's folder, as ansible
    /// takes it.
    let outsidePaths: [String]

    init?(besidePlaybook playbook: String) {
        let folder = URL(fileURLWithPath: playbook).deletingLastPathComponent()
        file = folder.appendingPathComponent("ansible.cfg")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        var section = "", paths: [String] = []
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") { section = line; continue }
            guard section == "[defaults]", let equals = line.firstIndex(of: "=") ?? line.firstIndex(of: ":") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard ["roles_path", "collections_path", "collections_paths"].contains(key) else { continue }
            paths += line[line.index(after: equals)...].split(separator: ":").map { item in
                let path = NSString(string: item.trimmingCharacters(in: .whitespaces)).expandingTildeInPath
                return URL(fileURLWithPath: path, relativeTo: folder).standardizedFileURL.path
            }
        }
        outsidePaths = paths.filter { !$0.hasPrefix(folder.standardizedFileURL.path + "/") }
    }
}
