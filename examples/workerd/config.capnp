# workerd configuration: one Worker (worker.js) with the one-file build, the compiled kernels and the model.
#   npm run build && npx workerd serve examples/workerd/config.capnp
#   curl -X POST localhost:8787/predict -d '{"bytes": [ ...784 values 0..255... ]}'
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "splitee", worker = .spliteeWorker)],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "splitee")],
);

const spliteeWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "classify.js", esModule = embed "../shared/classify.js"),
    (name = "splitee.js", esModule = embed "../../dist/splitee.browser.js"),
    (name = "splitee.wasm", wasm = embed "../../dist/splitee.wasm"),
    (name = "model.spx", data = embed "../../models/fmnist-cnn/fmnist-cnn.spx"),
  ],
  compatibilityDate = "2025-01-01",
);
