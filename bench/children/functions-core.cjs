// A stand-in for `@azure/functions-core`, the module the Azure Functions Node.js worker
// provides to the app at run time (it is never installed). @azure/functions registers
// every function with it; this one keeps the handlers so that a bench child can invoke
// them as the worker would. Installed by the bench into a temporary NODE_PATH folder.
const handlers = (globalThis.__keyturnBenchHandlers ??= new Map());
module.exports = {
  registerFunction(metadata, handler) {
    handlers.set(metadata.name, handler);
    return { dispose() {} };
  },
  setProgrammingModel() {},
  getProgrammingModel() {
    return undefined;
  },
  registerHook() {
    return { dispose() {} };
  },
};
