// A stand-in for `@azure/functions-core`, the module the Azure Functions Node.js worker
// provides to the app at run time (it is never installed). @azure/functions registers
// its programming model and every function with it; this one keeps them so that a bench
// child can invoke a function as the worker does. Installed by the bench into a
// temporary NODE_PATH folder.
const handlers = (globalThis.__keyturnBenchHandlers ??= new Map());
module.exports = {
  registerFunction(metadata, handler) {
    handlers.set(metadata.name, { metadata, handler });
    return { dispose() {} };
  },
  setProgrammingModel(model) {
    globalThis.__keyturnBenchProgrammingModel = model;
  },
  getProgrammingModel() {
    return globalThis.__keyturnBenchProgrammingModel;
  },
  registerHook() {
    return { dispose() {} };
  },
};
