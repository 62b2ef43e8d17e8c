// Builds the web console (web/) into web/dist with Vite, when the build is missing or older than
// its sources; `--force` builds in any case. `npm start` and `npm test` run this first, so a fresh
// checkout serves the console without a separate step.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const web = path.join(root, 'web');
const builtPage = path.join(web, 'dist', 'index.html');
const sources = [path.join(web, 'src'), path.join(web, 'index.html'), path.join(web, 'vite.config.ts'), path.join(root, 'package-lock.json')];

/** The newest modification time among the files under `entry`. */
function newestChange(entry) {
  if (!existsSync(entry)) return 0;
  const stats = statSync(entry);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(entry).reduce((newest, name) => Math.max(newest, newestChange(path.join(entry, name))), stats.mtimeMs);
}

const force = process.argv.includes('--force');
const builtAt = existsSync(builtPage) ? statSync(builtPage).mtimeMs : 0;
const sourcesAt = Math.max(...sources.map(newestChange));
if (!force && builtAt > sourcesAt) {
  console.log('web console: web/dist is up to date');
  process.exit(0);
}

let vite;
try {
  vite = await import('vite');
} catch {
  console.error('web console: Vite is not installed (run `npm install`); Herald will start without the console');
  // Starting Herald without its console beats not starting it; `npm run build:web` says why.
  process.exit(force ? 1 : 0);
}

console.log(`web console: building web/dist (${builtAt === 0 ? 'no build yet' : force ? 'forced' : 'sources changed'})`);
const started = Date.now();
await vite.build({ configFile: path.join(web, 'vite.config.ts'), logLevel: 'warn' });
console.log(`web console: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
