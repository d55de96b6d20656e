// Builds the console when it should be, so `npm install` (prepare), `npm run build` and `npm start` need no extra step.
// package.json only loads this file when it exists: a Docker layer that copied package.json alone must still install.
//   prepare, build: build the console from its sources (skipped, with a line, when console/index.html is absent).
//   start:          build it only when no build is there yet.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..', '..');
const mode = process.argv[2] === 'start' ? 'start' : (process.env.npm_lifecycle_event ?? 'build');
const sources = path.join(root, 'console', 'index.html');
const built = path.join(root, 'dist', 'console-app', 'index.html');

if (!fs.existsSync(sources)) {
  console.log('console/index.html is not here: skipping the console build');
} else if (mode !== 'start' || !fs.existsSync(built)) {
  const result = spawnSync('npm', ['run', 'build:console'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
