// PluginSupport: what host's own plugins share beyond the SDK (PluginKit):
// the shared package cache, SSH commands and host keys, files through a
// shell, private and runtime directories, output draining, sizes and
// version numbers. It is host's, not a plugin author's: scripts/setup does
// not install it, and it may change with any release.
