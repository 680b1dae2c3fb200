#!/usr/bin/env node
// Runs the e2e scenarios against real harness processes in headless Debian Chromium.
// Builds dist/ first if it is missing. Prints `e2e: N passed, N failed, N skipped`.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from './browser.mjs';
import { distDir, harnessBin, root } from './server.mjs';
import { tests } from './tests.mjs';

if (!existsSync(join(distDir, 'index.html'))) execSync('npx vite build', { cwd: root, stdio: 'inherit' });
console.log(`e2e: harness=${harnessBin}`);

const only = process.env.E2E_ONLY;
let passed = 0;
let failed = 0;
let skipped = 0;
let browser;
try {
  browser = await launch();
} catch (err) {
  console.error(`e2e: cannot start Chromium: ${err.message}`);
  console.log(`e2e: 0 passed, ${tests.length} failed, 0 skipped`);
  process.exit(1);
}
for (const t of tests) {
  if (only && !t.name.includes(only)) continue;
  if (t.skip) {
    skipped++;
    console.log(`- SKIP ${t.name}\n    ${t.skip}`);
    continue;
  }
  const started = Date.now();
  // A scenario may find at run time that the server lacks what it needs; it then says so.
  let skippedWhy = null;
  const skip = (why) => {
    skippedWhy = why;
  };
  try {
    await t.run({ browser, skip });
    if (skippedWhy) {
      skipped++;
      console.log(`- SKIP ${t.name}\n    SKIPPED LOUDLY: ${skippedWhy}`);
      continue;
    }
    passed++;
    console.log(`✓ ${t.name} (${Date.now() - started} ms)`);
  } catch (err) {
    failed++;
    console.log(`✗ ${t.name} (${Date.now() - started} ms)\n${String(err.stack ?? err).replace(/^/gm, '    ')}`);
  }
}
await browser.close();
console.log(`e2e: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
