// Trains a network that nnc compiled, with onnxruntime-node and nothing of nnc: everything it
// needs is in manifest.json (see runtime/manifest.py for the format).
//
//   nnc compile specs/digits-mlp.yaml -o out --with-data
//   npm install                       # onnxruntime-node, here
//   node train.js out [--steps K] [--epochs E] [--json FILE]
//
// It loads the initial parameters (initial.bin) and zero optimizer state, then runs train_step.onnx
// on mini-batches of the training split: each step feeds a batch, `step`, `lr`, fresh dropout
// samples, and every carried tensor, and takes the `<name>.next` outputs back as the next step's
// inputs. At the end it evaluates the test split with eval.onnx and writes the trained parameters
// to trained.bin (the layout of initial.bin).
//
// Batches and dropout samples come from the seeded generator below (mulberry32), so a run is
// reproducible: each epoch shuffles the training split (Fisher-Yates, when training.shuffle),
// then every step draws its dropout samples, in the order of manifest.random_inputs.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const ARRAYS = { float32: Float32Array, float64: Float64Array, int64: BigInt64Array };

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 8) / 16777216; // 24 bits: exact in float32, below 1
  };
}

function readTensor(dir, file, dtype, shape, offset = 0) {
  const Array_ = ARRAYS[dtype];
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = fs.readFileSync(path.join(dir, file));
  const data = new Array_(count); // copied: a Buffer may start at an unaligned offset
  new Uint8Array(data.buffer).set(bytes.subarray(offset, offset + count * Array_.BYTES_PER_ELEMENT));
  return new ort.Tensor(dtype, data, shape);
}

function rows(tensor, index) {
  // the rows `index` of a [n, ...] tensor, as a new tensor
  const per = tensor.dims.slice(1).reduce((a, b) => a * b, 1);
  const out = new tensor.data.constructor(index.length * per);
  index.forEach((r, i) => out.set(tensor.data.subarray(r * per, (r + 1) * per), i * per));
  return new ort.Tensor(tensor.type, out, [index.length, ...tensor.dims.slice(1)]);
}

function parseArgs(argv) {
  const args = { dir: null, steps: Infinity, epochs: null, json: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--steps') args.steps = Number(argv[++i]);
    else if (argv[i] === '--epochs') args.epochs = Number(argv[++i]);
    else if (argv[i] === '--json') args.json = argv[++i];
    else args.dir = argv[i];
  }
  if (!args.dir) throw new Error('usage: node train.js DIR [--steps K] [--epochs E] [--json FILE]');
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const dir = args.dir;
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  if (!manifest.data) throw new Error(`${dir} has no data: compile with nnc compile --with-data`);
  const graphs = manifest.graphs;
  const session = await ort.InferenceSession.create(path.join(dir, graphs.train_step.file));

  // the carried tensors: parameters from initial.bin, optimizer state at zero
  const state = {};
  const init = manifest.initial_values;
  for (const p of manifest.parameters) {
    state[p.name] = readTensor(dir, init.file, p.dtype, p.shape, p.offset);
  }
  for (const [name, s] of Object.entries(manifest.optimizer.state)) {
    const count = s.shape.reduce((a, b) => a * b, 1);
    state[name] = new ort.Tensor(s.dtype, new ARRAYS[s.dtype](count), s.shape);
  }
  const carried = Object.entries(manifest.carried.train_step); // [output, input]
  const rate = manifest.step_inputs.lr;
  const lr = new ort.Tensor(rate.dtype, ARRAYS[rate.dtype].from([rate.value]), []);

  const train = manifest.data.train;
  const x = readTensor(dir, train.x.file, train.x.dtype, train.x.shape, train.x.offset);
  const y = readTensor(dir, train.y.file, train.y.dtype, train.y.shape, train.y.offset);
  const n = train.samples;
  const { batch_size: batchSize, shuffle, seed } = manifest.training;
  const epochs = args.epochs ?? manifest.training.epochs;
  const random = mulberry32(seed);
  const inputs = new Set(session.inputNames);

  const losses = [];
  let step = 0;
  for (let epoch = 0; epoch < epochs && step < args.steps; epoch++) {
    const order = Array.from({ length: n }, (_, i) => i);
    if (shuffle) {
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    let sum = 0;
    let seen = 0;
    for (let a = 0; a < n && step < args.steps; a += batchSize, step++) {
      const index = order.slice(a, a + batchSize);
      const feeds = { x: rows(x, index), y: rows(y, index), lr };
      feeds.step = new ort.Tensor('int64', BigInt64Array.from([BigInt(step)]), []);
      for (const [name, r] of Object.entries(manifest.random_inputs)) {
        const shape = [index.length, ...r.per_sample_shape];
        const values = new ARRAYS[r.dtype](shape.reduce((p, q) => p * q, 1));
        for (let i = 0; i < values.length; i++) values[i] = random(); // uniform [0, 1)
        feeds[name] = new ort.Tensor(r.dtype, values, shape);
      }
      for (const [, input] of carried) feeds[input] = state[input];
      const out = await session.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => inputs.has(k))));
      for (const [output, input] of carried) state[input] = out[output];
      const loss = Number(out.loss.data[0]);
      losses.push(loss);
      sum += loss * index.length;
      seen += index.length;
    }
    console.log(`epoch ${epoch + 1}: loss ${(sum / seen).toFixed(4)} (${step} steps)`);
  }

  // the test split through the eval graph (dropout off, batch norm in inference mode)
  const report = { losses, steps: step };
  const test = manifest.data.test;
  if (test && graphs.eval) {
    const evalSession = await ort.InferenceSession.create(path.join(dir, graphs.eval.file));
    const feeds = {
      x: readTensor(dir, test.x.file, test.x.dtype, test.x.shape, test.x.offset),
      y: readTensor(dir, test.y.file, test.y.dtype, test.y.shape, test.y.offset),
    };
    for (const name of evalSession.inputNames) if (state[name]) feeds[name] = state[name];
    const out = await evalSession.run(feeds);
    report.test = Object.fromEntries(evalSession.outputNames.map((k) => [k, Number(out[k].data[0])]));
    console.log('test: ' + Object.entries(report.test).map(([k, v]) => `${k} ${v.toFixed(4)}`).join('  '));
  }

  // the trained parameters, in the layout of initial.bin
  const parts = manifest.parameters.map((p) => {
    const d = state[p.name].data;
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  });
  fs.writeFileSync(path.join(dir, 'trained.bin'), Buffer.concat(parts));
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(report));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
