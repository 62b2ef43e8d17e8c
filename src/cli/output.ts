/**
 * How the commands print: JSON for scripts (stdout, exactly what Herald answered), aligned
 * columns and plain lines for people, and a progress bar on stderr that appears only on a
 * terminal, so piped output and logs never fill with carriage returns.
 */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** A note for people that is not the command's result (warnings, what to do next): stderr. */
export function printNote(text: string): void {
  process.stderr.write(`${text}\n`);
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Longer cells are cut with an ellipsis, so one long URL does not push every row apart. */
  maxWidth?: number;
}

/** Rows as aligned columns under a header line; the last column is not padded. */
export function formatTable<T>(columns: Column<T>[], rows: T[]): string {
  const cells = rows.map((row) => columns.map((column) => cut(column.value(row), column.maxWidth)));
  const widths = columns.map((column, index) => Math.max(column.header.length, ...cells.map((line) => line[index].length)));
  const render = (line: string[]) =>
    line
      .map((cell, index) => (index === line.length - 1 ? cell : cell.padEnd(widths[index])))
      .join('  ')
      .trimEnd();
  return [render(columns.map((column) => column.header)), ...cells.map(render)].join('\n');
}

export function printTable<T>(columns: Column<T>[], rows: T[]): void {
  printLine(formatTable(columns, rows));
}

function cut(text: string, maxWidth: number | undefined): string {
  if (maxWidth === undefined || text.length <= maxWidth) return text;
  return `${text.slice(0, maxWidth - 1)}…`;
}

/** `1 event`, `3 events`; `many` for irregular plurals (`batches`, `deliveries`). */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** An ISO time as `2026-01-31 12:00:05Z`: shorter than ISO, still unambiguous (UTC). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

export interface ProgressState {
  done: number;
  total: number;
  elapsedMs: number;
  /** Characters of the bar itself. */
  width?: number;
}

/** One line of progress: `label [#####.....] 1000/2500 40% 1523/s`. Pure, for the tests. */
export function renderProgress(label: string, state: ProgressState): string {
  const width = state.width ?? 30;
  const ratio = state.total > 0 ? Math.min(1, state.done / state.total) : 1;
  const filled = Math.round(ratio * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  const seconds = state.elapsedMs / 1000;
  const rate = seconds > 0 && state.done > 0 ? `${Math.round(state.done / seconds)}/s` : '-/s';
  return `${label} [${bar}] ${state.done}/${state.total} ${Math.floor(ratio * 100)}% ${rate}`;
}

/** Fewer redraws than updates: a fast loop would otherwise spend its time repainting. */
const REDRAW_INTERVAL_MS = 100;

/**
 * A progress bar on stderr. {@link ProgressBar.start} returns one that draws only when stderr is
 * a terminal; otherwise every call is a no-op, so callers never branch on it.
 */
export class ProgressBar {
  #done = 0;
  #lastDrawn = 0;
  readonly #startedAt: number;

  private constructor(
    readonly label: string,
    readonly total: number,
    private readonly stream: NodeJS.WriteStream | null,
    private readonly clock: () => number,
  ) {
    this.#startedAt = clock();
    this.#draw(true);
  }

  static start(label: string, total: number, stream: NodeJS.WriteStream = process.stderr, clock = Date.now): ProgressBar {
    return new ProgressBar(label, total, stream.isTTY ? stream : null, clock);
  }

  /** Sets how many are done (not how many more). */
  update(done: number): void {
    this.#done = done;
    this.#draw(done >= this.total);
  }

  /** Leaves the final state on its own line, so what follows starts on a fresh one. */
  finish(): void {
    this.#draw(true);
    this.stream?.write('\n');
  }

  #draw(force: boolean): void {
    if (!this.stream) return;
    const now = this.clock();
    if (!force && now - this.#lastDrawn < REDRAW_INTERVAL_MS) return;
    this.#lastDrawn = now;
    const line = renderProgress(this.label, { done: this.#done, total: this.total, elapsedMs: now - this.#startedAt });
    // \r and "erase line" redraw in place; the line is cut to the terminal so it never wraps.
    this.stream.write(`\r\x1b[2K${line.slice(0, Math.max(10, (this.stream.columns || 80) - 1))}`);
  }
}
