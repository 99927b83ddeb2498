import PluginABI

/// host's command words, read from the one table in host_plugin.h
/// (HOST_COMMAND_WORDS): `host WORD ...` means the command, so the command
/// dispatcher, shell completion and the plugin scanner (which refuses a
/// pipeline-starting step of that name) all ask here. Words of commands
/// still to come are reserved now, so that no plugin takes one first.
public enum CommandWords {
    public static let all: [String] = {
        var words: [String] = []
        // host_command_words() ends its static array with NULL.
        let table = host_command_words()
        while let word = table?[words.count] { words.append(String(cString: word)) }
        return words
    }()

    public static func contains(_ word: String) -> Bool { all.contains(word) }
}
