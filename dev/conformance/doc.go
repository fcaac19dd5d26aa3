// Package conformance checks Switchboard's development emulators against the
// official Azure JavaScript SDKs from npm: each test starts an emulator, runs
// a Node script that drives it through the SDK, and asserts on the script's
// JSON output and on the emulator's state.
package conformance
