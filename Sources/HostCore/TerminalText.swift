/// What host prints in its own words may quote what others wrote (a step
/// name typed on the command line, a plugin's summary, a guest's error
/// line): control bytes in it are shown, never obeyed, so no quoted text
/// can move the cursor, retitle the terminal or hide a line. Tab and
/// newline stay. A step's own output (exec's) is not host's words and is
/// left alone.
public enum TerminalText {
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if !isControl(scalar) {
                result.unicodeScalars.append(scalar)
            } else if scalar == "\u{1B}" {
                result += "\\e"
            } else {
                result += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
            }
        }
        return result
    }

    /// C0 but tab and newline, DEL, and C1.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\t" && scalar != "\n") || (0x7F...0x9F).contains(scalar.value)
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
