// Trains an nnc-compiled network in the browser with onnxruntime-web (the global `ort` of
// ort/ort.min.js), from the files `nnc web` wrote next to this script; see runtime/web/__init__.py.
//
// The loop is the one manifest.json describes: parameters from initial.bin, optimizer state at
// zero; each step feeds a mini-batch, `step`, `lr`, fresh dropout samples and every carried
// tensor, and takes the `<name>.next` outputs back. Batches and dropout samples come from a
// seeded generator (mulberry32, seed training.seed): each epoch shuffles the training split
// (Fisher-Yates, when training.shuffle), then each step draws its dropout samples in the order of
// manifest.random_inputs. examples/train-in-node runs the same loop in node.
//
// Query parameters: ep=wasm|webgpu (default: webgpu where the browser has an adapter, else wasm),
// threads=N (wasm threads; default 1 unless the page is cross-origin isolated), steps=K (stop
// after K steps), epochs=E, autostart=1. window.nnc exposes the run to scripts (and tests).
'use strict';

(function () {
  const query = new URLSearchParams(location.search);
  const ARRAYS = { float32: Float32Array, float64: Float64Array, int64: BigInt64Array };
  const $ = (id) => document.getElementById(id);
  const run = {
    ready: false,
    running: false,
    done: false,
    error: null,
    backend: null,
    steps: 0,
    losses: [],
    metrics: {},
    validation: [],
  };
  window.nnc = run;

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

  async function fetchBytes(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }

  function tensor(bytes, dtype, shape, offset = 0) {
    const Array_ = ARRAYS[dtype];
    const count = shape.reduce((a, b) => a * b, 1);
    const data = new Array_(count); // a copy, aligned for its element type
    new Uint8Array(data.buffer).set(bytes.subarray(offset, offset + count * Array_.BYTES_PER_ELEMENT));
    return new ort.Tensor(dtype, data, shape);
  }

  function rows(t, index) {
    const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
    const out = new t.data.constructor(index.length * per);
    index.forEach((r, i) => out.set(t.data.subarray(r * per, (r + 1) * per), i * per));
    return new ort.Tensor(t.type, out, [index.length, ...t.dims.slice(1)]);
  }

  async function chooseBackend() {
    const wanted = query.get('ep');
    if (wanted) return wanted;
    if (navigator.gpu) {
      try {
        if (await navigator.gpu.requestAdapter()) return 'webgpu';
      } catch (e) {
        console.warn('WebGPU adapter request failed', e);
      }
    }
    return 'wasm';
  }

  async function createSession(bytes) {
    try {
      return await ort.InferenceSession.create(bytes, { executionProviders: [run.backend] });
    } catch (e) {
      if (run.backend === 'wasm') throw e;
      console.warn(`${run.backend} failed, falling back to wasm`, e);
      run.backend = 'wasm';
      return ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    }
  }

  // -- the chart ---------------------------------------------------------------------------------
  function draw(canvas, title, lines, dots) {
    const ctx = canvas.getContext('2d');
    const w = canvas.width;
    const h = canvas.height;
    const pad = 40;
    ctx.clearRect(0, 0, w, h);
    const all = [...lines.flatMap((l) => l.points), ...dots.flatMap((d) => d.points)];
    ctx.fillStyle = '#222';
    ctx.font = '14px system-ui, sans-serif';
    ctx.fillText(title, pad, 18);
    if (!all.length) return;
    const xs = all.map((p) => p[0]);
    const ys = all.map((p) => p[1]).filter(Number.isFinite);
    const x0 = Math.min(...xs);
    const x1 = Math.max(...xs, x0 + 1);
    let y0 = Math.min(...ys);
    let y1 = Math.max(...ys);
    if (y1 - y0 < 1e-12) [y0, y1] = [y0 - 0.5, y1 + 0.5];
    const px = (x) => pad + ((x - x0) / (x1 - x0)) * (w - 2 * pad);
    const py = (y) => h - pad + ((y0 - y) / (y1 - y0)) * (h - 2 * pad);
    ctx.strokeStyle = '#ccc';
    ctx.strokeRect(pad, pad, w - 2 * pad, h - 2 * pad);
    ctx.fillStyle = '#666';
    ctx.fillText(y1.toPrecision(3), 2, pad + 4);
    ctx.fillText(y0.toPrecision(3), 2, h - pad);
    ctx.fillText(`step ${x1}`, w - pad - 60, h - pad + 16);
    for (const line of lines) {
      ctx.strokeStyle = line.color;
      ctx.beginPath();
      line.points.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
      ctx.stroke();
    }
    for (const d of dots) {
      ctx.fillStyle = d.color;
      for (const [x, y] of d.points) {
        ctx.beginPath();
        ctx.arc(px(x), py(y), 4, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }

  function redraw() {
    const trainLine = (values) => [{ color: '#1f77b4', points: values.map((v, i) => [i + 1, v]) }];
    const val = (key) => [{ color: '#d62728', points: run.validation.map((v) => [v.step, v[key]]) }];
    draw($('loss'), 'loss (train: line, validation: dots)', trainLine(run.losses), val('loss'));
    const metric = Object.keys(run.metrics)[0];
    if (metric) {
      draw($('metric'), `${metric} (train: line, validation: dots)`, trainLine(run.metrics[metric]), val(metric));
    }
  }

  // -- training ----------------------------------------------------------------------------------
  async function load() {
    const manifest = JSON.parse(new TextDecoder().decode(await fetchBytes('manifest.json')));
    const g = manifest.graphs;
    run.manifest = manifest;
    run.backend = await chooseBackend();
    ort.env.wasm.wasmPaths = new URL('ort/', location.href).href;
    ort.env.wasm.numThreads = Number(query.get('threads')) || (self.crossOriginIsolated ? 0 : 1);
    const [step, evalGraph, template, initial] = await Promise.all(
      [g.train_step.file, g.eval.file, manifest.model_template.file, manifest.initial_values.file].map(fetchBytes),
    );
    run.session = await createSession(step);
    run.evalSession = await createSession(evalGraph);
    run.template = template;
    run.state = {};
    for (const p of manifest.parameters) run.state[p.name] = tensor(initial, p.dtype, p.shape, p.offset);
    for (const [name, s] of Object.entries(manifest.optimizer.state)) {
      run.state[name] = new ort.Tensor(s.dtype, new ARRAYS[s.dtype](s.shape.reduce((a, b) => a * b, 1)), s.shape);
    }
    run.data = {};
    for (const [part, split] of Object.entries(manifest.data)) {
      run.data[part] = {};
      for (const key of ['x', 'y']) {
        const t = split[key];
        run.data[part][key] = tensor(await fetchBytes(t.file), t.dtype, t.shape, t.offset);
      }
    }
    run.random = mulberry32(manifest.training.seed);
    run.epoch = 0;
    const lr = manifest.step_inputs.lr;
    run.lr = new ort.Tensor(lr.dtype, ARRAYS[lr.dtype].from([lr.value]), []);
    $('title').textContent = `nnc: ${manifest.spec}`;
    const pre = manifest.preprocess || {};
    $('about').textContent = `${pre.description || ''}; ${manifest.parameters.length} parameter tensors, ` +
      `optimizer ${manifest.optimizer.type}, batch size ${manifest.training.batch_size}; starts from ${manifest.initial_values.start}`;
    $('epochs').value = query.get('epochs') || manifest.training.epochs;
    $('backend').textContent = `onnxruntime-web ${ort.env.versions ? ort.env.versions.web || '' : ''} on ${run.backend}`;
    run.ready = true;
  }

  async function validate() {
    const split = run.data.validation;
    if (!split) return;
    const feeds = { x: split.x, y: split.y };
    for (const name of run.evalSession.inputNames) if (run.state[name]) feeds[name] = run.state[name];
    const out = await run.evalSession.run(feeds);
    const row = { step: run.steps };
    for (const k of run.evalSession.outputNames) row[k.replace(/^metric\./, '')] = Number(out[k].data[0]);
    run.validation.push(row);
  }

  async function train(epochs, maxSteps = Infinity) {
    const m = run.manifest;
    const { x, y } = run.data.train;
    const n = x.dims[0];
    const { batch_size: batchSize, shuffle } = m.training;
    const carried = Object.entries(m.carried.train_step);
    const inputs = new Set(run.session.inputNames);
    run.running = true;
    run.stopRequested = false;
    const started = performance.now();
    let painted = 0;
    for (let e = 0; e < epochs && run.steps < maxSteps && !run.stopRequested; e++, run.epoch++) {
      const order = Array.from({ length: n }, (_, i) => i);
      if (shuffle) {
        for (let i = n - 1; i > 0; i--) {
          const j = Math.floor(run.random() * (i + 1));
          [order[i], order[j]] = [order[j], order[i]];
        }
      }
      for (let a = 0; a < n && run.steps < maxSteps && !run.stopRequested; a += batchSize) {
        const index = order.slice(a, a + batchSize);
        const feeds = { x: rows(x, index), y: rows(y, index), lr: run.lr };
        feeds.step = new ort.Tensor('int64', BigInt64Array.from([BigInt(run.steps)]), []);
        for (const [name, r] of Object.entries(m.random_inputs)) {
          const shape = [index.length, ...r.per_sample_shape];
          const values = new ARRAYS[r.dtype](shape.reduce((p, q) => p * q, 1));
          for (let i = 0; i < values.length; i++) values[i] = run.random();
          feeds[name] = new ort.Tensor(r.dtype, values, shape);
        }
        for (const [, input] of carried) feeds[input] = run.state[input];
        const out = await run.session.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => inputs.has(k))));
        for (const [output, input] of carried) run.state[input] = out[output];
        run.losses.push(Number(out.loss.data[0]));
        for (const k of Object.keys(out)) {
          if (k.startsWith('metric.')) (run.metrics[k.slice(7)] ||= []).push(Number(out[k].data[0]));
        }
        run.steps++;
        if (performance.now() - painted > 100) {
          painted = performance.now();
          const ms = (painted - started) / run.steps;
          $('status').textContent = `epoch ${run.epoch + 1}, step ${run.steps}: loss ${run.losses.at(-1).toFixed(4)} (${ms.toFixed(1)} ms/step)`;
          redraw();
          await new Promise((r) => setTimeout(r, 0)); // let the page paint
        }
      }
      await validate();
    }
    run.running = false;
    const last = run.validation.at(-1);
    $('status').textContent = `done: ${run.steps} steps, loss ${run.losses.at(-1).toFixed(4)}` +
      (last ? `; validation ${Object.entries(last).filter(([k]) => k !== 'step').map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}` : '');
    redraw();
  }

  // the trained model: model.onnx with the current parameters written over the initial ones
  function modelBytes() {
    const bytes = new Uint8Array(run.template);
    for (const [name, offset] of Object.entries(run.manifest.model_template.offsets)) {
      const d = run.state[name].data;
      bytes.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), offset);
    }
    return bytes;
  }
  run.modelBytes = modelBytes;

  function download() {
    const url = URL.createObjectURL(new Blob([modelBytes()], { type: 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'model.onnx';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function fail(e) {
    run.error = String(e && e.stack ? e.stack : e);
    run.running = false;
    $('error').textContent = run.error;
  }

  async function start() {
    $('train').disabled = true;
    $('stop').disabled = false;
    try {
      await train(Number($('epochs').value), Number(query.get('steps')) || Infinity);
      run.done = true;
    } catch (e) {
      fail(e);
    }
    $('stop').disabled = true;
    $('train').disabled = false;
    $('download').disabled = false;
  }

  $('train').addEventListener('click', start);
  $('stop').addEventListener('click', () => (run.stopRequested = true));
  $('download').addEventListener('click', download);
  load()
    .then(() => {
      $('train').disabled = false;
      $('download').disabled = false;
      redraw();
      if (query.get('autostart')) start();
    })
    .catch(fail);
})();
