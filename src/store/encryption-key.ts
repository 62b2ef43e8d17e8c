import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError, parseEncryptionKey, type HeraldConfig } from '../config.js';
import { SECRET_KEY_BYTES, SecretBox } from '../core/secret-box.js';

export const KEY_FILE_NAME = 'encryption.key';

/**
 * The SecretBox of this installation: the key from HERALD_ENCRYPTION_KEY, or else the key file
 * in the data folder, created on the first start. The key file stays beside the SQLite file on
 * purpose: a copy of the database alone (a backup, a stolen disk image of another volume) does
 * not reveal the secrets. Several processes on PostgreSQL must share HERALD_ENCRYPTION_KEY.
 */
export function loadSecretBox(config: Pick<HeraldConfig, 'encryptionKey' | 'dataDir'>): SecretBox {
  if (config.encryptionKey) return new SecretBox(config.encryptionKey, 'HERALD_ENCRYPTION_KEY');
  const file = path.join(config.dataDir, KEY_FILE_NAME);
  return new SecretBox(readOrCreateKeyFile(file), file);
}

function readOrCreateKeyFile(file: string): Buffer {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  if (!fs.existsSync(file)) createKeyFile(file);
  return readKeyFile(file);
}

/**
 * Written to a private temporary file and linked into place: processes starting together on
 * one folder all end up with the one key that won, and none reads a half-written file.
 */
function createKeyFile(file: string): void {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(temporary, `${randomBytes(SECRET_KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    fs.linkSync(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

function readKeyFile(file: string): Buffer {
  const { mode } = fs.statSync(file);
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      `${file} is readable or writable by other users (mode ${(mode & 0o777).toString(8)}); ` +
        `it holds the key of the webhook secrets: run "chmod 600 ${file}"`,
    );
  }
  const key = parseEncryptionKey(fs.readFileSync(file, 'utf8'));
  if (!key) throw new ConfigError(`${file} does not hold a 32-byte key (base64 or 64 hex digits)`);
  return key;
}
