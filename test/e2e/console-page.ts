import type { Locator, Page } from 'playwright-core';

/**
 * Page helpers for the console's browser tests. Locators go through roles and labels; Ant
 * Design's class names are used only where a role does not single an element out (a card, a
 * select's dropdown).
 */

export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Herald token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
}

export const webhookRow = (page: Page, url: string) => page.getByRole('row').filter({ hasText: url });

export const historyCard = (page: Page) =>
  page.locator('.ant-card').filter({ has: page.getByText('Event history', { exact: true }) });

export const settingsCard = (page: Page) => page.locator('.ant-card').filter({ has: page.getByText('Settings', { exact: true }) });

/** The line the history card keeps about the last operation (test event, resend). */
export const historyNotice = (page: Page) => historyCard(page).locator('.operation-notice');

/** Rows of a table (those with a cell), each as column title → cell text. */
export async function readTable(scope: Locator, rowFilter: Locator): Promise<Record<string, string>[]> {
  const headers = (await scope.getByRole('columnheader').allInnerTexts()).map((title) => title.trim());
  const rows = await scope.getByRole('row').filter({ has: rowFilter }).all();
  return Promise.all(
    rows.map(async (row) => {
      const cells = (await row.getByRole('cell').allInnerTexts()).map((text) => text.trim());
      return Object.fromEntries(headers.map((title, index) => [title, cells[index] ?? '']));
    }),
  );
}

export async function historyRows(page: Page): Promise<Record<string, string>[]> {
  return readTable(historyCard(page), page.getByRole('button', { name: 'View request' }));
}

/** How far the page scrolls sideways, in pixels (0 when it fits the window). */
export async function sidewaysOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/** A date as a `datetime-local` field takes it, in the browser's time zone (the tests run in UTC). */
export function localInputValue(date: Date): string {
  return date.toISOString().slice(0, 16);
}
