// Package funchost is a development stand-in for the Azure Functions host
// running a custom handler: it reads host.json and function.json, starts the
// handler as the host does (FUNCTIONS_CUSTOMHANDLER_PORT, working directory,
// GET / readiness), forwards HTTP functions with enableForwardingHttpRequest,
// checks function keys, sends Data/Metadata envelopes to non-HTTP functions,
// serves the Event Grid webhook (validation handshakes, per-event fan-out)
// and fires timers. End-to-end tests and `make run` drive the handler
// through it, because Core Tools cannot be installed here.
//
// Behaviour follows Azure/azure-functions-host (DefaultHttpWorkerService,
// ScriptInvocationContextExtensions, HttpWorkerProcess) and the Event Grid
// extension (HttpRequestProcessor, EventGridExtensionConfigProvider).
package funchost
