#!/usr/bin/env node
'use strict';
// Runs the compiled CLI when `npm run build` has produced it, otherwise the TypeScript sources
// through tsx, so `npx palyra` works in a fresh clone without a build step.
const fs = require('node:fs');
const path = require('node:path');

const compiled = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (fs.existsSync(compiled)) {
  require(compiled);
} else {
  require('tsx/cjs');
  require(path.join(__dirname, '..', 'src', 'cli', 'main.ts'));
}
