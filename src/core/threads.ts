import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The source of a worker thread's entry (for `new Worker(source, { eval: true })`): `name`, a
 * module beside `moduleUrl`, compiled as .js, or under tsx the .ts source. A thread does not
 * inherit the TypeScript loader the process was started with, so under tsx it registers it.
 */
export function threadEntrySource(moduleUrl: string, name: string): string {
  const extension = path.extname(fileURLToPath(moduleUrl));
  const entry = new URL(`./${name}${extension}`, moduleUrl).href;
  if (extension !== '.ts') return `import(${JSON.stringify(entry)})`;
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
}
