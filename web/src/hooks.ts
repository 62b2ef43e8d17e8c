import { useCallback, useEffect, useRef, useState } from 'react';
import type { ApiClient, EventType } from './api';

/** The state of one request that a page loads and reloads. */
export interface Loaded<T> {
  data: T | undefined;
  error: Error | null;
  loading: boolean;
  /** Loads again; `quiet` keeps the current data on screen without a spinner. */
  reload(options?: { quiet?: boolean }): void;
}

/**
 * Runs `load` now and whenever `key` changes. An answer that arrives after a newer request was
 * started is dropped, so a slow old answer never overwrites a newer one.
 */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const latest = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback((quiet: boolean) => {
    const request = ++latest.current;
    if (!quiet) setLoading(true);
    loadRef.current().then(
      (value) => {
        if (request !== latest.current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (failure: unknown) => {
        if (request !== latest.current) return;
        setError(failure instanceof Error ? failure : new Error(String(failure)));
        setLoading(false);
      },
    );
  }, []);

  useEffect(() => run(false), [key, run]);
  const reload = useCallback((options: { quiet?: boolean } = {}) => run(options.quiet ?? false), [run]);
  return { data, error, loading, reload };
}

/** The event catalog, loaded once per client. */
const catalogs = new WeakMap<ApiClient, Promise<EventType[]>>();

export function useEventTypes(api: ApiClient): Loaded<EventType[]> {
  return useLoad(() => {
    let catalog = catalogs.get(api);
    if (!catalog) {
      catalog = api.eventTypes();
      catalogs.set(api, catalog);
      catalog.catch(() => catalogs.delete(api));
    }
    return catalog;
  }, 'event-types');
}

/** Whether the page is on screen (not in a background tab or a minimised window). */
export function usePageVisible(): boolean {
  const [visible, setVisible] = useState(() => document.visibilityState === 'visible');
  useEffect(() => {
    const onChange = () => setVisible(document.visibilityState === 'visible');
    document.addEventListener('visibilitychange', onChange);
    return () => document.removeEventListener('visibilitychange', onChange);
  }, []);
  return visible;
}

/** Calls `callback` every `ms` milliseconds while `enabled`. */
export function useInterval(callback: () => void, ms: number, enabled: boolean): void {
  const saved = useRef(callback);
  saved.current = callback;
  useEffect(() => {
    if (!enabled) return;
    const timer = window.setInterval(() => saved.current(), ms);
    return () => window.clearInterval(timer);
  }, [ms, enabled]);
}

/** `value`, once it has stayed the same for `ms` milliseconds. */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setSettled(value), ms);
    return () => window.clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** The viewport is phone-sized. */
export function useNarrow(maxWidth = 640): boolean {
  const query = `(max-width: ${maxWidth}px)`;
  const [narrow, setNarrow] = useState(() => window.matchMedia(query).matches);
  useEffect(() => {
    const list = window.matchMedia(query);
    const onChange = () => setNarrow(list.matches);
    list.addEventListener('change', onChange);
    return () => list.removeEventListener('change', onChange);
  }, [query]);
  return narrow;
}
