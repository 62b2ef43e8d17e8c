import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Creates a fresh, uniquely named directory under the OS temp folder. */
export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Removes a directory tree; a directory that is already gone is not an error. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
