#!/usr/bin/env node
// predict.js: load an nnc checkpoint (or any TensorFlow.js layers-model
// directory) with TensorFlow.js and print its predictions.
//
//   node predict.js CHECKPOINT_DIR INPUT.csv|- [INPUT2.csv ...]
//
// Reads CHECKPOINT_DIR/model.json and the weight files its weightsManifest
// names (paths relative to the directory), builds the model with
// tf.loadLayersModel(tf.io.fromMemory(...)) exactly as tfjs's own file and
// http loaders assemble the artifacts (strict: every weight must match), then
// predicts: one INPUT file per model input, in model.inputs order, each
// numbers, no header, one sample per row, each row reshaped to that input's
// shape (its None dimensions take the one length that fits a row). Prints one CSV row per sample: the flattened outputs, in
// model.outputs order, each value as C's printf("%.9g").
// Any problem: one line "predict.js: ..." on stderr and exit status 1
// (2 for bad usage).
'use strict';

const fs = require('fs');
const path = require('path');

function die(msg, status = 1) {
    process.stderr.write(`predict.js: ${String(msg).replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(status);
}

// C printf("%.9g") for a JS number. JS's toExponential rounds exact ties
// away from zero and C rounds them to even, which float32 values hit often
// (451050.5625), so ties are detected on a longer exact expansion.
function fmtG9(v) {
    const P = 9;
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v < 0 ? '-inf' : 'inf';
    const sign = v < 0 || Object.is(v, -0) ? '-' : '';
    const a = Math.abs(v);
    if (a === 0) return sign + '0';
    let [m, x] = a.toExponential(P - 1).split('e');
    let digits = m.replace('.', '');
    let X = parseInt(x, 10);
    const [lm, lx] = a.toExponential(P - 1 + 40).split('e');
    const long = lm.replace('.', '');
    if (/^50*$/.test(long.slice(P))) {           // exact tie: round half to even
        let d = BigInt(long.slice(0, P));
        if (d % 2n === 1n) d += 1n;
        digits = d.toString();
        X = parseInt(lx, 10);
        if (digits.length > P) { digits = digits.slice(0, P); X += 1; }
    }
    let out;
    if (X < -4 || X >= P) {
        const frac = digits.slice(1).replace(/0+$/, '');
        const ax = Math.abs(X);
        out = digits[0] + (frac ? '.' + frac : '') + 'e' + (X < 0 ? '-' : '+') + (ax < 10 ? '0' : '') + ax;
    } else if (X >= 0) {
        const frac = digits.slice(X + 1).replace(/0+$/, '');
        out = digits.slice(0, X + 1) + (frac ? '.' + frac : '');
    } else {
        out = ('0.' + '0'.repeat(-X - 1) + digits).replace(/0+$/, '');
    }
    return sign + out;
}

// tfjs on Node greets the user (suggesting tfjs-node) on the CPU backend's
// first tensor; trigger that here with console output muted.
async function loadTf() {
    const { warn, log } = console;
    console.warn = console.log = () => {};
    try {
        const tf = require('@tensorflow/tfjs');
        await tf.setBackend('cpu');
        tf.tensor([0]).dispose();
        return tf;
    } catch (e) {
        die(`cannot load @tensorflow/tfjs (run npm install in ${__dirname}): ${e.message}`);
    } finally {
        console.warn = warn; console.log = log;
    }
}

const BYTES = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function readJSON(file) {
    let text;
    try { text = fs.readFileSync(file, 'utf8'); } catch (e) { die(`${file}: ${e.message}`); }
    try { return JSON.parse(text); } catch (e) { die(`${file}: not valid JSON: ${e.message}`); }
}

// Concatenate every group's files, in manifest order; check sizes.
function readWeights(dir, jsonFile, manifest) {
    if (!Array.isArray(manifest)) die(`${jsonFile}: weightsManifest is not a list`);
    const specs = [];
    const bufs = [];
    manifest.forEach((group, gi) => {
        if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights))
            die(`${jsonFile}: weightsManifest[${gi}] needs "paths" and "weights" lists`);
        let have = 0;
        for (const p of group.paths) {
            if (typeof p !== 'string') die(`${jsonFile}: weightsManifest[${gi}].paths: not a string`);
            const f = path.join(dir, p);
            let b;
            try { b = fs.readFileSync(f); } catch (e) { die(`${f}: ${e.message}`); }
            bufs.push(b);
            have += b.length;
        }
        let want = 0;
        for (const w of group.weights) {
            if (!w || typeof w.name !== 'string' || !Array.isArray(w.shape))
                die(`${jsonFile}: weightsManifest[${gi}]: weight without name or shape`);
            const dt = w.quantization ? w.quantization.dtype : w.dtype;
            if (!(dt in BYTES)) die(`${jsonFile}: weight '${w.name}': unsupported dtype '${dt}'`);
            const n = w.shape.reduce((a, d) => {
                if (!Number.isInteger(d) || d < 0) die(`${jsonFile}: weight '${w.name}': bad shape [${w.shape}]`);
                return a * d;
            }, 1);
            want += n * BYTES[dt];
            specs.push(w);
        }
        if (have !== want)
            die(`${path.join(dir, group.paths.join('+'))}: ${have} bytes, but weightsManifest[${gi}] describes ${want}`);
    });
    const all = Buffer.concat(bufs);
    // A standalone ArrayBuffer holding exactly these bytes.
    const data = all.buffer.slice(all.byteOffset, all.byteOffset + all.length);
    return [specs, data];
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

// Parse the numeric CSV: rows of equal width, no header.
function readRows(file) {
    let text;
    try { text = fs.readFileSync(file === '-' ? 0 : file, 'utf8'); } catch (e) { die(`${file}: ${e.message}`); }
    const name = file === '-' ? '<stdin>' : file;
    const rows = [];
    let width = -1;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i].replace(/\r$/, '');
        if (line.trim() === '') {
            if (lines.slice(i).every(l => l.replace(/\r$/, '').trim() === '')) break;
            die(`${name}:${i + 1}: empty line`);
        }
        const fields = line.split(',');
        if (width < 0) width = fields.length;
        else if (fields.length !== width)
            die(`${name}:${i + 1}: expected ${width} fields, found ${fields.length}`);
        rows.push(fields.map((f, j) => {
            const t = f.trim();
            const v = Number(t);
            if (!NUMBER.test(t) || !Number.isFinite(v)) die(`${name}:${i + 1}:${j + 1}: '${f}' is not a number`);
            return v;
        }));
    }
    if (rows.length === 0) die(`${name}: no rows`);
    return rows;
}

async function main() {
    const args = process.argv.slice(2);
    if (args.length < 2)
        die('usage: node predict.js CHECKPOINT_DIR INPUT.csv|- [INPUT2.csv ...]', 2);
    const [dir, ...inputs] = args;

    const tf = await loadTf();

    const jsonFile = path.join(dir, 'model.json');
    const modelJSON = readJSON(jsonFile);
    if (modelJSON === null || typeof modelJSON !== 'object' || Array.isArray(modelJSON))
        die(`${jsonFile}: not a JSON object`);
    if (modelJSON.format !== undefined && modelJSON.format !== 'layers-model')
        die(`${jsonFile}: format is '${modelJSON.format}', not 'layers-model'`);
    if (modelJSON.modelTopology == null) die(`${jsonFile}: no modelTopology`);
    let specs, data;
    if (modelJSON.weightsManifest != null)
        [specs, data] = readWeights(dir, jsonFile, modelJSON.weightsManifest);

    let model;
    try {
        const artifacts = tf.io.getModelArtifactsForJSONSync(modelJSON, specs, data);
        model = await tf.loadLayersModel(tf.io.fromMemory(artifacts), { strict: true });
    } catch (e) {
        die(`${jsonFile}: TensorFlow.js cannot load it: ${e.message}`);
    }
    if (model.inputs.length !== inputs.length)
        die(`${jsonFile}: the model has ${model.inputs.length} inputs; give one file for each`);

    let n = -1;
    const xs = model.inputs.map((inp, k) => {
        const rows = readRows(inputs[k]);
        // None dimensions (null) take the one length L that makes a row fit,
        // as nnc builds such a model: fixed * L^free values a row.
        const free = inp.shape.slice(1).filter(d => d == null).length;
        const fixed = inp.shape.slice(1).reduce((a, d) => (d == null ? a : a * d), 1);
        let len = 0;
        if (free > 0 && rows[0].length % fixed === 0) {
            const l = Math.round(Math.pow(rows[0].length / fixed, 1 / free));
            if (Math.pow(l, free) * fixed === rows[0].length) len = l;
        }
        const shape = inp.shape.slice(1).map(d => (d == null ? len : d));
        if (free > 0 && !len)
            die(`${inputs[k]}: rows of ${rows[0].length} values fit the input shape [${inp.shape}] for no length`);
        const perRow = shape.reduce((a, d) => a * d, 1);
        if (rows[0].length !== perRow)
            die(`${inputs[k]}: rows have ${rows[0].length} values, but the model input (${shape}) needs ${perRow}`);
        if (n >= 0 && rows.length !== n) die(`${inputs[k]}: ${rows.length} rows, but ${inputs[0]} has ${n}`);
        n = rows.length;
        return tf.tensor(rows.flat(), [rows.length, ...shape], inp.dtype || 'float32');
    });
    let y;
    try { y = model.predict(xs.length === 1 ? xs[0] : xs); } catch (e) { die(`predict failed: ${e.message}`); }
    const outs = Array.isArray(y) ? y : [y];
    const vals = outs.map(t => ({ data: t.dataSync(), per: t.size / n }));
    const lines = [];
    for (let i = 0; i < n; i++) {
        const cells = [];
        for (const o of vals)
            for (let k = 0; k < o.per; k++) cells.push(fmtG9(o.data[i * o.per + k]));
        lines.push(cells.join(','));
    }
    process.stdout.write(lines.join('\n') + '\n');
}

if (require.main === module) {
    main().catch(e => die(e && e.message ? e.message : String(e)));
}
module.exports = { fmtG9, loadTf };
