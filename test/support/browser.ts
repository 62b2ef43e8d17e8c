import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { waitUntil, type WaitUntilOptions } from './wait.js';

/**
 * Browser tests drive the system Chromium (Debian's `chromium` package) through playwright-core,
 * so no browser is downloaded. HERALD_CHROMIUM points at another binary.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHROMIUM_PATH = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots of every screen the console tests visit; gitignored, kept after the run. */
export const SCREENSHOT_DIR = path.join(ROOT, 'test-artifacts', 'screenshots');
const CONSOLE_INDEX = path.join(ROOT, 'web', 'dist', 'index.html');

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: install Debian's chromium package or set HERALD_CHROMIUM`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  });
}

export interface Viewport {
  width: number;
  height: number;
}

/**
 * A page in a context of its own, so pages never share storage (the console keeps its token in
 * sessionStorage). Closing the browser closes it too.
 */
export async function newPage(browser: Browser, viewport: Viewport = { width: 1280, height: 800 }): Promise<Page> {
  const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'UTC' });
  return context.newPage();
}

export interface ScreenshotOptions {
  /**
   * An element that may reach below the window, such as a tall modal (which scrolls inside its
   * own fixed layer, so a full-page capture would cut it): the window grows to hold it for the
   * capture and then gets its size back.
   */
  fit?: Locator;
}

/** Saves the whole page as test-artifacts/screenshots/<name>.png and returns the file's path. */
export async function screenshot(page: Page, name: string, options: ScreenshotOptions = {}): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  const viewport = page.viewportSize();
  const bottom = options.fit ? await options.fit.evaluate(layoutBottom) : 0;
  const grow = viewport !== null && bottom > viewport.height;
  if (grow) await page.setViewportSize({ width: viewport.width, height: Math.ceil(bottom) + 32 });
  try {
    await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
  } finally {
    if (grow) await page.setViewportSize(viewport);
  }
  return file;
}

/**
 * Where an element ends, in the page's layout: an element still scaled by an opening animation
 * reports a smaller box than it will have, so the offsets count as well.
 */
function layoutBottom(element: Element): number {
  let top = 0;
  for (let node = element as HTMLElement | null; node; node = node.offsetParent as HTMLElement | null) top += node.offsetTop;
  return Math.max(element.getBoundingClientRect().bottom, top + (element as HTMLElement).offsetHeight);
}

/**
 * Checks a radio button or checkbox of a controlled (React) form: its new state shows once the
 * form renders again, which on a loaded machine can be after Playwright's own `check()` looks
 * and gives up ("Clicking the checkbox did not change its state"). This waits for it instead.
 */
export async function checkControlled(input: Locator): Promise<void> {
  if (await input.isChecked()) return;
  await input.click();
  await eventually(async () => {
    if (!(await input.isChecked())) throw new Error('the input is not checked yet');
  });
}

/**
 * Retries `assertion` until it stops throwing (or returns without throwing), for checks that
 * have no auto-waiting locator form; the last failure is reported on timeout.
 */
export async function eventually(assertion: () => unknown, options: WaitUntilOptions = {}): Promise<void> {
  await waitUntil(
    async () => {
      await assertion();
      return true;
    },
    { timeoutMs: 15_000, intervalMs: 50, ...options },
  );
}

/**
 * Waits until a dialog is open and done zooming in. Playwright clicks once an element stops
 * moving, but on a busy machine it could find a button still for two frames at the very start
 * of the zoom and then click where that button no longer was: the click missed, and the dialog
 * stayed open.
 */
export async function waitForDialog(dialog: Locator): Promise<void> {
  await dialog.waitFor();
  await eventually(async () => {
    const classes = (await dialog.getAttribute('class')) ?? '';
    if (/\bant-zoom/.test(classes)) throw new Error(`the dialog is still opening: ${classes}`);
  });
}

/** Builds the console (`npm run build:web`) unless web/dist already holds a build. */
export function ensureConsoleBuilt(): void {
  if (existsSync(CONSOLE_INDEX)) return;
  execFileSync('npm', ['run', 'build:web'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
  if (!existsSync(CONSOLE_INDEX)) throw new Error(`npm run build:web finished without ${CONSOLE_INDEX}`);
}
