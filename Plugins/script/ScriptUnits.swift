import Foundation
import PluginKit

/// One unit of a script as script.debug runs it: a top-level command as the
/// shell would read it (a function definition, an `if` or a loop is one
/// unit), with the comments and blank lines before it.
struct ScriptUnit: Equatable {
    /// The unit's lines, each ending in "\n".
    let text: String
    /// 1-based lines of the script it spans, comments before it included.
    let firstLine: Int
    let lastLine: Int

    /// The line a person would name the command by, its first that is not
    /// blank or a comment, and its number.
    var command: String { commandLine?.text ?? "" }
    var line: Int { commandLine?.number ?? firstLine }

    private var commandLine: (number: Int, text: String)? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.indices.first { index in
            let line = lines[index].trimmingCharacters(in: .whitespaces)
            return !line.isEmpty && !line.hasPrefix("#")
        }.map { (firstLine + $0, String(lines[$0])) }
    }
}

/// A script split into units, and the shell that runs it.
struct ScriptUnits {
    let shell: String
    let units: [ScriptUnit]

    /// Splits `text` where the shell would: a unit ends at the first line
    /// end where everything since the last unit parses as complete
    /// (`bash -n`, which also reports here-documents cut short). A script
    /// with a syntax error is refused before anything runs.
    init(_ text: String, path: String) throws {
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        shell = Self.shell(of: lines.first ?? "")
        var units: [ScriptUnit] = []
        var start = 0
        for index in lines.indices {
            let chunk = lines[start...index].map { $0 + "\n" }.joined()
            guard !Self.continues(lines[index]), try Self.parses(chunk) else { continue }
            let unit = ScriptUnit(text: chunk, firstLine: start + 1, lastLine: index + 1)
            start = index + 1
            if unit.command.isEmpty {
                // Comments and blank lines go with the command after them
                // (the one before them at the end).
                if index + 1 < lines.count {
                    start = unit.firstLine - 1
                } else if let last = units.popLast() {
                    units.append(ScriptUnit(text: last.text + unit.text, firstLine: last.firstLine, lastLine: unit.lastLine))
                }
                continue
            }
            units.append(unit)
        }
        if start < lines.count {
            let problem = try Self.syntaxError(lines[start...].map { $0 + "\n" }.joined(), offset: start)
            throw StepError.usage("\(path) has a syntax error, so nothing was run: \(problem)")
        }
        self.units = units
    }

    /// bash for a script whose #! line names bash, else sh (as the guest
    /// has it: dash on Debian, busybox's ash on busybox).
    private static func shell(of firstLine: String) -> String {
        firstLine.hasPrefix("#!") && firstLine.contains("bash") ? "bash" : "sh"
    }

    /// A line ending in an odd number of backslashes goes on on the next.
    private static func continues(_ line: String) -> Bool {
        line.reversed().prefix { $0 == "\\" }.count % 2 == 1
    }

    private static func check(_ text: String) throws -> (complete: Bool, message: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("host-script-unit-\(getpid()).sh")
        try Data(text.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let (ending, output) = try HostTool.capture("bash", ["-n", file.path], package: "bash")
        // bash only warns (status 0) about a here-document cut short.
        return (ending == .exited(0) && output.isEmpty, output)
    }

    private static func parses(_ text: String) throws -> Bool { try check(text).complete }

    /// bash's message for `text`, its line numbers made the script's.
    private static func syntaxError(_ text: String, offset: Int) throws -> String {
        let message = try check(text).message
        let lineNumber = try Regex(#"line (\d+):"#)
        let renumbered = message.replacing(lineNumber) { match in
            "line \((Int(match.output[1].substring ?? "") ?? 0) + offset):"
        }
        return renumbered.split(separator: "\n").map { line in
            line.split(separator: ":", maxSplits: 1).last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? String(line)
        }.joined(separator: "; ")
    }
}
