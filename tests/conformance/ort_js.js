// Runs an ONNX model on onnxruntime-node (CPU) or onnxruntime-web (wasm) for nnc's conformance
// suite, driven by tests/conformance/runners.py.
//
//   node ort_js.js node|web DIR
//
// DIR holds model.onnx and request.json; tensors are raw little-endian files described by
// {"file", "dtype", "shape"}. request.json is one of
//   {"mode": "run", "outputs": [...], "feeds": {name: tensor}}
//   {"mode": "train", "outputs": [...], "carried": [names], "steps": K, "step_input": "step"|null,
//    "constants": {name: tensor}, "batches": [{name: tensor}]}
// In train mode step k feeds the constants, batches[k % batches.length], the int64 scalar `step`
// = k, and every carried tensor X, which starts as constants[X] and then takes the output
// "X.next" of the step before. The loop runs here, in one process, with one session.
// The answer, DIR/result.json: {"outputs": {name: tensor}, "losses": [...], "seconds": s}, with
// the last step's outputs in train mode.
'use strict';

const fs = require('fs');
const path = require('path');

const ARRAYS = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

function loadTensor(ort, dir, ref) {
  const bytes = fs.readFileSync(path.join(dir, ref.file));
  const Array_ = ARRAYS[ref.dtype];
  if (!Array_) throw new Error(`unsupported dtype ${ref.dtype}`);
  // copy into a fresh, aligned buffer: a Buffer may start at any offset of a shared pool
  const data = new Array_(bytes.byteLength / Array_.BYTES_PER_ELEMENT);
  new Uint8Array(data.buffer).set(bytes);
  return new ort.Tensor(ref.dtype, data, ref.shape);
}

function saveTensor(dir, name, tensor, index) {
  const file = `out${index}.bin`;
  const d = tensor.data;
  fs.writeFileSync(path.join(dir, file), Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  return { file, dtype: tensor.type, shape: Array.from(tensor.dims, Number) };
}

function loadAll(ort, dir, refs) {
  const out = {};
  for (const [name, ref] of Object.entries(refs || {})) out[name] = loadTensor(ort, dir, ref);
  return out;
}

function scalar(tensor) {
  return Number(tensor.data[0]);
}

async function main() {
  const [backend, dir] = process.argv.slice(2);
  if (!['node', 'web'].includes(backend) || !dir) {
    throw new Error('usage: node ort_js.js node|web DIR');
  }
  const ort = require(`onnxruntime-${backend}`);
  const options = { graphOptimizationLevel: 'all' };
  if (backend === 'web') {
    ort.env.wasm.numThreads = 1; // no worker threads: deterministic, and fits a 2-core machine
    options.executionProviders = ['wasm'];
  } else {
    options.executionProviders = ['cpu'];
  }
  const request = JSON.parse(fs.readFileSync(path.join(dir, 'request.json'), 'utf8'));
  const model = fs.readFileSync(path.join(dir, 'model.onnx'));
  const session = await ort.InferenceSession.create(model, options);
  const known = new Set(session.inputNames);
  const pick = (feeds) => Object.fromEntries(Object.entries(feeds).filter(([k]) => known.has(k)));
  const started = process.hrtime.bigint();
  let outputs;
  const losses = [];
  if (request.mode === 'run') {
    outputs = await session.run(pick(loadAll(ort, dir, request.feeds)), request.outputs);
  } else if (request.mode === 'train') {
    const state = loadAll(ort, dir, request.constants);
    const batches = request.batches.map((b) => loadAll(ort, dir, b));
    for (let k = 0; k < request.steps; k++) {
      const feeds = { ...state, ...batches[k % batches.length] };
      if (request.step_input) {
        feeds[request.step_input] = new ort.Tensor('int64', BigInt64Array.from([BigInt(k)]), []);
      }
      outputs = await session.run(pick(feeds), request.outputs);
      losses.push(scalar(outputs.loss));
      for (const name of request.carried) state[name] = outputs[`${name}.next`];
    }
  } else {
    throw new Error(`unknown mode ${request.mode}`);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const saved = {};
  Object.entries(outputs || {}).forEach(([name, t], i) => {
    saved[name] = saveTensor(dir, name, t, i);
  });
  const result = { outputs: saved, losses, seconds };
  fs.writeFileSync(path.join(dir, 'result.json'), JSON.stringify(result));
  if (backend === 'web') process.exit(0); // the wasm runtime may keep the event loop alive
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
