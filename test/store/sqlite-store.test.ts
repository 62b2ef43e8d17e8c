import { makeTempDir, removeDir } from '../support/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { storeContract } from './store-contract.js';

const folders: string[] = [];

storeContract('sqlite', {
  async open() {
    const dir = makeTempDir('herald-store-');
    folders.push(dir);
    return SqliteStore.open(dir);
  },
  async cleanUp() {
    for (const dir of folders.splice(0)) removeDir(dir);
  },
});
